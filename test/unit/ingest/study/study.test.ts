/**
 * prepareStudy on synthetic DICOMs and PNGs built in memory (test/helpers/dicom-writer.ts): every
 * expected slice, label, window and size is derived from how the inputs were built.
 */
import { zipSync } from 'fflate';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { closeTextScanner } from '../../../../src/ingest/ocr/index.ts';
import { prepareStudy, type StudyOptions } from '../../../../src/ingest/study/index.ts';
import { createDecodePool } from '../../../../src/ingest/worker/pool.ts';
import { type Element, el, imageElements, writeDicom } from '../../../helpers/dicom-writer.ts';

const pool = createDecodePool({ size: 2 });
afterAll(() => Promise.all([pool.close(), closeTextScanner()]));

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
// No OCR for these synthetic CTs: BURNED_IN_TEXT=flag scans only files that declare burned-in text.
const base: StudyOptions = { burnedInText: 'flag' };

/** A uniform CT slice at height z whose Hounsfield value is `hu`, so its grey level identifies it. */
function ctSlice(options: {
  z: number;
  hu: number;
  instance?: number;
  extra?: Element[];
  side?: number;
}): Uint8Array {
  const side = options.side ?? 64;
  const pixels = new Int16Array(side * side).fill(options.hu + 1024);
  return writeDicom(
    imageElements({
      rows: side,
      columns: side,
      signed: true,
      pixels,
      extra: [
        el(0x00080016, 'UI', CT_IMAGE_STORAGE),
        el(0x00080060, 'CS', 'CT'),
        el(0x00200013, 'IS', String(options.instance ?? 1)),
        el(0x00200032, 'DS', `0\\0\\${options.z}`),
        el(0x00200037, 'DS', '1\\0\\0\\0\\1\\0'),
        el(0x00281052, 'DS', '-1024'),
        el(0x00281053, 'DS', '1'),
        ...(options.extra ?? []),
      ],
    }),
    { sopClassUid: CT_IMAGE_STORAGE },
  );
}

const storedWindow = [el(0x00281050, 'DS', '40'), el(0x00281051, 'DS', '400')];

