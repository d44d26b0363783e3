import sharp from 'sharp';
import type { Confidence, PreparedImage, ProbeOutcome } from '../../core/types.ts';
import type { ModelFinding } from '../output.ts';

/**
 * The yes/no probe: ask "is <finding> present?" with max_tokens 1 and read the top log-probabilities of
 * the first token. P(yes) is the yes mass over the yes + no mass, summed over every spelling the model
 * may use (case, a leading space or SentencePiece/BPE marker, English or Chinese), so mass on other
 * tokens ("The", "I") does not dilute it. The same probe on a blank image of the same size says how much
 * of that belief comes from the image at all.
 */

const YES = new Set(['yes', 'y', 'true', '是', '是的', '有', '对', '存在', 'oui', 'si', 'sí', 'ja', 'да']);
const NO = new Set([
  'no',
  'n',
  'false',
  '否',
  '不',
  '不是',
  '没有',
  '没',
  '無',
  '无',
  '不存在',
  'non',
  'nein',
  'нет',
]);

/** Real-image P(yes) must beat the blank image's by this much for a finding to count as image-grounded. */
export const GROUNDING_MARGIN = 0.1;

export interface TopLogprob {
  token: string;
  logprob: number;
}

export function normaliseToken(token: string): string {
  return token
    .replace(/^[\sĠ▁]+/u, '')
    .trim()
    .toLowerCase()
    .replace(/[.,:;!?。，：；！？"'`]+$/u, '');
}

/** P(yes) normalised over yes/no tokens, or undefined when neither appears in the top list. */
export function yesProbability(top: readonly TopLogprob[]): number | undefined {
  let yes = 0;
  let no = 0;
  const seen = new Set<string>();
  for (const entry of top) {
    if (!Number.isFinite(entry.logprob) || seen.has(entry.token)) continue;
    seen.add(entry.token);
    const word = normaliseToken(entry.token);
    if (YES.has(word)) yes += Math.exp(entry.logprob);
    else if (NO.has(word)) no += Math.exp(entry.logprob);
  }
  if (yes + no <= 0) return undefined;
  return yes / (yes + no);
}

/** The text a probe asks about: label plus location, so two nodules in different lobes are told apart. */
export function describeFinding(finding: ModelFinding): string {
  const where = finding.location ? ` (${finding.location})` : '';
  return `${finding.label}${where}`;
}

export interface ProbeResult {
  real: number | undefined;
  blank: number | undefined;
}

/** Combine the two probes into the confidence shown; undefined if the real-image probe gave nothing. */
export function probeConfidence(result: ProbeResult): Confidence | undefined {
  if (result.real === undefined) return undefined;
  const confidence: Confidence = { value: result.real, source: 'probe-logprob', calibrated: false };
  if (result.blank !== undefined) confidence.grounded = result.real - result.blank >= GROUNDING_MARGIN;
  return confidence;
}

const blankCache = new Map<string, Buffer>();

/** A uniform mid-grey PNG of the same size and channel count (cached: probes of one read share it). */
export async function blankPng(width: number, height: number, channels: 1 | 3): Promise<Buffer> {
  const key = `${width}x${height}x${channels}`;
  const cached = blankCache.get(key);
  if (cached) return cached;
  let pipeline = sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } });
  if (channels === 1) pipeline = pipeline.toColourspace('b-w');
  const png = await pipeline.png({ compressionLevel: 3 }).toBuffer();
  if (blankCache.size > 16) blankCache.clear();
  blankCache.set(key, png);
  return png;
}

/** Run tasks with at most `limit` in flight (probes of one read run concurrently, not unboundedly). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      out[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** PNG colour type from the IHDR chunk: grey (0) and grey + alpha (4) get a grey blank image. */
export const pngChannels = (png: Buffer): 1 | 3 => (png[25] === 0 || png[25] === 4 ? 1 : 3);

/**
 * Probe each named finding on the image and on a blank image of the same size (Engine.probe): the
 * caller names the findings, so an evaluation can ask about every labelled finding, listed or not.
 */
export async function probeNamedFindings(
  image: PreparedImage,
  findings: readonly string[],
  limit: number,
  probeOne: (png: Buffer, finding: string) => Promise<number | undefined>,
): Promise<ProbeOutcome[]> {
  if (findings.length === 0) return [];
  const blank = await blankPng(image.width, image.height, pngChannels(image.png));
  const tasks = findings.flatMap((text) => [
    { png: image.png, text },
    { png: blank, text },
  ]);
  const values = await mapLimit(tasks, limit, (task) => probeOne(task.png, task.text));
  return findings.map((_, i) => ({ real: values[2 * i], blank: values[2 * i + 1] }));
}
