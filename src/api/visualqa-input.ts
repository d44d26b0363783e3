import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import { readJsonImageBody } from './json-image-stream.ts';

/**
 * Parsing of POST /v1/visualqa bodies: JSON `{image, question, temperature?}` where `image` is base64
 * or an RFC 2397 data URL, or multipart/form-data (RFC 7578) with the file in any file field. The
 * `image` string is only ever decoded as base64: it is never opened as a path or fetched as a URL.
 */
export interface VisualQaInput {
  /** The first image (the legacy single `image`). */
  bytes: Buffer;
  /** Every image posted, in order: `image` first, then `images` (or every multipart file). */
  files: Buffer[];
  question: string;
  temperature?: number;
}

/** Most images one request may carry; the study keeps STUDY_MAX_IMAGES of them and names the rest. */
export const MAX_FILES_PER_REQUEST = 64;

const bodySchema = z.object({
  image: z.string().min(1).optional(),
  images: z.array(z.string().min(1)).min(1).max(MAX_FILES_PER_REQUEST).optional(),
  question: z.string().trim().min(1).max(2000),
  temperature: z.number().min(0).max(2).optional(),
});

/** The body once its image strings are decoded (the `image` string became its bytes). */
const streamedBodySchema = bodySchema.extend({
  image: z.instanceof(Buffer).optional(),
  images: z.array(z.instanceof(Buffer)).min(1).max(MAX_FILES_PER_REQUEST).optional(),
});

const badRequest = (message: string) =>
  new AppError('USAGE', `visualqa: ${message}`, { userMessage: message });

/** Strings that name a file or a URL rather than carrying bytes (JPEG base64 starts "/9j/", so shape matters). */
const pathOrUrl = /^(?:[a-z][a-z0-9+.-]*:(?!base64)|\.{0,2}\/[\w.-]+\/|~\/|[A-Za-z]:\\)/i;

/** Decode `image`: a data URL or plain base64 (standard or URL-safe alphabet, padding optional). */
export function decodeImageField(image: string): Buffer {
  let payload = image.trim();
  const dataUrl = /^data:([\w.+-]+\/[\w.+-]+)?((?:;[\w-]+=[\w.-]+)*);base64,/i.exec(payload);
  if (dataUrl) payload = payload.slice(dataUrl[0].length);
  else if (payload.length < 4096 && pathOrUrl.test(payload) && !/[+=]/.test(payload)) {
    throw badRequest(
      '"image" looks like a file path or URL. The API never reads server files or fetches URLs: send the image bytes as base64 or a data URL, or upload it as multipart/form-data.',
    );
  }
  const compact = payload.replace(/\s+/g, '');
  if (compact.length === 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw badRequest('"image" must be base64 or a data URL (data:image/png;base64,…).');
  }
  const bytes = Buffer.from(compact.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.byteLength < 8) throw badRequest('"image" decodes to too few bytes to be an image.');
  return bytes;
}

function tooLarge(maxBytes: number): AppError {
  const mb = Math.round(maxBytes / (1024 * 1024));
  return new AppError('INPUT_TOO_LARGE', `visualqa body over ${maxBytes} bytes`, {
    userMessage: `The request body is larger than ${mb} MB, the most this API accepts (MAX_UPLOAD_MB).`,
  });
}

export async function parseJsonBody(req: IncomingMessage, maxFileBytes: number): Promise<VisualQaInput> {
  // The image is decoded while the body streams in (json-image-stream.ts): never the whole body in memory.
  const { fields, images } = await readJsonImageBody(req, {
    imageKeys: { image: 'one', images: 'many' },
    maxImageBytes: maxFileBytes,
    // base64 is 4/3 of the bytes; leave room for the other fields.
    maxBodyBytes: Math.ceil((maxFileBytes * 4) / 3) + 64 * 1024,
    decodeShort: decodeImageField,
    tooLarge: () => tooLarge(maxFileBytes),
    badRequest,
  });
  const parsed = streamedBodySchema.safeParse({ ...fields, ...images });
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0] ?? 'body')))];
    throw badRequest(
      `Invalid request: ${fields.join(', ')}. Expected {"image": base64 or data URL, or "images": [...], "question": text, "temperature"?: 0..2}.`,
    );
  }
  const files = [...(parsed.data.image ? [parsed.data.image] : []), ...(parsed.data.images ?? [])];
  if (files.length === 0) {
    throw badRequest(
      'Invalid request: image. Expected {"image": base64 or data URL, or "images": [...], "question": text, "temperature"?: 0..2}.',
    );
  }
  if (files.reduce((sum, file) => sum + file.byteLength, 0) > maxFileBytes) throw tooLarge(maxFileBytes);
  return {
    bytes: files[0]!,
    files,
    question: parsed.data.question,
    ...(parsed.data.temperature !== undefined ? { temperature: parsed.data.temperature } : {}),
  };
}

export function parseMultipartBody(req: IncomingMessage, maxFileBytes: number): Promise<VisualQaInput> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: {
          files: MAX_FILES_PER_REQUEST,
          fields: 6,
          fieldSize: 16 * 1024,
          fileSize: maxFileBytes,
          parts: MAX_FILES_PER_REQUEST + 8,
        },
      });
    } catch {
      reject(badRequest('The multipart body has no boundary.'));
      return;
    }
    const fields: Record<string, string> = {};
    // Every file part, in the order posted (a study: several views or slices).
    const files: Buffer[] = [];
    let failure: AppError | undefined;
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    let total = 0;
    parser.on('file', (_name, stream) => {
      const chunks: Buffer[] = [];
      const index = files.push(Buffer.alloc(0)) - 1;
      stream.on('data', (chunk: Buffer) => {
        total += chunk.byteLength;
        if (total > maxFileBytes) failure = tooLarge(maxFileBytes);
        else chunks.push(chunk);
      });
      stream.on('limit', () => {
        failure = tooLarge(maxFileBytes);
      });
      stream.on('end', () => {
        files[index] = Buffer.concat(chunks);
      });
    });
    parser.on('filesLimit', () => {
      failure = badRequest(`A request may carry at most ${MAX_FILES_PER_REQUEST} files.`);
    });
    parser.on('error', () => reject(badRequest('The multipart body is malformed.')));
    parser.on('close', () => {
      if (failure) return reject(failure);
      const posted = files.filter((file) => file.byteLength > 0);
      // A form may also carry the image as a base64 text field.
      if (posted.length === 0 && fields.image) {
        try {
          posted.push(decodeImageField(fields.image));
        } catch (error) {
          return reject(error);
        }
      }
      if (posted.length === 0) return reject(badRequest('The multipart body has no image file.'));
      const question = (fields.question ?? '').trim();
      if (!question || question.length > 2000) {
        return reject(badRequest('The "question" field is required (at most 2000 characters).'));
      }
      const temperature = fields.temperature === undefined ? undefined : Number(fields.temperature);
      if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) {
        return reject(badRequest('"temperature" must be a number from 0 to 2.'));
      }
      resolve({
        bytes: posted[0]!,
        files: posted,
        question,
        ...(temperature !== undefined ? { temperature } : {}),
      });
    });
    req.pipe(parser);
  });
}
