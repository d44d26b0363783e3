/**
 * Compressed frame → raw little-endian samples, through maintained decoders (WASM builds of
 * libjpeg-turbo, CharLS, OpenJPEG and OpenJPH from cornerstonejs; jpeg-lossless-decoder-js; the
 * pdf.js-derived 12-bit JPEG decoder shipped by @cornerstonejs/dicom-image-loader). RLE (PS3.5
 * Annex G) is small enough to live here. WASM modules load once per thread and are cached; a module
 * that aborted is dropped so the next frame gets a fresh one.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AppError } from '../../errors.js';
import type { ImageInfo } from './image-info.js';
import { decodeRle } from './rle.js';
import type { PixelCodec } from './syntax.js';

export interface DecodedFrame {
  /** Samples as little-endian bytes, `bytesPerSample` wide. */
  bytes: Uint8Array;
  bytesPerSample: 1 | 2;
  /** Samples stored colour-by-plane rather than interleaved. */
  planar: boolean;
  /** The decoder already turned YCbCr into RGB (libjpeg for baseline JPEG, J2K's inverse MCT). */
  rgbConverted: boolean;
}

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): FrameInfo;
  decode(): void;
  getInterleaveMode?(): number;
  delete?(): void;
}
type WasmModule = Record<string, new () => WasmDecoder>;

const require = createRequire(import.meta.url);
const modules = new Map<string, Promise<WasmModule>>();

/** The two WebAssembly constructors used here (the project's lib settings carry no DOM typings for them). */
interface SyncWasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => object;
}
const wasmApi = (globalThis as unknown as { WebAssembly: SyncWasm }).WebAssembly;

/**
 * Emscripten instantiates its WebAssembly with V8's asynchronous compile, and for these codecs that
 * cost a ~200 ms stall of the calling thread right after the first decode (OpenJPEG on node 20,
 * measured in bench/ingest: the thread waits on V8's background compile jobs). Through Emscripten's
 * `instantiateWasm` hook the module is compiled synchronously instead (`new WebAssembly.Module`), a
 * few milliseconds, without touching process-wide V8 flags. The .wasm is the file beside the glue,
 * with the same name (each package's own layout); a compile error throws inside the hook, where
 * Emscripten rejects the module's promise. The hook runs while the glue is still being set up, so
 * instantiation waits one microtask for the imports to be complete; its failure rejects `failed`.
 */
function instantiateSynchronously(glue: string, fail: (error: unknown) => void) {
  return (imports: object, done: (instance: object, module: object) => void) => {
    const module = new wasmApi.Module(readFileSync(glue.replace(/\.js$/, '.wasm')));
    queueMicrotask(() => {
      try {
        done(new wasmApi.Instance(module, imports), module);
      } catch (error) {
        fail(error);
      }
    });
    return {};
  };
}

function loadWasm(specifier: string): Promise<WasmModule> {
  let loading = modules.get(specifier);
  if (!loading) {
    const glue = require.resolve(specifier);
    const factory = require(glue) as (options?: object) => Promise<WasmModule>;
    let fail: (error: unknown) => void = () => {};
    const failed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    loading = Promise.race([
      factory({
        // Emscripten prints codec chatter (OpenJPEG's "[INFO] …") to stdout, which would corrupt --json.
        print: () => {},
        printErr: () => {},
        instantiateWasm: instantiateSynchronously(glue, fail),
      }),
      failed,
    ]);
    modules.set(specifier, loading);
    loading.catch(() => modules.delete(specifier));
  }
  return loading;
}

const wasmCodecs: Partial<Record<PixelCodec, { module: string; decoder: string }>> = {
  'jpeg-baseline': { module: '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', decoder: 'JPEGDecoder' },
  'jpeg-ls': { module: '@cornerstonejs/codec-charls/decodewasmjs', decoder: 'JpegLSDecoder' },
  j2k: { module: '@cornerstonejs/codec-openjpeg/decodewasmjs', decoder: 'J2KDecoder' },
  htj2k: { module: '@cornerstonejs/codec-openjph/wasmjs', decoder: 'HTJ2KDecoder' },
};

function corruptCodestream(codec: PixelCodec, detail: string): AppError {
  return new AppError('INPUT_CORRUPT', `${codec} codestream: ${detail.slice(0, 160)}`, {
    userMessage: 'The compressed image inside this DICOM file is damaged and could not be decoded.',
  });
}

