import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeImageRef, type ImageFacts, imageFacts } from './image-facts.ts';
import type { FakeFinding } from './openai-server.ts';
import { restartableServer } from './restartable-server.ts';

/**
 * A loopback fake of the original `:7860` visual-QA service: `POST /v1/visualqa {image, question,
 * temperature}` → `{response, confidence}` (FastAPI style errors: `{detail}`). The answer is derived
 * from the request: the configured findings for a real image, "no anatomy visible" for a blank one.
 * `style: 'json'` answers with the findings JSON inside `response` (a server that honours the prompt);
 * `style: 'text'` answers free text in "Findings: / Impression: / Urgency:" sections.
 */

export type FakeVisualQAMode = 'ok' | 'down' | '503-once' | '503' | 'oom-above' | 'malformed' | 'hang';

export interface FakeVisualQAOptions {
  findings?: FakeFinding[];
  impression?: string;
  urgency?: 'routine' | 'urgent' | 'critical';
  /** The service's own confidence number (default 0.82). */
  confidence?: number;
  style?: 'json' | 'text';
}

export interface RecordedVisualQARequest {
  method: string;
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary request JSON
  body: any;
  headers: Record<string, string>;
  image?: ImageFacts;
}

export interface FakeVisualQA {
  /** Base URL of the service (no path): the engine posts to `${url}/v1/visualqa`. */
  url: string;
  requests: RecordedVisualQARequest[];
  setMode(mode: FakeVisualQAMode, arg?: number): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT: FakeFinding[] = [
  {
    label: 'Pulmonary nodule',
    location: 'right upper lobe',
    sizeMm: 8,
    laterality: 'right',
    severity: 'mild',
  },
];

export async function startFakeVisualQA(options: FakeVisualQAOptions = {}): Promise<FakeVisualQA> {
  const requests: RecordedVisualQARequest[] = [];
  let mode: FakeVisualQAMode = 'ok';
  let modeArg: number | undefined;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: { image?: string; question?: string; temperature?: number } | undefined;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    const recorded: RecordedVisualQARequest = {
      method: req.method ?? 'GET',
      path,
      body,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
    };
    requests.push(recorded);
    if (req.method === 'GET' && path === '/healthz') {
      send(res, 200, { status: 'ok' });
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/visualqa') {
      send(res, 404, { detail: 'Not Found' });
      return;
    }
    if (!body || typeof body.image !== 'string' || typeof body.question !== 'string') {
      send(res, 422, { detail: 'image and question are required' });
      return;
    }
    recorded.image = await imageFacts(decodeImageRef(body.image)).catch(() => undefined);
    if (!recorded.image) {
      send(res, 400, { detail: 'image could not be decoded' });
      return;
    }
    if (mode === 'hang') return;
    if (mode === '503' || mode === '503-once') {
      if (mode === '503-once') mode = 'ok';
      send(res, 503, { detail: 'Service Unavailable' }, { 'retry-after': String(modeArg ?? 0) });
      return;
    }
    if (mode === 'oom-above' && recorded.image.tokens > (modeArg ?? 0)) {
      send(res, 500, { detail: 'CUDA out of memory. Tried to allocate 1.50 GiB' });
      return;
    }
    const confidence = options.confidence ?? 0.82;
    if (mode === 'malformed') {
      send(res, 200, { response: '', confidence });
      return;
    }
    send(res, 200, { response: answer(recorded.image, options), confidence });
  };

  const server = restartableServer(handle, (res) => send(res, 500, { detail: 'fake server failure' }));
  const { listen, stop } = server;
  await listen();
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    async setMode(next, arg) {
      const wasDown = mode === 'down';
      mode = next;
      modeArg = arg;
      if (next === 'down' && !wasDown) await stop();
      if (next !== 'down' && wasDown) await listen();
    },
    close: stop,
  };
}

function answer(image: ImageFacts, options: FakeVisualQAOptions): string {
  const findings = image.blank ? [] : (options.findings ?? DEFAULT);
  const impression = image.blank
    ? 'The image is uniform: no anatomy is visible to assess.'
    : (options.impression ?? (findings[0] ? `${findings[0].label}.` : 'No acute findings.'));
  const urgency = image.blank ? 'routine' : (options.urgency ?? 'routine');
  if (options.style === 'json') {
    return JSON.stringify({
      findings: findings.map((f) => ({
        label: f.label,
        location: f.location,
        sizeMm: f.sizeMm ?? null,
        laterality: f.laterality ?? 'none',
        severity: f.severity ?? 'mild',
        characteristics: f.characteristics ?? '',
        confidence: f.confidence ?? 0.6,
      })),
      impression,
      urgency,
      recommendations: ['Compare with prior imaging if available.'],
      imageQuality: image.blank ? 'non-diagnostic' : 'diagnostic',
    });
  }
  const lines = findings.map(
    (f, i) => `${i + 1}. ${f.label} in the ${f.location}${f.sizeMm ? `, ${f.sizeMm} mm` : ''}.`,
  );
  return [
    'Findings:',
    ...(lines.length > 0 ? lines : ['None.']),
    `Impression: ${impression}`,
    `Urgency: ${urgency}`,
    'Recommendations:',
    '- Compare with prior imaging if available.',
  ].join('\n');
}
