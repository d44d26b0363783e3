import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { runCliCaptured } from '../../helpers/run-cli.ts';
import { syntheticPng } from './image.ts';

let dir: string;
let fake: FakeOpenAI;
let scan: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-ask-'));
  fake = await startFakeOpenAI();
  scan = join(dir, 'Doe_Jane_chest.png');
  await writeFile(scan, await syntheticPng(640, 480));
});

afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ ENGINE_URL: fake.url, DATA_DIR: dir, LOG_LEVEL: 'silent', MAX_IMAGE_SIZE: '512' });

describe('quickread ask', () => {
  it('prints the read as JSON in the documented shape', async () => {
    const { code, out, err } = await runCliCaptured(['ask', scan, 'Any nodules?', '--json'], env());
    expect(err).toBe('');
    expect(code).toBe(0);
    const read = JSON.parse(out);
    expect(read).toMatchObject({
      impression: expect.any(String),
      urgency: 'routine',
      recommendations: expect.any(Array),
      model: 'Qwen/Qwen3-VL-8B-Instruct',
      promptVersion: 'radiologist@1',
      image: { width: 512, height: 384, tokens: 192 },
      downscaled: false,
      // A raster image is always scanned for burned-in text; only counts are reported.
      burnedInText: {
        regions: expect.any(Number),
        redacted: expect.any(Number),
        keptMarkers: expect.any(Number),
      },
    });
    expect(read.findings[0]).toMatchObject({
      label: 'Pulmonary nodule',
      location: 'right upper lobe',
      // Issue 18: the model's description of the finding reaches the reader.
      characteristics: 'solid, smooth margins',
      confidence: { source: 'probe-logprob', calibrated: false, grounded: true, band: 'high' },
    });
    // Issue 18: every result says which display window the model saw (a PNG is shown as stored).
    expect(read.window).toMatchObject({ source: expect.any(String), description: expect.any(String) });
    const sent = fake.requests.find((r) => r.kind === 'read');
    expect(sent?.image).toMatchObject({ width: 512, height: 384 });
  });

  it('prints human-readable text with the confidence source and the disclaimer, never the file name', async () => {
    const { code, out } = await runCliCaptured(['ask', scan, 'Any nodules?'], env());
    expect(code).toBe(0);
    expect(out).toMatch(/Pulmonary nodule — right upper lobe/);
    expect(out).toMatch(/confidence high \(90%\) · model probability · not calibrated/);
    expect(out).toContain('solid, smooth margins');
    expect(out).toMatch(/Display window: /);
    expect(out).toContain('not for diagnostic use');
    expect(out).not.toContain('Doe_Jane');
  });

  it('exits 1 with a coded message when the engine is down, and 2 for a missing file', async () => {
    const down = await runCliCaptured(['ask', scan, 'q'], { ...env(), ENGINE_URL: 'http://127.0.0.1:9/v1' });
    expect(down.code).toBe(1);
    expect(down.err).toContain('[ENGINE_UNAVAILABLE]');
    // Nothing waits in a queue here: the message says how to start a server instead.
    expect(down.err).toContain('vllm serve');
    expect(down.err).not.toContain('waiting in the queue');
    const missing = await runCliCaptured(['ask', join(dir, 'Smith_John.dcm'), 'q'], env());
    expect(missing.code).toBe(2);
    expect(missing.err).not.toContain('Smith_John');
  });
});

