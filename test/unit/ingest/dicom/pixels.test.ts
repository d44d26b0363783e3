/** The pixel pipeline on synthetic DICOMs built in memory: every expected value is derived by hand. */
import { describe, expect, it } from 'vitest';
import { decodeDicom } from '../../../../src/ingest/dicom/index.js';
import { el, imageElements, TS, writeDicom } from '../../../helpers/dicom-writer.js';

const rescale = (slope: string, intercept: string) => [
  el(0x00281053, 'DS', slope),
  el(0x00281052, 'DS', intercept),
];
const windowEls = (c: string, w: string) => [el(0x00281050, 'DS', c), el(0x00281051, 'DS', w)];

describe('stored values (PS3.3 C.7.6.3.1.1)', () => {
  it('masks bits above BitsStored and sign-extends signed 12-bit values', async () => {
    // 12-bit two's complement: 0x800 = -2048, 0xFFF = -1, 0x7FF = 2047; junk in bits 12-15.
    const raw = new Uint16Array([0xf800, 0x1fff, 0xa7ff, 0x0005]);
    const bytes = writeDicom(
      imageElements({ rows: 2, columns: 2, bitsStored: 12, signed: true, pixels: raw }),
    );
    const img = await decodeDicom(bytes);
    expect(img.stats).toMatchObject({
      storedMin: -2048,
      storedMax: 2047,
      storedMean: (-2048 - 1 + 2047 + 5) / 4,
    });
  });

  it('masks unsigned data to BitsStored', async () => {
    const raw = new Uint16Array([0xf000 | 100, 0x0c00 | 200, 300, 400]);
    const img = await decodeDicom(
      writeDicom(imageElements({ rows: 2, columns: 2, bitsStored: 10, pixels: raw })),
    );
    expect(img.stats).toMatchObject({ storedMin: 100, storedMax: 400, storedMean: 250 });
  });

  it.each([TS.explicitLE, TS.implicitLE, TS.explicitBE, TS.deflated])(
    'reads 16-bit signed data in %s',
    async (ts) => {
      const px = new Int16Array([-5, 100, 2000, -2048]);
      const img = await decodeDicom(
        writeDicom(imageElements({ rows: 2, columns: 2, signed: true, pixels: px }), { transferSyntax: ts }),
      );
      expect(img.stats).toMatchObject({
        storedMin: -2048,
        storedMax: 2000,
        storedMean: (-5 + 100 + 2000 - 2048) / 4,
      });
    },
  );

  it('reads float pixel data (7FE0,0008)', async () => {
    const elements = imageElements({ rows: 1, columns: 4, bitsAllocated: 32 }).filter(
      (e) => e.tag !== 0x7fe00010,
    );
    elements.push(el(0x7fe00008, 'OF', new Float32Array([-1.5, 0, 2.25, 1000])));
    const img = await decodeDicom(writeDicom(elements));
    expect(img.stats).toMatchObject({ storedMin: -1.5, storedMax: 1000 });
    expect(img.stats.storedMean).toBeCloseTo((-1.5 + 2.25 + 1000) / 4, 5);
  });

  it('reads 32-bit unsigned integers beyond 2^31', async () => {
    const raw = new Uint8Array(new Uint32Array([1, 3_000_000_000]).buffer);
    const img = await decodeDicom(
      writeDicom(imageElements({ rows: 1, columns: 2, bitsAllocated: 32, pixels: raw })),
    );
    expect(img.stats.storedMax).toBe(3_000_000_000);
  });
});

describe('modality LUT (PS3.3 C.11.1)', () => {
  it('applies Rescale Slope/Intercept', async () => {
    const px = new Int16Array([0, 1000, 2000, 3000]);
    const img = await decodeDicom(
      writeDicom(
        imageElements({ rows: 2, columns: 2, signed: true, pixels: px, extra: rescale('2', '-1024') }),
      ),
    );
    expect(img.stats).toMatchObject({ modalityMin: -1024, modalityMax: 4976, modalityMean: 1976 });
  });

  it('refuses a Rescale Slope or Intercept that is not a number instead of showing a black image', async () => {
    const px = new Int16Array([0, 1000, 2000, 3000]);
    for (const [slope, intercept] of [
      ['abc', '-1024'],
      ['1', 'n/a'],
    ]) {
      const bytes = writeDicom(
        imageElements({ rows: 2, columns: 2, signed: true, pixels: px, extra: rescale(slope!, intercept!) }),
      );
      await expect(decodeDicom(bytes)).rejects.toMatchObject({
        code: 'INPUT_CORRUPT',
        userMessage: expect.stringContaining('Rescale Slope or Rescale Intercept'),
      });
    }
  });

  it('takes rescale from the per-frame functional group of the chosen frame', async () => {
    const pixelValue = (slope: string, intercept: string) => [
      el(0x00289145, 'SQ', [[el(0x00281053, 'DS', slope), el(0x00281052, 'DS', intercept)]]),
    ];
    const extra = [
      el(0x52009229, 'SQ', [pixelValue('1', '0')]),
      el(0x52009230, 'SQ', [pixelValue('1', '-100'), pixelValue('3', '7')]),
    ];
    const px = new Uint16Array([10, 10, 20, 20]);
    const bytes = writeDicom(imageElements({ rows: 1, columns: 2, frames: 2, pixels: px, extra }));
    const second = await decodeDicom(bytes, { frame: 2 });
    expect(second.stats).toMatchObject({ storedMean: 20, modalityMean: 67 });
    const first = await decodeDicom(bytes, { frame: 1 });
    expect(first.stats.modalityMean).toBe(-90);
  });

  it('applies a Modality LUT Sequence with a signed first mapped value', async () => {
    const lut = el(0x00283000, 'SQ', [
      [el(0x00283002, 'US', [4, 0xfffe, 16]), el(0x00283006, 'OW', new Uint16Array([100, 200, 300, 400]))],
    ]);
    const px = new Int16Array([-2, -1, 0, 5]);
    const img = await decodeDicom(
      writeDicom(imageElements({ rows: 2, columns: 2, signed: true, pixels: px, extra: [lut] })),
    );
    // -2 → first entry, 5 → clamped to the last entry.
    expect(img.stats).toMatchObject({
      modalityMin: 100,
      modalityMax: 400,
      modalityMean: (100 + 200 + 300 + 400) / 4,
    });
  });
});

