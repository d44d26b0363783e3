import sharp from 'sharp';
import { detectText } from '../../../src/ingest/ocr/detect.ts';
import { loadModels, type OcrModels } from '../../../src/ingest/ocr/models.ts';
import { decodePng, toRgb } from '../../../src/ingest/ocr/raster.ts';
import { recogniseBox } from '../../../src/ingest/ocr/recognize.ts';

/** Synthetic test images: a radiograph-like radial gradient with shapes, plus planted text. */
export interface PlantedText {
  text: string;
  x: number;
  y: number;
  size: number;
  fill?: string;
  /** Degrees clockwise about the text's start point. */
  rotate?: number;
}

const FONT = 'DejaVu Sans, Liberation Sans, sans-serif';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function textElements(texts: readonly PlantedText[]): string {
  return texts
    .map(
      (t) =>
        `<text x="${t.x}" y="${t.y}"${t.rotate ? ` transform="rotate(${t.rotate} ${t.x} ${t.y})"` : ''} font-family="${FONT}" font-size="${t.size}" fill="${t.fill ?? '#f0f0f0'}">${escapeXml(t.text)}</text>`,
    )
    .join('');
}

/** The planted text alone, white on transparent: to composite onto a real image, or as a glyph mask. */
export function textOnlySvg(width: number, height: number, texts: readonly PlantedText[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${textElements(
    texts.map((t) => ({ ...t, fill: '#ffffff' })),
  )}</svg>`;
}

export function sceneSvg(
  width: number,
  height: number,
  texts: readonly PlantedText[] = [],
  extraSvg = '',
): string {
  const cx = width / 2;
  const cy = height / 2;
  const r = Math.min(width, height) / 2;
  const words = textElements(texts);
  // Anatomy-like content: soft gradients, ellipses, a rib-like arc, a bright round "nodule".
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs>
    <radialGradient id="body"><stop offset="0" stop-color="#9a9a9a"/><stop offset="0.7" stop-color="#505050"/><stop offset="1" stop-color="#101010"/></radialGradient>
    <linearGradient id="lung" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#202020"/><stop offset="1" stop-color="#3a3a3a"/></linearGradient>
  </defs>
  <rect width="100%" height="100%" fill="#080808"/>
  <ellipse cx="${cx}" cy="${cy}" rx="${r * 0.85}" ry="${r * 0.9}" fill="url(#body)"/>
  <ellipse cx="${cx - r * 0.35}" cy="${cy}" rx="${r * 0.25}" ry="${r * 0.5}" fill="url(#lung)"/>
  <ellipse cx="${cx + r * 0.35}" cy="${cy}" rx="${r * 0.25}" ry="${r * 0.5}" fill="url(#lung)"/>
  <path d="M ${cx - r * 0.6} ${cy - r * 0.2} Q ${cx} ${cy - r * 0.55} ${cx + r * 0.6} ${cy - r * 0.2}" stroke="#8a8a8a" stroke-width="${r * 0.03}" fill="none"/>
  <circle cx="${cx + r * 0.3}" cy="${cy + r * 0.2}" r="${r * 0.05}" fill="#c8c8c8"/>
  <rect x="${cx - r * 0.05}" y="${cy - r * 0.6}" width="${r * 0.1}" height="${r * 1.2}" fill="#707070"/>
  ${extraSvg}
  ${words}
</svg>`;
}

export async function renderScene(
  width: number,
  height: number,
  texts: readonly PlantedText[] = [],
  channels: 1 | 3 = 1,
  /** Further SVG shapes drawn under the text (a lead marker, say). */
  extraSvg = '',
): Promise<Buffer> {
  const image = sharp(Buffer.from(sceneSvg(width, height, texts, extraSvg)));
  return channels === 1 ? image.greyscale().png().toBuffer() : image.removeAlpha().png().toBuffer();
}

/** How many pixels differ between two PNGs inside a rectangle (whole image when omitted). */
export async function changedPixels(
  a: Buffer,
  b: Buffer,
  rect?: { x0: number; y0: number; x1: number; y1: number },
): Promise<number> {
  const [ra, rb] = await Promise.all([decodePng(a), decodePng(b)]);
  if (ra.width !== rb.width || ra.height !== rb.height || ra.channels !== rb.channels) {
    throw new Error('images differ in shape');
  }
  const area = rect ?? { x0: 0, y0: 0, x1: ra.width, y1: ra.height };
  let changed = 0;
  for (let y = area.y0; y < area.y1; y += 1) {
    for (let x = area.x0; x < area.x1; x += 1) {
      const i = (y * ra.width + x) * ra.channels;
      for (let c = 0; c < ra.channels; c += 1) {
        if (ra.data[i + c] !== rb.data[i + c]) {
          changed += 1;
          break;
        }
      }
    }
  }
  return changed;
}

/** Mean brightness inside a rectangle (0..255, first channel). */
export async function meanIn(png: Buffer, rect: { x0: number; y0: number; x1: number; y1: number }) {
  const raster = await decodePng(png);
  let sum = 0;
  let count = 0;
  for (let y = rect.y0; y < rect.y1; y += 1) {
    for (let x = rect.x0; x < rect.x1; x += 1) {
      sum += raster.data[(y * raster.width + x) * raster.channels]!;
      count += 1;
    }
  }
  return sum / count;
}

let models: Promise<OcrModels> | undefined;

/**
 * Test-side reader: the same detector and recogniser, run in this process, returning every line
 * it reads. The product never exposes recognised text; the tests need it to prove text is gone.
 */
export async function readAllText(png: Buffer): Promise<string[]> {
  models ??= loadModels({ threads: 1 });
  const loaded = await models;
  const rgb = toRgb(await decodePng(png));
  // A lower box threshold than the product's, so faint leftovers would still be read.
  const boxes = await detectText(loaded.detector, rgb, { boxThreshold: 0.3 });
  const lines: string[] = [];
  for (const box of boxes) {
    const line = await recogniseBox(loaded.recognizer, loaded.dictionary, rgb, box);
    if (line.text.trim()) lines.push(line.text);
  }
  return lines;
}

/** Letters and digits only, upper-cased: "Doe^John" and "DOE~JOHN" compare equal. */
export function squash(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9]/g, '');
}
