/**
 * A study read through the openai engine against the loopback vLLM-shaped fake (issue 17): several
 * labelled image_url parts in one request, probes over the whole study, the out-of-memory ladder
 * shrinking every image, and a server whose --limit-mm-per-prompt is lower than the study.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { InferenceInput, StudyImage } from '../../../src/core/types.ts';
import { createEngine } from '../../../src/engine/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { decodeImageRef } from '../../fakes/image-facts.ts';
import { type FakeOpenAI, type FakeOpenAIOptions, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { visualqaKind } from './harness.ts';
import { preparedImage } from './image.ts';

let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(options: FakeOpenAIOptions = {}) {
  fake = await startFakeOpenAI({
    findings: [{ label: 'Pneumothorax', location: 'right apex', confidence: 0.8 }],
    ...options,
  });
  return createEngine(loadConfig({ ENGINE_URL: fake.url, DATA_DIR: '/nonexistent-qr' }), {
    logger: silentLogger,
  });
}

async function study(
  labels: string[],
  side = 512,
  roles: Array<StudyImage['role']> = [],
): Promise<StudyImage[]> {
  return Promise.all(
    labels.map(async (label, i) => {
      const image = await preparedImage(side, side - 64 * i, {
        meta: { modality: 'CR', bodyPart: 'CHEST', viewPosition: i === 1 ? 'LL' : 'PA' },
      });
      const role = roles[i];
      return { ...image, label, ...(role ? { role } : {}) };
    }),
  );
}

const input = (
  images: StudyImage[],
  question = 'Any pneumothorax?',
  history: InferenceInput['history'] = [],
) => ({
  image: images[0]!,
  study: images,
  question,
  history,
});

// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON
type Part = any;
const partsOf = (body: Part): Part[] => body.messages.find((m: Part) => Array.isArray(m.content)).content;

describe('openai engine: a study in one request', () => {
  it('sends every image after its label, in order, then the question', async () => {
    const engine = await start();
    const images = await study([
      'Image 1 of 3: PA view, CR',
      'Image 2 of 3: left lateral view, CR',
      'Image 3 of 3: PA view, CR',
    ]);
    const result = await engine.infer(input(images), AbortSignal.timeout(10_000));
    const read = fake!.requests.find((r) => r.kind === 'read')!;
    const parts = partsOf(read.body);
    expect(parts.map((p: Part) => p.type)).toEqual([
      'text',
      'image_url',
      'text',
      'image_url',
      'text',
      'image_url',
      'text',
    ]);
    expect(
      parts
        .filter((p: Part) => p.type === 'text')
        .slice(0, 3)
        .map((p: Part) => p.text),
    ).toEqual(images.map((i) => i.label));
    parts
      .filter((p: Part) => p.type === 'image_url')
      .forEach((p: Part, i: number) => {
        expect(decodeImageRef(p.image_url.url).equals(images[i]!.png)).toBe(true);
      });
    expect(parts.at(-1).text).toMatch(/The 3 images attached above/);
    expect(parts.at(-1).text).toContain('Any pneumothorax?');
    // The system prompt's facts name each image by its label.
    const system = read.body.messages[0].content as string;
    for (const image of images) expect(system).toContain(image.label);
    expect(read.images.map((facts) => [facts.width, facts.height])).toEqual([
      [512, 512],
      [512, 448],
      [512, 384],
    ]);
    expect(result.images?.map((image) => [image.label, image.width, image.height, image.tokens])).toEqual(
      images.map((image) => [image.label, image.width, image.height, image.tokens]),
    );
    expect(result.tokens.image).toBe(images.reduce((sum, image) => sum + image.tokens, 0));
  });

  it('probes each finding on the whole study and on the whole study blanked', async () => {
    const engine = await start();
    const images = await study(['Image 1 of 2: PA view, CR', 'Image 2 of 2: left lateral view, CR']);
    const result = await engine.infer(input(images), AbortSignal.timeout(10_000));
    const probes = fake!.requests.filter((r) => r.kind === 'probe');
    expect(probes).toHaveLength(2);
    expect(probes.map((p) => p.images.map((facts) => facts.blank))).toEqual(
      expect.arrayContaining([
        [false, false],
        [true, true],
      ]),
    );
    expect(result.findings[0]!.confidence.source).toBe('probe-logprob');
  });

  it('asks for interval change when the study holds a prior, and keeps the study on follow-ups', async () => {
    const engine = await start();
    const images = await study(
      [
        'Image 1 of 2: current, PA view, CR',
        'Image 2 of 2: prior, posted earlier in this thread, PA view, CR',
      ],
      512,
      ['current', 'prior'],
    );
    await engine.infer(input(images, 'Compare with the prior'), AbortSignal.timeout(10_000));
    const first = partsOf(fake!.requests.find((r) => r.kind === 'read')!.body);
    expect(first.at(-1).text).toMatch(/Image 2 is a prior image .* interval change/s);
    expect(first.at(-1).text).not.toMatch(/\d{4}-\d{2}-\d{2}/);

    const history = [
      { role: 'user' as const, text: 'Compare with the prior' },
      { role: 'assistant' as const, text: '{"impression":"stable"}' },
    ];
    await engine.infer(input(images, 'Is the effusion bigger?', history), AbortSignal.timeout(10_000));
    const followUp = fake!.requests.filter((r) => r.kind === 'read').at(-1)!;
    expect(followUp.images).toHaveLength(2);
    expect(followUp.body.messages.at(-1).content).toContain('Is the effusion bigger?');
  });

  it('shrinks the whole study on out of memory, every image, and reports the sizes read', async () => {
    const engine = await start();
    // The study is 2 × 256 = 512 tokens; the server takes at most 400.
    await fake!.setMode('oom-above', 400);
    const images = await study(['Image 1 of 2: PA view, CR', 'Image 2 of 2: PA view, CR'], 512);
    const result = await engine.infer(input(images), AbortSignal.timeout(10_000));
    const reads = fake!.requests.filter((r) => r.kind === 'read');
    expect(reads.map((r) => r.images.length)).toEqual(reads.map(() => 2));
    const accepted = reads.at(-1)!;
    expect(accepted.images.every((facts) => facts.width < 512)).toBe(true);
    expect(accepted.images.reduce((sum, facts) => sum + facts.tokens, 0)).toBeLessThanOrEqual(400);
    expect(result.downscaled).toBeDefined();
    expect(result.images?.map((image) => image.width)).toEqual(accepted.images.map((facts) => facts.width));
  });

  it('sends a labelled montage to a server that takes fewer images, and remembers it', async () => {
    const engine = await start({ maxImagesPerPrompt: 1 });
    const images = await study([
      'Image 1 of 3: PA view, CR',
      'Image 2 of 3: left lateral view, CR',
      'Image 3 of 3: PA view, CR',
    ]);
    const result = await engine.infer(input(images), AbortSignal.timeout(10_000));
    const reads = fake!.requests.filter((r) => r.kind === 'read');
    expect(reads).toHaveLength(1);
    expect(reads[0]!.images).toHaveLength(1);
    expect(partsOf(reads[0]!.body).at(-1).text).toMatch(/tiled in the attached picture/);
    expect(result.findings).toHaveLength(1);
    // Probes look at the montage too, so confidences keep their source.
    expect(fake!.requests.filter((r) => r.kind === 'probe').every((r) => r.images.length === 1)).toBe(true);
    expect(result.findings[0]!.confidence.source).toBe('probe-logprob');
    const refusedBefore = fake!.requests.filter(
      (r) => r.kind === 'other' && r.path.endsWith('/chat/completions'),
    ).length;
    expect(refusedBefore).toBe(1);
    await engine.infer(input(images), AbortSignal.timeout(10_000));
    const refusedAfter = fake!.requests.filter(
      (r) => r.kind === 'other' && r.path.endsWith('/chat/completions'),
    ).length;
    expect(refusedAfter).toBe(refusedBefore);
  });
});

describe('visualqa engine: a study as one labelled montage', () => {
  it('sends one montage within MAX_IMAGE_SIZE naming every image, and shrinks it whole on out of memory', async () => {
    const under = await visualqaKind.start();
    try {
      const images = await study([
        'Image 1 of 3: PA view, CR',
        'Image 2 of 3: left lateral view, CR',
        'Image 3 of 3: PA view, CR',
      ]);
      const result = await under.engine.infer(input(images), AbortSignal.timeout(10_000));
      const [sent] = under.readImages();
      // Three tiles on a 2×2 grid of 512-px cells: the montage is 1024² (MAX_IMAGE_SIZE).
      expect([sent!.width, sent!.height]).toEqual([1024, 1024]);
      const question = under.readBodies()[0].question as string;
      for (const image of images) expect(question).toContain(image.label);
      expect(question).toMatch(/tiled in the attached picture/);
      expect(result.images?.map((image) => image.label)).toEqual(images.map((image) => image.label));

      await under.setMode('oom-above', 600);
      const shrunk = await under.engine.infer(input(images), AbortSignal.timeout(10_000));
      const last = under.readImages().at(-1)!;
      expect(last.tokens).toBeLessThanOrEqual(600);
      expect(shrunk.downscaled).toMatchObject({ width: last.width, height: last.height });
    } finally {
      await under.close();
    }
  });
});