describe('VOI and display', () => {
  const ramp = new Int16Array([-1000, -160, 40, 240]);

  it("uses the dataset's first window and says so", async () => {
    const extra = [...windowEls('40\\500', '400\\2000'), el(0x00080060, 'CS', 'CT')];
    const img = await decodeDicom(
      writeDicom(imageElements({ rows: 2, columns: 2, signed: true, pixels: ramp, extra })),
    );
    expect(img.window).toMatchObject({ center: 40, width: 400, source: 'dataset' });
    expect(Array.from(img.pixels)).toEqual([0, 0, 128, 255]);
    expect(img.channels).toBe(1);
  });

  it("applies the dataset's VOI LUT Function", async () => {
    const extra = [...windowEls('40', '400'), el(0x00281056, 'CS', 'SIGMOID')];
    const img = await decodeDicom(
      writeDicom(imageElements({ rows: 2, columns: 2, signed: true, pixels: ramp, extra })),
    );
    const expected = [-1000, -160, 40, 240].map((x) =>
      Math.round(255 / (1 + Math.exp((-4 * (x - 40)) / 400))),
    );
    expect(Array.from(img.pixels)).toEqual(expected);
  });

  it('lets the user window win over the dataset one', async () => {
    const extra = windowEls('40', '400');
    const bytes = writeDicom(imageElements({ rows: 2, columns: 2, signed: true, pixels: ramp, extra }));
    const img = await decodeDicom(bytes, { window: { center: -500, width: 2 } });
    expect(img.window.source).toBe('user');
    expect(Array.from(img.pixels)).toEqual([0, 255, 255, 255]);
  });

  it('chooses a CT preset from the question when the file has no window', async () => {
    const extra = [el(0x00080060, 'CS', 'CT')];
    const bytes = writeDicom(imageElements({ rows: 2, columns: 2, signed: true, pixels: ramp, extra }));
    const img = await decodeDicom(bytes, { question: 'any lung nodules?' });
    expect(img.window).toMatchObject({ source: 'preset', preset: 'lung', center: -600, width: 1500 });
  });

  it('keeps Pixel Padding Value and sub-air CT values out of the percentile window', async () => {
    // 200 padding pixels (-2000 stored → -3024 HU) around 200 patient pixels from -1000 to 990 HU.
    const px = Int16Array.from({ length: 400 }, (_, i) => (i < 200 ? -2000 : 24 + (i - 200) * 10));
    const extra = [el(0x00080060, 'CS', 'CT'), el(0x00280120, 'SS', -2000), ...rescale('1', '-1024')];
    const img = await decodeDicom(
      writeDicom(imageElements({ rows: 20, columns: 20, signed: true, pixels: px, extra })),
    );
    expect(img.window.source).toBe('percentile');
    expect(img.window.center - img.window.width / 2).toBeGreaterThanOrEqual(-1001);
    expect(img.window.center + img.window.width / 2).toBeLessThanOrEqual(991);
  });

  it('inverts MONOCHROME1 after windowing', async () => {
    const extra = windowEls('40', '400');
    const mono2 = await decodeDicom(
      writeDicom(imageElements({ rows: 2, columns: 2, signed: true, pixels: ramp, extra })),
    );
    const mono1 = await decodeDicom(
      writeDicom(
        imageElements({ rows: 2, columns: 2, signed: true, pixels: ramp, extra, photometric: 'MONOCHROME1' }),
      ),
    );
    expect(Array.from(mono1.pixels)).toEqual(Array.from(mono2.pixels).map((v) => 255 - v));
    const inverse = await decodeDicom(
      writeDicom(
        imageElements({
          rows: 2,
          columns: 2,
          signed: true,
          pixels: ramp,
          extra: [...extra, el(0x20500020, 'CS', 'INVERSE')],
        }),
      ),
    );
    expect(Array.from(inverse.pixels)).toEqual(Array.from(mono1.pixels));
  });

  it('applies a VOI LUT Sequence when there is no window', async () => {
    const voi = el(0x00283010, 'SQ', [
      [el(0x00283002, 'US', [4, 0, 8]), el(0x00283006, 'OW', new Uint16Array([0, 51, 102, 255]))],
    ]);
    const img = await decodeDicom(
      writeDicom(imageElements({ rows: 2, columns: 2, pixels: new Uint16Array([0, 1, 2, 9]), extra: [voi] })),
    );
    expect(img.window.source).toBe('voi-lut');
    expect(Array.from(img.pixels)).toEqual([0, 51, 102, 255]);
  });
});

