import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config.ts';
import type { ConfidenceSource, Engine } from '../../../src/core/types.ts';
import { createEngine } from '../../../src/engine/index.ts';
import { silentLogger } from '../../../src/log.ts';
import type { ImageFacts } from '../../fakes/image-facts.ts';
import { type FakeFinding, type FakeOpenAIOptions, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { startFakeVisualQA } from '../../fakes/visualqa-server.ts';

/** One engine against its loopback fake, with the knobs the contract suite turns. */
export interface EngineUnderTest {
  engine: Engine;
  dataDir: string;
  /** Facts of the images the server was asked to read (probes excluded). */
  readImages(): ImageFacts[];
  // biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON
  readBodies(): any[];
  /** Delays the engine chose before retrying (sleep is recorded, not waited). */
  delays: number[];
  /** Modes both fakes know; openai-only modes ('malformed-once', 'loop-once') only for the openai kind. */
  setMode(mode: SharedMode | 'malformed-once' | 'loop-once', arg?: number): Promise<void>;
  close(): Promise<void>;
}

type SharedMode = 'ok' | 'down' | '503-once' | 'oom-above' | 'malformed' | 'hang';

export interface HarnessOptions {
  findings?: FakeFinding[];
  timeoutMs?: number;
  env?: Record<string, string>;
  openai?: FakeOpenAIOptions;
}

export interface EngineKind {
  name: 'openai' | 'visualqa';
  /** Where the finding confidence comes from when everything works. */
  source: ConfidenceSource;
  start(options?: HarnessOptions): Promise<EngineUnderTest>;
}

async function engineFor(
  kind: 'openai' | 'visualqa',
  url: string,
  options: HarnessOptions,
  delays: number[],
) {
  const dataDir = await mkdtemp(join(tmpdir(), 'qr-engine-'));
  const config = loadConfig({
    ENGINE: kind,
    ENGINE_URL: url,
    ENGINE_TIMEOUT_MS: String(options.timeoutMs ?? 2000),
    DATA_DIR: dataDir,
    ...options.env,
  });
  const engine = createEngine(config, {
    logger: silentLogger,
    retry: { attempts: 3, baseMs: 20, maxWaitMs: 5000 },
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
  return { engine, dataDir };
}

export const openaiKind: EngineKind = {
  name: 'openai',
  source: 'probe-logprob',
  async start(options = {}) {
    const fake = await startFakeOpenAI({
      ...options.openai,
      ...(options.findings ? { findings: options.findings } : {}),
    });
    const delays: number[] = [];
    const { engine, dataDir } = await engineFor('openai', fake.url, options, delays);
    return {
      engine,
      dataDir,
      delays,
      readImages: () => fake.requests.filter((r) => r.kind === 'read' && r.image).map((r) => r.image!),
      readBodies: () => fake.requests.filter((r) => r.kind === 'read').map((r) => r.body),
      setMode: (mode, arg) => fake.setMode(mode, arg),
      async close() {
        await fake.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export const visualqaKind: EngineKind = {
  name: 'visualqa',
  source: 'engine',
  async start(options = {}) {
    const fake = await startFakeVisualQA(options.findings ? { findings: options.findings } : {});
    const delays: number[] = [];
    const { engine, dataDir } = await engineFor('visualqa', fake.url, options, delays);
    return {
      engine,
      dataDir,
      delays,
      readImages: () => fake.requests.filter((r) => r.image).map((r) => r.image!),
      readBodies: () => fake.requests.filter((r) => r.path === '/v1/visualqa').map((r) => r.body),
      setMode: (mode, arg) => fake.setMode(mode as SharedMode, arg),
      async close() {
        await fake.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};