export async function decodeFrame(
  codec: PixelCodec,
  data: Uint8Array,
  info: ImageInfo,
): Promise<DecodedFrame> {
  try {
    switch (codec) {
      case 'rle':
        return decodeRle(data, info);
      case 'jpeg-lossless':
        return await decodeLossless(data, info);
      case 'jpeg-extended':
        return await decodeJpeg12(data, info);
      case 'jpeg-baseline':
        // libjpeg would treat untagged 3-component data as YCbCr; DICOM's RGB says it is not.
        if (info.samplesPerPixel === 3 && info.photometric === 'RGB' && !jpegSaysYcbcr(data)) {
          return await decodeJpeg12(data, info);
        }
        return await decodeWasm(codec, data, info);
      default:
        return await decodeWasm(codec, data, info);
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw corruptCodestream(codec, error instanceof Error ? error.message : String(error));
  }
}

async function decodeWasm(codec: PixelCodec, data: Uint8Array, info: ImageInfo): Promise<DecodedFrame> {
  const spec = wasmCodecs[codec];
  if (!spec) throw corruptCodestream(codec, 'no decoder');
  const wasm = await loadWasm(spec.module);
  const decoder = new wasm[spec.decoder]!();
  // These Emscripten builds set process.exitCode if the C code calls exit(); a codec must never
  // decide the app's exit status, so it is restored whatever happens.
  const exitCode = process.exitCode;
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    try {
      decoder.decode();
    } catch (error) {
      // An Emscripten abort leaves the module unusable: load a fresh one next time.
      if (error instanceof Error && error.name === 'RuntimeError') modules.delete(spec.module);
      throw error;
    }
    const frame = decoder.getFrameInfo();
    checkGeometry(codec, frame.width, frame.height, frame.componentCount, info);
    const bytes = decoder.getDecodedBuffer().slice();
    const bytesPerSample = frame.bitsPerSample > 8 ? 2 : 1;
    const expected = info.rows * info.columns * info.samplesPerPixel * bytesPerSample;
    if (bytes.length < expected)
      throw corruptCodestream(codec, `decoded ${bytes.length} < ${expected} bytes`);
    // CharLS returns interleave mode 0 ("none") colour images plane by plane (ITU T.87 / ISO 14495-1).
    const planar = codec === 'jpeg-ls' && info.samplesPerPixel === 3 && decoder.getInterleaveMode?.() === 0;
    const rgbConverted =
      info.samplesPerPixel === 3 &&
      (codec === 'jpeg-baseline' ||
        ((codec === 'j2k' || codec === 'htj2k') && /^YBR_(ICT|RCT)$/.test(info.photometric)));
    return { bytes: bytes.subarray(0, expected), bytesPerSample, planar, rgbConverted };
  } finally {
    process.exitCode = exitCode;
    decoder.delete?.();
  }
}

function checkGeometry(
  codec: PixelCodec,
  width: number,
  height: number,
  components: number,
  info: ImageInfo,
) {
  if (width !== info.columns || height !== info.rows || components !== info.samplesPerPixel) {
    throw corruptCodestream(
      codec,
      `codestream ${width}x${height}x${components} != header ${info.columns}x${info.rows}x${info.samplesPerPixel}`,
    );
  }
}

interface LosslessDecoder {
  decode(buffer: ArrayBufferLike, offset: number, length: number, numBytes: number): Uint8Array | Uint16Array;
  xDim: number;
  yDim: number;
  numComp: number;
}

let losslessClass: (new () => LosslessDecoder) | undefined;

/**
 * JPEG lossless (Process 14, ITU T.81 H): 8-bit greyscale goes to libjpeg-turbo's WASM build, which
 * decodes lossless JPEG since libjpeg-turbo 3.0 and measured 2× faster than the JavaScript decoder,
 * bit for bit the same on the corpus; anything it refuses (other precisions) and every other kind of
 * lossless image go to jpeg-lossless-decoder-js. Colour stays there: libjpeg could take untagged
 * three-component data for YCbCr and convert it, which would no longer be lossless.
 */
async function decodeLossless(data: Uint8Array, info: ImageInfo): Promise<DecodedFrame> {
  if (info.bitsAllocated === 8 && info.samplesPerPixel === 1) {
    try {
      return await decodeWasm('jpeg-baseline', data, info);
    } catch {
      // e.g. a precision the 8-bit build does not take: the JavaScript decoder decides.
    }
  }
  return decodeJpegLossless(data, info);
}

