import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import parser from 'stream-json/parser.js';
import { AppError } from '../errors.ts';

/**
 * Reads a JSON request body whose image fields are large base64 strings without ever holding the
 * body or the base64 text (issue 15: bound per-request memory). stream-json tokenizes the body and
 * hands long strings over in chunks; each image string is decoded as it arrives, so a request costs
 * about its decoded image plus one chunk, and a body past the cap is refused with INPUT_TOO_LARGE the
 * moment it crosses it. Small fields are kept as plain values for the caller's schema.
 */

/** How a top-level key carries images: one base64 string, or an array of them. */
export type ImageKeyShape = 'one' | 'many';

export interface JsonImageBodyOptions {
  /** The hook for new image fields: e.g. `{ image: 'one' }`, later `{ image: 'one', images: 'many' }`. */
  imageKeys: Record<string, ImageKeyShape>;
  /** Decoded bytes one image may have. */
  maxImageBytes: number;
  /** Raw body bytes in all (base64 is 4/3 of the bytes, plus the other fields). */
  maxBodyBytes: number;
  /** Decodes a short image string with every check a whole string allows (path/URL refusals). */
  decodeShort: (text: string) => Buffer;
  tooLarge: () => AppError;
  badRequest: (message: string) => AppError;
}

export interface JsonImageBody {
  /** Other top-level values; nested objects and arrays are kept only as `{}` / `[]` (their type). */
  fields: Record<string, unknown>;
  images: Record<string, Buffer | Buffer[]>;
}

/** Image strings up to this many characters are decoded whole, with the full checks of `decodeShort`. */
const SHORT_IMAGE_CHARS = 64 * 1024;
/** A non-image string longer than this is not a question or a setting. */
const MAX_FIELD_CHARS = 16 * 1024;
/** RFC 2397 data URL prefix, as accepted by decodeImageField. */
const dataUrlPrefix = /^\s*data:([\w.+-]+\/[\w.+-]+)?((?:;[\w-]+=[\w.-]+)*);base64,/i;

type Token = { name: string; value?: unknown };

/** Base64 (standard or URL-safe, padding optional, whitespace ignored) decoded piece by piece. */
function createBase64Decoder(maxBytes: number, tooLarge: () => AppError, bad: () => AppError) {
  const parts: Buffer[] = [];
  let carry = '';
  let size = 0;
  let padded = false;
  const emit = (text: string) => {
    if (!text) return;
    const bytes = Buffer.from(text, 'base64');
    size += bytes.byteLength;
    if (size > maxBytes) throw tooLarge();
    parts.push(bytes);
  };
  return {
    write(chunk: string) {
      const compact = chunk.replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/_-]*=*$/.test(compact)) throw bad();
      const data = compact.replace(/=+$/, '');
      // Padding ends the data: anything but more padding after it is not base64.
      if (padded && data) throw bad();
      if (data.length < compact.length) padded = true;
      const text = carry + data.replace(/-/g, '+').replace(/_/g, '/');
      const whole = text.length - (text.length % 4);
      emit(text.slice(0, whole));
      carry = text.slice(whole);
    },
    end(): Buffer {
      if (carry.length === 1) throw bad();
      emit(carry);
      return Buffer.concat(parts, size);
    },
  };
}

/** One image string: short ones are decoded whole; long ones stream through the decoder. */
function createImageString(options: JsonImageBodyOptions) {
  let head = '';
  let decoder: ReturnType<typeof createBase64Decoder> | undefined;
  const bad = () => options.badRequest('"image" must be base64 or a data URL (data:image/png;base64,…).');
  return {
    write(chunk: string) {
      if (decoder) return decoder.write(chunk);
      head += chunk;
      if (head.length <= SHORT_IMAGE_CHARS) return;
      decoder = createBase64Decoder(options.maxImageBytes, options.tooLarge, bad);
      decoder.write(head.replace(dataUrlPrefix, ''));
      head = '';
    },
    /** The decoded image, asked for once the whole body proved to be JSON (its errors come first). */
    end(): () => Buffer | string {
      if (decoder) {
        const bytes = decoder.end();
        return () => bytes;
      }
      const text = head;
      // An empty string is left to the caller's schema, which names the field.
      if (!text) return () => text;
      return () => {
        const bytes = options.decodeShort(text);
        if (bytes.byteLength > options.maxImageBytes) throw options.tooLarge();
        return bytes;
      };
    },
  };
}

