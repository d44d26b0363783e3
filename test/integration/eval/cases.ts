import { Writable } from 'node:stream';
import sharp from 'sharp';

/**
 * A synthetic labelled case set for `quickread eval` tests: small grey PNGs whose pixels carry what a
 * fake engine's probe answers, so every metric has a value worked out by hand.
 *
 * Nodule: P(yes) = mean grey / 255. Present at grey 200, 180, 120, 90, 60 and absent at 150, 100, 70,
 * 40, 30, so of the 25 (positive, negative) pairs the positive scores higher in 5 + 5 + 4 + 3 + 2 = 19:
 * AUROC = 19/25 = 0.76. Nodule-positive images are 128 px wide, negative ones 96 px, which a second
 * fake model reads perfectly (AUROC 1). Effusion: the same P(yes) for every image, so AUROC = 0.50.
 */

export interface SyntheticCase {
  name: string;
  grey: number;
  nodule: 0 | 1;
  effusion: 0 | 1;
}

export const CASES: SyntheticCase[] = [
  { name: 'p200.png', grey: 200, nodule: 1, effusion: 1 },
  { name: 'p180.png', grey: 180, nodule: 1, effusion: 0 },
  { name: 'p120.png', grey: 120, nodule: 1, effusion: 1 },
  { name: 'p90.png', grey: 90, nodule: 1, effusion: 0 },
  { name: 'p60.png', grey: 60, nodule: 1, effusion: 1 },
  { name: 'n150.png', grey: 150, nodule: 0, effusion: 0 },
  { name: 'n100.png', grey: 100, nodule: 0, effusion: 1 },
  { name: 'n70.png', grey: 70, nodule: 0, effusion: 0 },
  { name: 'n40.png', grey: 40, nodule: 0, effusion: 1 },
  { name: 'n30.png', grey: 30, nodule: 0, effusion: 0 },
];

export const NODULE_AUROC = 19 / 25;

/** A flat grey field with a slightly darker square, so the image is not "blank" to the fake. */
export async function caseImage(c: SyntheticCase): Promise<Buffer> {
  const width = c.nodule ? 128 : 96;
  const patch = await sharp({
    create: {
      width: 16,
      height: 16,
      channels: 3,
      background: { r: c.grey - 20, g: c.grey - 20, b: c.grey - 20 },
    },
  })
    .png()
    .toBuffer();
  return sharp({
    create: { width, height: 128, channels: 3, background: { r: c.grey, g: c.grey, b: c.grey } },
  })
    .composite([{ input: patch, left: 8, top: 8 }])
    .png()
    .toBuffer();
}

/** Model A: nodule from brightness (16 of the 16 384 pixels are 20 darker, which keeps the order). */
export const probeByBrightness = (image: { mean: number }, text: string) => {
  if (text.includes('nodule')) return image.mean / 255;
  if (text.includes('effusion')) return 0.3;
  return undefined;
};

/** Model B: nodule from the width, which encodes the label. */
export const probeByWidth = (image: { width: number }, text: string) => {
  if (text.includes('nodule')) return image.width === 128 ? 0.9 : 0.1;
  if (text.includes('effusion')) return 0.3;
  return undefined;
};

export function labelsCsv(extra: string[] = []): string {
  const rows = CASES.flatMap((c) => [
    `${c.name},nodule,${c.nodule},DX,test,${c.name === 'p200.png' ? 'urgent' : 'routine'}`,
    `${c.name},effusion,${c.effusion},DX,test,`,
  ]);
  return `${['file,finding,present,modality,split,urgency', ...rows, ...extra].join('\n')}\n`;
}

/** A non-TTY stream (so progress comes as plain lines) that keeps what was written. */
export function captureStream(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}