function decodeJpegLossless(data: Uint8Array, info: ImageInfo): DecodedFrame {
  losslessClass ??= (require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder }).Decoder;
  const decoder = new losslessClass();
  const bytesPerSample = info.bitsAllocated <= 8 ? 1 : 2;
  const out = decoder.decode(data.buffer, data.byteOffset, data.length, bytesPerSample);
  checkGeometry('jpeg-lossless', decoder.xDim, decoder.yDim, decoder.numComp, info);
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  return { bytes, bytesPerSample, planar: false, rgbConverted: false };
}

/**
 * Whether the JPEG itself declares YCbCr: a JFIF APP0 (always YCbCr) or an Adobe APP14 with
 * transform ≠ 0 (ITU T.872). Without either, DICOM's Photometric Interpretation decides (PS3.5 8.2.1).
 */
export function jpegSaysYcbcr(data: Uint8Array): boolean {
  let i = 2;
  while (i + 4 <= data.length && data[i] === 0xff) {
    const marker = data[i + 1]!;
    if (marker === 0xda || marker === 0xd9) break;
    const length = (data[i + 2]! << 8) | data[i + 3]!;
    const tag = String.fromCharCode(...data.subarray(i + 4, i + 9));
    if (marker === 0xe0 && tag === 'JFIF\0') return true;
    if (marker === 0xee && tag.startsWith('Adobe')) return (data[i + 4 + 11] ?? 0) !== 0;
    i += 2 + length;
  }
  return false;
}

interface JpegImage {
  parse(data: Uint8Array): void;
  colorTransform: boolean;
  width: number;
  height: number;
  components: unknown[];
  getData(width: number, height: number): Uint8Array;
  getData16(width: number, height: number): Uint16Array;
}

let jpegImageClass: Promise<new () => JpegImage> | undefined;

/**
 * The decoder's final level shift is written for 8-bit samples and scaled by 4095/255 for 12-bit,
 * which adds 15 to every 12-bit sample and clips the top at 4080 (checked against GDCM on the
 * corpus). ITU T.81 A.3.1 shifts by 2^(P−1); this is the same expression with that shift. Applied
 * to the package's source at load time so the upstream file stays the one that runs.
 */
const LEVEL_SHIFT_8BIT =
  /q <= -2056 \/ component\.bitConversion\s*\?\s*0\s*:\s*q >= 2024 \/ component\.bitConversion\s*\?\s*255 \/ component\.bitConversion\s*:\s*\(q \+ 2056 \/ component\.bitConversion\) >> 4/;
const LEVEL_SHIFT_ANY =
  'q <= -(Math.round(255 / component.bitConversion) * 8 + 16) ? 0' +
  ' : q >= Math.round(255 / component.bitConversion) * 8 - 16 ? Math.round(255 / component.bitConversion)' +
  ' : (q + Math.round(255 / component.bitConversion) * 8 + 16) >> 4';

/**
 * JPEG Extended 12-bit (Process 4): no WASM build in the cornerstone set decodes it, so use the
 * pdf.js-derived decoder @cornerstonejs/dicom-image-loader ships for exactly this. The package's
 * export map hides the file, so it is read from next to the package entry.
 */
function loadJpegImage(): Promise<new () => JpegImage> {
  jpegImageClass ??= (async () => {
    const entry = require.resolve('@cornerstonejs/dicom-image-loader');
    const source = await readFile(join(dirname(entry), 'codecs', 'jpeg.js'), 'utf8');
    const fixed = source.replace(LEVEL_SHIFT_8BIT, LEVEL_SHIFT_ANY);
    const url = `data:text/javascript;base64,${Buffer.from(fixed).toString('base64')}`;
    const mod = (await import(url)) as { default: new () => JpegImage };
    return mod.default;
  })();
  return jpegImageClass;
}

async function decodeJpeg12(data: Uint8Array, info: ImageInfo): Promise<DecodedFrame> {
  const JpegImageClass = await loadJpegImage();
  const jpeg = new JpegImageClass();
  jpeg.parse(data);
  // Colour conversion, if any, is decided by the Photometric Interpretation later.
  jpeg.colorTransform = false;
  checkGeometry('jpeg-extended', jpeg.width, jpeg.height, jpeg.components.length, info);
  if (info.bitsAllocated > 8 && info.samplesPerPixel === 1) {
    const out = jpeg.getData16(info.columns, info.rows);
    return {
      bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
      bytesPerSample: 2,
      planar: false,
      rgbConverted: false,
    };
  }
  const out = jpeg.getData(info.columns, info.rows);
  return { bytes: out, bytesPerSample: 1, planar: false, rgbConverted: false };
}
