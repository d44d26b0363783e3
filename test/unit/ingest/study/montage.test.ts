import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { composeMontage } from '../../../../src/ingest/study/montage.ts';

const tile = (level: number, width = 200, height = 100) =>
  sharp({ create: { width, height, channels: 3, background: { r: level, g: level, b: level } } })
    .png()
    .toBuffer();

/** Mean grey of a region of a PNG. */
async function meanOf(png: Buffer, region: { left: number; top: number; width: number; height: number }) {
  // stats() reads the pipeline's input, so cut the region out first.
  const cut = await sharp(png).extract(region).png().toBuffer();
  const { channels } = await sharp(cut).stats();
  return channels[0]!.mean;
}

describe('composeMontage', () => {
  it('lays labelled tiles on a 32-px grid within the size limit, keeping each image whole', async () => {
    const montage = await composeMontage(
      [
        { png: await tile(200), label: 'Image 1 of 3: PA view, CR' },
        { png: await tile(120), label: 'Image 2 of 3: lateral view, CR' },
        { png: await tile(60), label: 'Image 3 of 3: prior, posted earlier in this thread' },
      ],
      1024,
    );
    // Three tiles → a 2×2 grid of 512-px cells.
    expect([montage.width, montage.height, montage.tokens]).toEqual([1024, 1024, 1024]);
    const meta = await sharp(montage.png).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
    // Each 2:1 tile is letterboxed into its cell: its centre shows its own grey level.
    expect(await meanOf(montage.png, { left: 206, top: 246, width: 100, height: 60 })).toBeCloseTo(200, 0);
    expect(await meanOf(montage.png, { left: 718, top: 246, width: 100, height: 60 })).toBeCloseTo(120, 0);
    expect(await meanOf(montage.png, { left: 206, top: 758, width: 100, height: 60 })).toBeCloseTo(60, 0);
    // The strip above each tile carries its label as light text on black.
    const strip = await meanOf(montage.png, { left: 0, top: 0, width: 512, height: 40 });
    expect(strip).toBeGreaterThan(3);
    expect(strip).toBeLessThan(100);
    // The empty fourth cell stays black.
    expect(await meanOf(montage.png, { left: 512, top: 512, width: 512, height: 512 })).toBe(0);
  });

  it('escapes labels so they cannot break the SVG', async () => {
    const montage = await composeMontage([{ png: await tile(90), label: 'a <b> & "c"' }], 512);
    expect([montage.width, montage.height]).toEqual([512, 512]);
  });
});
