import sharp from 'sharp';
import { TOKEN_PX, tokensFor } from '../fit.ts';
import { PNG_OPTIONS, stripPngChunks } from '../prepare-encode.ts';

/**
 * Several labelled images on one canvas, for an engine that takes a single image (the visualqa API)
 * and for the chat preview. A grid of square cells, each image letterboxed (never cropped or
 * stretched: anatomy keeps its proportions) under a strip carrying its label. The canvas is on the
 * 32-px grid and within `maxSide`, so it costs what a single image of that size costs.
 */

export interface MontageTile {
  png: Buffer;
  label: string;
}

export interface Montage {
  png: Buffer;
  width: number;
  height: number;
  tokens: number;
}

const escapeXml = (text: string) =>
  text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

function labelStrip(label: string, width: number, height: number): Buffer {
  // DejaVu-like sans glyphs average ~0.55 em wide: shrink the font so the whole label fits the cell.
  const size = Math.max(8, Math.min(height * 0.72, (width - 8) / (0.56 * Math.max(1, label.length))));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#000"/><text x="4" y="${Math.round(height * 0.5 + size * 0.36)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${size.toFixed(1)}" fill="#fff">${escapeXml(label)}</text></svg>`;
  return Buffer.from(svg);
}

export async function composeMontage(tiles: readonly MontageTile[], maxSide: number): Promise<Montage> {
  const columns = Math.ceil(Math.sqrt(tiles.length));
  const rows = Math.ceil(tiles.length / columns);
  const cell = Math.max(TOKEN_PX * 2, Math.floor(maxSide / Math.max(columns, rows) / TOKEN_PX) * TOKEN_PX);
  const strip = Math.max(12, Math.round(cell * 0.08));
  const layers = await Promise.all(
    tiles.map(async (tile, i) => {
      const left = (i % columns) * cell;
      const top = Math.floor(i / columns) * cell;
      const picture = await sharp(tile.png)
        .removeAlpha()
        .resize(cell, cell - strip, { fit: 'contain', background: '#000', kernel: 'lanczos3' })
        .toBuffer();
      return [
        {
          input: await sharp(labelStrip(tile.label, cell, strip))
            .png()
            .toBuffer(),
          left,
          top,
        },
        { input: picture, left, top: top + strip },
      ];
    }),
  );
  const width = columns * cell;
  const height = rows * cell;
  const canvas = sharp({ create: { width, height, channels: 3, background: '#000' } }).composite(
    layers.flat(),
  );
  const png = stripPngChunks(await canvas.png(PNG_OPTIONS).toBuffer());
  return { png, width, height, tokens: tokensFor(width, height) };
}