/** A CR radiograph with a view position (PA, LL…). */
function radiograph(view: string): Uint8Array {
  const pixels = new Uint16Array(128 * 96).map((_, i) => (i * 13) % 4096);
  return writeDicom(
    imageElements({
      rows: 96,
      columns: 128,
      bitsStored: 12,
      pixels,
      extra: [
        el(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.1'),
        el(0x00080060, 'CS', 'CR'),
        el(0x00180015, 'CS', 'CHEST'),
        el(0x00185101, 'CS', view),
      ],
    }),
    { sopClassUid: '1.2.840.10008.5.1.4.1.1.1' },
  );
}

const grey = async (png: Buffer) => (await sharp(png).stats()).channels[0]!.mean;

async function squarePng(side: number, level: number): Promise<Buffer> {
  return sharp({
    create: { width: side, height: side, channels: 3, background: { r: level, g: level, b: level } },
  })
    .png()
    .toBuffer();
}

describe('prepareStudy', () => {
  it('reads two views of one chest film, in the order posted, labelled from the header', async () => {
    const study = await prepareStudy([{ bytes: radiograph('PA') }, { bytes: radiograph('LL') }], base, pool);
    expect(study.images.map((image) => image.label)).toEqual([
      'Image 1 of 2: PA view, CR',
      'Image 2 of 2: left lateral view, CR',
    ]);
    expect(study.notes).toEqual([]);
  });

  it('reads a zipped CT series as key slices in anatomical order, and says which', async () => {
    // Posted shuffled; slice k (1-based, by position) has HU −150 + 10·k, inside the 40/400 window.
    const order = [7, 2, 9, 0, 5, 1, 8, 3, 6, 4];
    const files = Object.fromEntries(
      order.map((k, i) => [
        `IM${i}`,
        ctSlice({ z: k * 2.5, hu: -150 + 10 * (k + 1), instance: 50 - k, extra: storedWindow }),
      ]),
    );
    const study = await prepareStudy(
      [{ bytes: zipSync(files) }],
      { ...base, question: 'what do you see?' },
      pool,
    );
    expect(study.notes).toEqual(['slices 2, 4, 7, 9 of 10 read']);
    expect(study.images.map((image) => image.label)).toEqual([
      'Image 1 of 4: slice 2 of 10, CT',
      'Image 2 of 4: slice 4 of 10, CT',
      'Image 3 of 4: slice 7 of 10, CT',
      'Image 4 of 4: slice 9 of 10, CT',
    ]);
    const levels = await Promise.all(study.images.map((image) => grey(image.png)));
    // Window 40/400 maps HU h to (h + 160)/400·255: slice k → (10 + 10k)·0.6375.
    expect(levels.map(Math.round)).toEqual([2, 4, 7, 9].map((k) => Math.round((10 + 10 * k) * 0.6375)));
  });

  it('honours "slices 3-5" and "around slice 8" in the question', async () => {
    const files = Array.from({ length: 10 }, (_, k) => ({
      bytes: ctSlice({ z: k, hu: 0, extra: storedWindow }),
    }));
    const range = await prepareStudy(files, { ...base, question: 'slices 3-5: any bleed?' }, pool);
    expect(range.notes).toEqual(['slices 3, 4, 5 of 10 read']);
    const around = await prepareStudy(
      files,
      { ...base, question: 'nodule around slice 8?', keySlices: 3 },
      pool,
    );
    expect(around.notes).toEqual(['slices 7, 8, 9 of 10 read']);
  });

  it('shows a CT in the lung window when the question asks, over the file window of 40/400', async () => {
    const study = await prepareStudy(
      [{ bytes: ctSlice({ z: 0, hu: -700, extra: storedWindow }) }],
      { ...base, question: 'lung window: any nodule?' },
      pool,
    );
    expect(study.images).toHaveLength(1);
    expect(study.images[0]!.window).toMatchObject({
      center: -600,
      width: 1500,
      source: 'preset',
      preset: 'lung',
    });
    expect(study.images[0]!.label).toBe('Image 1 of 1: lung window, CT');
    // −700 HU is black in 40/400 and mid-grey in the lung window: ((−700 + 600.5)/1499 + 0.5)·255 ≈ 110.6.
    expect(Math.abs((await grey(study.images[0]!.png)) - 110.6)).toBeLessThan(1);
  });

  it('sends a chest CT with no window asked in the lung and the mediastinal window', async () => {
    const chest = ctSlice({ z: 0, hu: 0, extra: [...storedWindow, el(0x00180015, 'CS', 'CHEST')] });
    const study = await prepareStudy([{ bytes: chest }], { ...base, question: 'what do you see?' }, pool);
    expect(study.images.map((image) => image.label)).toEqual([
      'Image 1 of 2: lung window, CT',
      'Image 2 of 2: mediastinal window, CT',
    ]);
    expect(study.images.map((image) => [image.window.center, image.window.width])).toEqual([
      [-600, 1500],
      [40, 400],
    ]);
  });

  it('names what did not fit the image limit and what could not be read', async () => {
    const pngs = await Promise.all([10, 60, 110, 160, 210].map((level) => squarePng(64, level)));
    const files = [...pngs.slice(0, 2), Buffer.from('not an image at all'), ...pngs.slice(2)].map(
      (bytes) => ({ bytes }),
    );
    const study = await prepareStudy(files, base, pool);
    expect(study.images).toHaveLength(3);
    expect(study.notes[0]).toMatch(
      /^3 of 6 images read; the others were not sent: over the 4-image limit; image 3 could not be read \(.+\)$/,
    );
    const levels = await Promise.all(study.images.map((image) => grey(image.png)));
    expect(levels.map(Math.round)).toEqual([10, 60, 110]);
  });

  it('fits all images into one token budget', async () => {
    const two = [await squarePng(1024, 50), await squarePng(1024, 90)].map((bytes) => ({ bytes }));
    const roomy = await prepareStudy(two, base, pool);
    expect(roomy.images.map((image) => [image.width, image.tokens])).toEqual([
      [1024, 1024],
      [1024, 1024],
    ]);
    const tight = await prepareStudy(two, { ...base, maxTokens: 1024 }, pool);
    // 724² would be 1,024 tokens in all; on the 32-px grid that is 704² (22² = 484 tokens each).
    expect(tight.images.map((image) => [image.width, image.height, image.tokens])).toEqual([
      [704, 704, 484],
      [704, 704, 484],
    ]);
  });

  it('reads key frames of a multi-frame file', async () => {
    const frames = 6;
    const pixels = new Uint16Array(32 * 32 * frames).map((_, i) => Math.floor(i / 1024) * 100);
    const bytes = writeDicom(
      imageElements({
        rows: 32,
        columns: 32,
        frames,
        pixels,
        extra: [
          el(0x00080060, 'CS', 'XA'),
          el(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.12.1'),
          el(0x00281050, 'DS', '250'),
          el(0x00281051, 'DS', '600'),
        ],
      }),
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.12.1' },
    );
    const study = await prepareStudy([{ bytes }], { ...base, maxImages: 3 }, pool);
    expect(study.notes).toEqual(['frames 2, 4, 6 of 6 read']);
    expect(study.images.map((image) => image.source.frameIndex)).toEqual([2, 4, 6]);
    // Frame f holds the value 100·(f − 1): each image is the frame it says it is.
    const levels = await Promise.all(study.images.map((image) => grey(image.png)));
    expect(levels[0]).toBeLessThan(levels[1]!);
    expect(levels[1]).toBeLessThan(levels[2]!);
  });

  it('labels a prior from the thread without any date', async () => {
    const study = await prepareStudy(
      [
        { bytes: radiograph('PA'), role: 'current' },
        { bytes: radiograph('PA'), role: 'prior' },
      ],
      base,
      pool,
    );
    expect(study.images.map((image) => [image.label, image.role])).toEqual([
      ['Image 1 of 2: current, PA view, CR', 'current'],
      ['Image 2 of 2: prior, posted earlier in this thread, PA view, CR', 'prior'],
    ]);
  });

  it('refuses a zip holding no image (ARCHIVE_EMPTY)', async () => {
    const zip = zipSync({ 'notes.txt': Buffer.from('just text') });
    await expect(prepareStudy([{ bytes: zip }], base, pool)).rejects.toMatchObject({ code: 'ARCHIVE_EMPTY' });
  });
});
