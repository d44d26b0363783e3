/**
 * Study reads on real corpus files (issue 17): two views of a chest, a CT series zipped at test time
 * from corpus slices, a multi-frame MR, a lung-window question on a CT stored at 40/400, and the
 * engine request a study makes. Skipped when ../shared/corpus is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createEngine } from '../../src/engine/index.ts';
import { closeIngestWorkers } from '../../src/ingest/index.ts';
import { prepareStudy, type StudyOptions } from '../../src/ingest/study/index.ts';
import { silentLogger } from '../../src/log.ts';
import { startFakeOpenAI } from '../fakes/openai-server.ts';

const root = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url));
const present = existsSync(`${root}MANIFEST.md`);
const file = (path: string) => new Uint8Array(readFileSync(`${root}${path}`));
const base: StudyOptions = { burnedInText: 'flag' };

afterAll(() => closeIngestWorkers());

const mean = async (png: Buffer) => (await sharp(png).stats()).channels[0]!.mean;

describe.skipIf(!present)('study reads on corpus files', () => {
  it('reads two views of a chest (a CR DICOM and a PNG) as one labelled study', async () => {
    const study = await prepareStudy(
      [
        { bytes: file('dicom/cr_chest_siim_jpeg_baseline_8bit.dcm') },
        { bytes: file('images/cxr_hannover_b343e657_cr_ap.png') },
      ],
      base,
    );
    // The PNG carries no header: nothing is said about it beyond its place.
    expect(study.images.map((image) => image.label)).toEqual(['Image 1 of 2: PA view, CR', 'Image 2 of 2']);
    expect(study.images.reduce((sum, image) => sum + image.tokens, 0)).toBeLessThanOrEqual(2048);
    expect(study.notes).toEqual([]);
  });

  it('reads a zipped CT series as key slices ordered by Image Position (Patient), not by zip order', async () => {
    // The chest slice (z = 4.7 mm) is first in the zip; the six CT1 encodings (z = −75.7 mm) follow.
    const members = [
      'ct_chest_implicit_le_window.dcm',
      'ct_wg04_explicit_le_signed16.dcm',
      'ct_wg04_implicit_le.dcm',
      'ct_wg04_explicit_big_endian.dcm',
      'ct_wg04_j2k_lossless.dcm',
      'ct_wg04_jpegls_lossless.dcm',
      'ct_wg04_rle.dcm',
    ];
    const zip = zipSync(
      Object.fromEntries(members.map((name, i) => [`SERIES/IM${i}`, file(`dicom/${name}`)])),
    );
    const study = await prepareStudy([{ bytes: zip }], { ...base, question: 'what do you see?' });
    expect(study.notes).toEqual(['slices 1, 3, 5, 7 of 7 read']);
    expect(study.images.map((image) => image.label)).toEqual([
      'Image 1 of 4: slice 1 of 7, CT',
      'Image 2 of 4: slice 3 of 7, CT',
      'Image 3 of 4: slice 5 of 7, CT',
      'Image 4 of 4: slice 7 of 7, CT',
    ]);
    // Slice 7 is the chest slice, the only one with a stored window (40/400); CT1 has none.
    expect(study.images[3]!.window).toMatchObject({ center: 40, width: 400, source: 'dataset' });
    for (const image of study.images.slice(0, 3)) expect(image.window.source).toBe('percentile');
    // The lossless encodings of CT1 decode to the same picture.
    const [a, b] = await Promise.all([mean(study.images[0]!.png), mean(study.images[1]!.png)]);
    expect(Math.abs(a - b)).toBeLessThan(0.01);
  });

  it('reads key frames of a multi-frame file and says which', async () => {
    const study = await prepareStudy([{ bytes: file('dicom/mr_enhanced_10frame_explicit_le.dcm') }], base);
    expect(study.notes).toEqual(['frames 2, 4, 7, 9 of 10 read']);
    expect(study.images.map((image) => image.source.frameIndex)).toEqual([2, 4, 7, 9]);
    expect(study.images[0]!.label).toBe('Image 1 of 4: frame 2 of 10, MR');
  });

  it('shows a CT stored at 40/400 in the lung window when the question asks for it', async () => {
    const ct = file('dicom/ct_chest_implicit_le_window.dcm');
    const lung = await prepareStudy([{ bytes: ct }], { ...base, question: 'lung window: any nodule?' });
    expect(lung.images).toHaveLength(1);
    expect(lung.images[0]!.window).toMatchObject({
      center: -600,
      width: 1500,
      preset: 'lung',
      source: 'preset',
    });
    expect(lung.images[0]!.label).toBe('Image 1 of 1: lung window, CT');
    // With no window asked, the chest CT is sent twice: lung and mediastinal.
    const both = await prepareStudy([{ bytes: ct }], { ...base, question: 'what do you see?' });
    expect(both.images.map((image) => image.label)).toEqual([
      'Image 1 of 2: lung window, CT',
      'Image 2 of 2: mediastinal window, CT',
    ]);
    // Aerated lung (≈ −850 HU) is black at 40/400 and grey in the lung window: the lung picture is brighter.
    expect(await mean(both.images[0]!.png)).toBeGreaterThan((await mean(both.images[1]!.png)) + 10);
    expect(lung.images[0]!.sha256).toBe(both.images[0]!.sha256);
  });

  it('sends the study to the engine as labelled images in one request', async () => {
    const fake = await startFakeOpenAI();
    try {
      const study = await prepareStudy(
        [
          { bytes: file('dicom/cr_chest_siim_jpeg_baseline_8bit.dcm') },
          { bytes: file('dicom/cr_chest_pa_monochrome1_j2k_lossy.dcm') },
        ],
        base,
      );
      const engine = createEngine(loadConfig({ ENGINE_URL: fake.url, DATA_DIR: '/nonexistent-qr' }), {
        logger: silentLogger,
      });
      const result = await engine.infer(
        { image: study.images[0]!, study: study.images, question: 'Any pneumothorax?', history: [] },
        AbortSignal.timeout(20_000),
      );
      const read = fake.requests.find((r) => r.kind === 'read')!;
      expect(read.images).toHaveLength(2);
      const texts = read.body.messages[1].content.filter((part: { type: string }) => part.type === 'text');
      expect(texts.slice(0, 2).map((part: { text: string }) => part.text)).toEqual([
        'Image 1 of 2: PA view, CR',
        'Image 2 of 2: PA view, CR',
      ]);
      expect(result.images).toHaveLength(2);
    } finally {
      await fake.close();
    }
  });
});