describe('colour', () => {
  // Two pixels: pure red and pure blue.
  it('interleaves planar RGB (Planar Configuration 1)', async () => {
    const planar = new Uint8Array([255, 0, 0, 0, 0, 255]);
    const extra = [el(0x00280006, 'US', 1)];
    const img = await decodeDicom(
      writeDicom(
        imageElements({
          rows: 1,
          columns: 2,
          bitsAllocated: 8,
          samples: 3,
          photometric: 'RGB',
          pixels: planar,
          extra,
        }),
      ),
    );
    expect(img.channels).toBe(3);
    expect(Array.from(img.pixels)).toEqual([255, 0, 0, 0, 0, 255]);
    expect(img.window.source).toBe('none');
  });

  it('converts YBR_FULL to RGB', async () => {
    // Red (255,0,0) in YCbCr full range ≈ (76, 85, 255).
    const ybr = new Uint8Array([76, 85, 255]);
    const img = await decodeDicom(
      writeDicom(
        imageElements({
          rows: 1,
          columns: 1,
          bitsAllocated: 8,
          samples: 3,
          photometric: 'YBR_FULL',
          pixels: ybr,
        }),
      ),
    );
    const [r, g, b] = Array.from(img.pixels);
    expect(r).toBeGreaterThan(250);
    expect(g).toBeLessThan(5);
    expect(b).toBeLessThan(5);
  });

  it('upsamples native YBR_FULL_422 (Y0 Y1 Cb Cr per pixel pair) before converting', async () => {
    // Two grey pixels (Cb = Cr = 128) of different brightness share one chroma pair.
    const data = new Uint8Array([50, 200, 128, 128]);
    const img = await decodeDicom(
      writeDicom(
        imageElements({
          rows: 1,
          columns: 2,
          bitsAllocated: 8,
          samples: 3,
          photometric: 'YBR_FULL_422',
          pixels: data,
        }),
      ),
    );
    expect(Array.from(img.pixels)).toEqual([50, 50, 50, 200, 200, 200]);
    expect(img.stats.storedMean).toBeCloseTo((50 + 200 + 4 * 128) / 6, 10);
  });

  it('maps PALETTE COLOR through 16-bit LUTs', async () => {
    const lut = (values: number[]) => new Uint16Array(values);
    const extra = [
      el(0x00281101, 'US', [3, 0, 16]),
      el(0x00281102, 'US', [3, 0, 16]),
      el(0x00281103, 'US', [3, 0, 16]),
      el(0x00281201, 'OW', lut([0, 0xff00, 0x8000])),
      el(0x00281202, 'OW', lut([0, 0, 0x8000])),
      el(0x00281203, 'OW', lut([0xff00, 0, 0x8000])),
    ];
    const img = await decodeDicom(
      writeDicom(
        imageElements({
          rows: 1,
          columns: 3,
          bitsAllocated: 8,
          photometric: 'PALETTE COLOR',
          pixels: new Uint8Array([0, 1, 2]),
          extra,
        }),
      ),
    );
    expect(Array.from(img.pixels)).toEqual([0, 0, 255, 255, 0, 0, 128, 128, 128]);
  });
});

describe('multi-frame', () => {
  const frames = (n: number) => Uint16Array.from({ length: n * 4 }, (_, i) => Math.floor(i / 4) * 10);

  it('shows the middle frame by default and a chosen 1-based frame on request', async () => {
    const bytes = writeDicom(imageElements({ rows: 2, columns: 2, frames: 5, pixels: frames(5) }));
    const middle = await decodeDicom(bytes);
    expect(middle.source).toMatchObject({ frames: 5, frameIndex: 3 });
    expect(middle.stats.storedMean).toBe(20);
    const first = await decodeDicom(bytes, { frame: 1 });
    expect(first.stats.storedMean).toBe(0);
    await expect(decodeDicom(bytes, { frame: 6 })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('refuses more frames or pixels than the caps allow', async () => {
    const bytes = writeDicom(imageElements({ rows: 2, columns: 2, frames: 5, pixels: frames(5) }));
    await expect(decodeDicom(bytes, { maxFrames: 4 })).rejects.toMatchObject({ code: 'INPUT_TOO_LARGE' });
    await expect(decodeDicom(bytes, { maxPixels: 3 })).rejects.toMatchObject({ code: 'INPUT_TOO_LARGE' });
  });
});