describe('quickread ask on an image with text in its pixels', () => {
  it('says the text was blacked out before the read', async () => {
    const labelled = join(dir, 'labelled.png');
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">
      <rect width="640" height="480" fill="#202020"/><circle cx="320" cy="260" r="140" fill="#909090"/>
      <text x="24" y="52" font-family="DejaVu Sans" font-size="30" fill="#ffffff">SMITH JOHN 1950-01-01</text>
    </svg>`;
    await writeFile(labelled, await sharp(Buffer.from(svg)).png().toBuffer());
    const { code, out } = await runCliCaptured(['ask', labelled, 'Any nodules?'], env());
    expect(code).toBe(0);
    expect(out).toMatch(
      /Text found in the image pixels \(\d+ region\(s\)\) was blacked out before the read\./,
    );
  });
});

describe('quickread calibrate', () => {
  it('fits a table from a labelled CSV that the next read applies', async () => {
    const rows = ['raw_confidence,label,source,model'];
    for (let i = 0; i < 40; i++)
      rows.push(`0.9,${i % 4 === 0 ? 1 : 0},probe-logprob,Qwen/Qwen3-VL-8B-Instruct`);
    rows.push('0.9,1,probe-logprob,some-other-model');
    const csv = join(dir, 'labels.csv');
    await writeFile(csv, `${rows.join('\n')}\n`);
    const fit = await runCliCaptured(['calibrate', '--labels', csv], env());
    expect(fit.code).toBe(0);
    expect(fit.out).toMatch(/✓ probe-logprob: platt on 40 cases \(10 positive\)/);
    expect(fit.out).toContain('Skipped 1 row');
    const saved = JSON.parse(
      await readFile(
        join(dir, 'calibration', 'Qwen_Qwen3-VL-8B-Instruct__radiologist@1__probe-logprob.json'),
        'utf8',
      ),
    );
    expect(saved.brierAfter).toBeLessThan(saved.brierBefore);
    const { out } = await runCliCaptured(['ask', scan, 'Any nodules?', '--json'], env());
    const confidence = JSON.parse(out).findings[0].confidence;
    expect(confidence.calibrated).toBe(true);
    expect(confidence.value).toBeLessThan(0.4);
  });

  it('refuses a file without the needed columns or with too few cases', async () => {
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'score,truth_value\n0.5,1\n');
    expect((await runCliCaptured(['calibrate', '--labels', bad], env())).code).toBe(2);
    const few = join(dir, 'few.csv');
    await writeFile(few, 'raw_confidence,label\n0.5,1\n0.4,0\n');
    const result = await runCliCaptured(['calibrate', '--labels', few], env());
    expect(result.code).toBe(2);
    expect(result.err).toContain('at least 20');
  });
});

describe('quickread ask with several files (a study)', () => {
  it('reads every file in one request and lists the images in --json', async () => {
    const second = join(dir, 'Doe_Jane_lateral.png');
    await writeFile(second, await syntheticPng(480, 640));
    const before = fake.requests.length;
    const { code, out } = await runCliCaptured(['ask', scan, second, 'Any effusion?', '--json'], {
      ...env(),
      STUDY_MAX_TOKENS: '256',
    });
    expect(code).toBe(0);
    const read = JSON.parse(out);
    // 512×384 and 384×512 are 192 tokens each; a 256-token budget fits both at 416 px (13×9 + 9×13 = 234;
    // at 448 px it would be 2 × 14×10 = 280).
    expect(read.images).toEqual([
      {
        label: 'Image 1 of 2',
        width: 416,
        height: 288,
        tokens: 117,
        window: expect.objectContaining({ source: expect.any(String) }),
      },
      {
        label: 'Image 2 of 2',
        width: 288,
        height: 416,
        tokens: 117,
        window: expect.objectContaining({ source: expect.any(String) }),
      },
    ]);
    expect(read.notes).toEqual([]);
    const sent = fake.requests.slice(before).find((r) => r.kind === 'read')!;
    expect(sent.images.map((facts) => [facts.width, facts.height])).toEqual([
      [416, 288],
      [288, 416],
    ]);
    expect(out).not.toContain('Doe_Jane');
  });

  it('names a file it could not read, and still reads the others', async () => {
    const junk = join(dir, 'Doe_Jane_notes.txt');
    await writeFile(junk, 'not an image');
    const { code, out } = await runCliCaptured(['ask', scan, junk, 'Any effusion?'], env());
    expect(code).toBe(0);
    expect(out).toMatch(/Note: 1 of 2 images read; the others were not sent: image 2 could not be read \(/);
    expect(out).not.toContain('Doe_Jane');
  });

  it('needs a question after the files', async () => {
    const { code } = await runCliCaptured(['ask', scan], env());
    expect(code).toBe(2);
  });
});