/** Counts raw body bytes and refuses past the cap before the parser sees them. */
function byteCap(maxBytes: number, tooLarge: () => AppError): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.byteLength;
      callback(size > maxBytes ? tooLarge() : null, chunk);
    },
  });
}

export async function readJsonImageBody(
  req: IncomingMessage,
  options: JsonImageBodyOptions,
): Promise<JsonImageBody> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > options.maxBodyBytes) throw options.tooLarge();

  const fields: Record<string, unknown> = {};
  /** Decoded images, each finished once the body has been read to its end. */
  const images: Record<string, Array<() => Buffer | string>> = {};
  const notJson = () => options.badRequest('The body is not valid JSON.');
  const cap = byteCap(options.maxBodyBytes, options.tooLarge);
  const tokens = parser.asStream({
    packKeys: true,
    streamKeys: false,
    packStrings: false,
    streamStrings: true,
    packNumbers: true,
    streamNumbers: false,
  });
  let failure: AppError | undefined;
  cap.on('error', (error) => {
    failure = error as AppError;
    tokens.destroy();
  });
  req.pipe(cap).pipe(tokens);

  let depth = 0;
  let key: string | undefined;
  /** The string being read at the top level or inside an image array, if any. */
  let image: ReturnType<typeof createImageString> | undefined;
  let text: string | undefined;
  const shape = () => (key === undefined ? undefined : options.imageKeys[key]);
  const placeText = (value: string) => {
    if (key !== undefined) fields[key] = value;
  };
  const placeImage = (value: () => Buffer | string) => {
    if (key === undefined) return;
    if (shape() === 'many') images[key]!.push(value);
    else images[key] = [value];
  };

  let started = false;
  try {
    for await (const token of tokens as AsyncIterable<Token>) {
      if (!started) {
        started = true;
        if (token.name !== 'startObject')
          throw options.badRequest(
            'Invalid request: body. Send a JSON object {"image": base64 or data URL, "question": text}.',
          );
      }
      switch (token.name) {
        case 'startObject':
        case 'startArray':
          depth += 1;
          if (depth === 2 && key !== undefined) {
            if (token.name === 'startArray' && shape() === 'many') images[key] = [];
            else fields[key] = token.name === 'startArray' ? [] : {};
          }
          break;
        case 'endObject':
        case 'endArray':
          depth -= 1;
          break;
        case 'keyValue':
          if (depth === 1) key = String(token.value);
          break;
        case 'startString': {
          const kind = shape();
          const inImages = depth === 2 && kind === 'many' && Array.isArray(images[key!]);
          if ((depth === 1 && kind === 'one') || inImages) image = createImageString(options);
          else if (depth === 1) text = '';
          break;
        }
        case 'stringChunk': {
          const chunk = String(token.value);
          if (image) image.write(chunk);
          else if (text !== undefined) {
            text += chunk;
            if (text.length > MAX_FIELD_CHARS)
              throw options.badRequest(`"${key}" is longer than ${MAX_FIELD_CHARS} characters.`);
          }
          break;
        }
        case 'endString':
          if (image) placeImage(image.end());
          else if (text !== undefined) placeText(text);
          image = undefined;
          text = undefined;
          break;
        case 'numberValue':
          if (depth === 1 && key !== undefined) fields[key] = Number(token.value);
          break;
        case 'nullValue':
        case 'trueValue':
        case 'falseValue':
          if (depth === 1 && key !== undefined) fields[key] = token.value;
          break;
      }
    }
  } catch (error) {
    if (failure) throw failure;
    if (error instanceof AppError) throw error;
    throw notJson();
  } finally {
    // Stop feeding the parser; the server drains whatever the client still sends after the answer.
    req.unpipe(cap);
    cap.unpipe(tokens);
    tokens.destroy();
  }
  if (failure) throw failure;
  if (!started || depth !== 0) throw notJson();
  const decoded: JsonImageBody['images'] = {};
  for (const [name, values] of Object.entries(images)) {
    const list = values.map((finish) => finish());
    // An empty string stays a field, so the caller's schema names it.
    if (list.some((value) => typeof value === 'string')) fields[name] = '';
    else decoded[name] = options.imageKeys[name] === 'many' ? (list as Buffer[]) : (list[0] as Buffer);
  }
  return { fields, images: decoded };
}
