/**
 * A prior in a thread on real corpus radiographs (issue 17): a chest CR is read in a Slack thread,
 * then a second chest CR is posted in the same thread with "compare with the prior". The engine must
 * get one request with both images, labelled current and prior, asked for interval change, and with
 * no date from either file's DICOM header (PS3.3 C.7.2.1 Study Date, C.7.1.1 Patient's Birth Date…):
 * the prior is only "posted earlier in this thread". Real Bolt (HTTP mode), real core, store and
 * pipeline, fake Slack and fake vLLM. Skipped when ../shared/corpus is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeIngestWorkers } from '../../src/ingest/index.ts';
import type { FakeOpenAI } from '../fakes/openai-server.ts';
import type { FakeSlack } from '../fakes/slack-server.ts';
import { deliverSlack, eventEnvelope } from '../helpers/slack-sign.ts';
import { type SlackWorld, startSlackWorld } from '../helpers/slack-world.ts';

const root = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url));
const present = existsSync(`${root}MANIFEST.md`);
const corpusFile = (path: string) => readFileSync(`${root}${path}`);

// The prior (Study Date 1901-01-01) and the current film (study, acquisition, content dates and a birth date).
const PRIOR = 'dicom/cr_chest_siim_jpeg_baseline_8bit.dcm';
const CURRENT = 'dicom/cr_chest_pa_monochrome1_j2k_lossy.dcm';

const SECRET = 'prior-signing-secret';
const TOKEN = 'xoxb-prior-token';

/** Every DA/DT value in a file's header (read from the file, so the check follows the corpus). */
function headerDates(bytes: Buffer): string[] {
  const data = dicomParser.parseDicom(bytes as unknown as Uint8Array);
  const dates = new Set<string>();
  for (const [tag, element] of Object.entries(data.elements)) {
    if (element.vr !== 'DA' && element.vr !== 'DT') continue;
    const value = data.string(tag)?.slice(0, 8);
    if (value && /^\d{8}$/.test(value)) dates.add(value);
  }
  return [...dates];
}

/** A date as it might be written in a prompt: 20040826, 2004-08-26, 2004/08/26, 26.08.2004. */
const spellings = (date: string) => {
  const [y, m, d] = [date.slice(0, 4), date.slice(4, 6), date.slice(6, 8)];
  return [date, `${y}-${m}-${d}`, `${y}/${m}/${d}`, `${d}.${m}.${y}`, `${m}/${d}/${y}`];
};

let world: SlackWorld | undefined;
let engine: FakeOpenAI;
let slack: FakeSlack;
let eventsUrl: string;

beforeAll(async () => {
  if (!present) return;
  world = await startSlackWorld({ tempPrefix: 'qr-corpus-prior-', botToken: TOKEN, signingSecret: SECRET });
  ({ engine, slack, eventsUrl } = world);
});

afterAll(async () => {
  await world?.close();
  await closeIngestWorkers();
});

const send = (event: Record<string, unknown>) =>
  deliverSlack(eventsUrl, { json: eventEnvelope(event) }, { signingSecret: SECRET });
const reads = () => engine.requests.filter((r) => r.kind === 'read');
const done = (ts: string) =>
  slack.callsTo('reactions.add').some((c) => c.args.timestamp === ts && c.args.name === 'white_check_mark');
// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON
const userParts = (body: any): Array<{ type: string; text?: string }> =>
  body.messages.find((m: { content: unknown }) => Array.isArray(m.content)).content;
/** The request's words: every message with the image data left out (base64 holds digits by chance). */
// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON
const wordsOf = (body: any) =>
  JSON.stringify(body, (key, value) => (key === 'image_url' ? '[image]' : value));

describe.skipIf(!present)('a prior in a thread, on corpus radiographs', () => {
  it('reads a second chest film beside the first, labelled current and prior, with no header date', async () => {
    const thread = '1700300001.000100';
    await send({
      type: 'app_mention',
      channel: 'CRAD',
      user: 'UDOC1',
      text: `<@${slack.botUserId}> any pneumothorax?`,
      ts: thread,
      files: [slack.addFile(corpusFile(PRIOR), { name: 'chest.dcm', mimetype: 'application/dicom' })],
    });
    await slack.waitFor(() => done(thread), 45_000);
    expect(reads()).toHaveLength(1);
    expect(reads()[0]!.images).toHaveLength(1);

    const ts = '1700300002.000100';
    await send({
      type: 'app_mention',
      channel: 'CRAD',
      user: 'UDOC1',
      text: `<@${slack.botUserId}> compare with the prior`,
      ts,
      thread_ts: thread,
      files: [slack.addFile(corpusFile(CURRENT), { name: 'chest2.dcm', mimetype: 'application/dicom' })],
    });
    await slack.waitFor(() => done(ts), 45_000);

    expect(reads()).toHaveLength(2);
    const request = reads()[1]!;
    expect(request.images).toHaveLength(2);
    const texts = userParts(request.body)
      .filter((part) => part.type === 'text')
      .map((part) => part.text ?? '');
    expect(texts.slice(0, 2)).toEqual([
      'Image 1 of 2: current, PA view, CR',
      'Image 2 of 2: prior, posted earlier in this thread, PA view, CR',
    ]);
    // Current first: the 1955-row × 1841-column film (portrait); the prior is the 1024² film.
    const [current, prior] = request.images;
    expect(current!.height).toBeGreaterThan(current!.width);
    expect(prior!.width).toBe(prior!.height);
    // The guidance asks for interval change and says the prior's date is not known.
    expect(texts.at(-1)).toContain('Compare image 1 (current) with it and describe interval change');
    expect(texts.at(-1)).toContain('its date is not known');

    const dates = [...headerDates(corpusFile(PRIOR)), ...headerDates(corpusFile(CURRENT))];
    expect(dates.length).toBeGreaterThanOrEqual(3);
    const words = wordsOf(request.body);
    for (const date of dates) for (const spelling of spellings(date)) expect(words).not.toContain(spelling);
  });
});
