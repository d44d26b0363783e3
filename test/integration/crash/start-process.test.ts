import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { stateOnDisk } from '../../helpers/state-on-disk.ts';

/**
 * The real `quickread start` process, driven through the console's HTTP API, killed with SIGKILL while
 * a request is queued (engine down) or being read (engine hangs), then started again: the request is
 * read and recorded exactly once. (The answered-not-posted and posted-not-marked phases need pause
 * points inside the process; crash.test.ts covers them with a test-only bot process.)
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));
let engine: FakeOpenAI;
let image: Buffer;
const children: ChildProcess[] = [];

beforeAll(async () => {
  engine = await startFakeOpenAI();
  const pixels = Buffer.alloc(128 * 128);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 7) % 251;
  image = await sharp(pixels, { raw: { width: 128, height: 128, channels: 1 } })
    .png()
    .toBuffer();
});
afterAll(async () => {
  await engine?.close();
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

function start(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['src/quickread.mjs', 'start'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      out += String(chunk);
      const match = /console: (http:\/\/\S+)/.exec(out);
      if (match) resolve({ child, url: match[1]!.replace(/\/$/, '') });
    });
    child.stderr!.on('data', (chunk) => {
      if (process.env.QR_DEBUG) process.stderr.write(chunk);
      out += String(chunk);
    });
    child.on('exit', (code) => reject(new Error(`quickread start exited (${code}): ${out}`)));
  });
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const jobsOnDisk = async (dataDir: string) =>
  Object.values((await stateOnDisk(dataDir)).jobs) as Array<{
    id: string;
    status: string;
    imageRef?: string;
    postedMessageId?: string;
  }>;

/** How many "read" lines the audit log holds for a job. */
const auditReads = async (dataDir: string, jobId: string) =>
  (await readFile(join(dataDir, 'audit.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { event: string; job?: string })
    .filter((line) => line.event === 'read' && line.job === jobId).length;

const chatRequests = () => engine.requests.filter((r) => r.path.endsWith('/chat/completions')).length;

describe('quickread start survives SIGKILL and stops on SIGTERM', () => {
  for (const phase of ['queued', 'reading'] as const) {
    it(`resumes a request killed while ${phase}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), `qr-start-${phase}-`));
      try {
        const env = {
          DATA_DIR: dir,
          CONSOLE_PORT: String(await freePort()),
          ENGINE_URL: engine.url,
          ...(process.env.QR_DEBUG ? { LOG_LEVEL: 'debug' } : {}),
        };
        await engine.setMode(phase === 'queued' ? 'down' : 'hang');
        const before = chatRequests();
        const first = await start(env);
        const cookie = ((await fetch(`${first.url}/`)).headers.get('set-cookie') ?? '').split(';')[0]!;
        const form = new FormData();
        form.append('channel', 'radiology');
        form.append('question', 'any nodule?');
        form.append('file', new Blob([image], { type: 'image/png' }), 'scan.png');
        const posted = await fetch(`${first.url}/api/messages`, {
          method: 'POST',
          body: form,
          headers: { cookie },
        });
        expect(posted.status).toBe(202);
        expect(((await posted.json()) as { outcome: string }).outcome).toBe('accepted');
        // The 202 came after the job was durable: it is on disk before anything else happens.
        const [job] = await jobsOnDisk(dir);
        expect(job?.status).toMatch(/queued|running/);
        // Console uploads live in the process's memory (there is nothing to download again after a
        // restart), so "queued" here means queued with its prepared image stored.
        await until(async () => ((await jobsOnDisk(dir))[0]?.imageRef ? true : undefined));
        if (phase === 'reading') await until(async () => (chatRequests() > before ? true : undefined));
        await kill(first.child);

        await engine.setMode('ok');
        const second = await start(env);
        const done = await until(async () => {
          const jobs = await jobsOnDisk(dir);
          return jobs.length === 1 && jobs[0]!.status === 'succeeded' ? jobs[0]! : undefined;
        });
        expect(done.id).toBe(job!.id);
        expect(done.postedMessageId).toBeDefined();
        // The audit line follows the job's last state write: wait for it rather than race it.
        await until(async () => ((await auditReads(dir, job!.id)) > 0 ? true : undefined));
        expect(await auditReads(dir, job!.id)).toBe(1);
        second.child.kill('SIGTERM');
        await new Promise((resolve) => second.child.once('exit', resolve));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('stops on SIGTERM with a read in flight within STOP_TIMEOUT_S, exits 0, and the restart answers it once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qr-start-sigterm-'));
    try {
      const env = {
        DATA_DIR: dir,
        CONSOLE_PORT: String(await freePort()),
        ENGINE_URL: engine.url,
        STOP_TIMEOUT_S: '2',
      };
      await engine.setMode('hang');
      const before = chatRequests();
      const first = await start(env);
      await postScan(first.url);
      const jobId = (await jobsOnDisk(dir))[0]!.id;
      await until(async () => (chatRequests() > before ? true : undefined));
      const stopped = Date.now();
      const exited = new Promise<number | null>((resolve) => first.child.once('exit', resolve));
      first.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // STOP_TIMEOUT_S for the read, then the rest of the stop; a loaded machine gets some slack.
      expect(Date.now() - stopped).toBeLessThan(12_000);
      expect((await jobsOnDisk(dir)).find((job) => job.id === jobId)?.status).not.toBe('succeeded');

      await engine.setMode('ok');
      const second = await start(env);
      await until(async () => {
        const jobs = await jobsOnDisk(dir);
        return jobs.length === 1 && jobs[0]!.status === 'succeeded' && jobs[0]!.postedMessageId
          ? true
          : undefined;
      });
      await until(async () => ((await auditReads(dir, jobId)) > 0 ? true : undefined));
      expect(await auditReads(dir, jobId)).toBe(1);
      const exitedAgain = new Promise<number | null>((resolve) => second.child.once('exit', resolve));
      second.child.kill('SIGINT');
      expect(await exitedAgain).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('exits at once on a second signal, however long the read would take', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qr-start-twice-'));
    try {
      const env = {
        DATA_DIR: dir,
        CONSOLE_PORT: String(await freePort()),
        ENGINE_URL: engine.url,
        STOP_TIMEOUT_S: '600',
      };
      await engine.setMode('hang');
      const before = chatRequests();
      const first = await start(env);
      await postScan(first.url);
      await until(async () => (chatRequests() > before ? true : undefined));
      const exited = new Promise<number | null>((resolve) => first.child.once('exit', resolve));
      first.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(first.child.exitCode).toBeNull();
      const again = Date.now();
      first.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - again).toBeLessThan(3000);
      // The request is still owed: on disk, not answered.
      expect((await jobsOnDisk(dir))[0]?.status).toMatch(/queued|running/);
    } finally {
      await engine.setMode('ok');
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** Posts a scan through the console's HTTP API and checks it was accepted (stored). */
async function postScan(url: string): Promise<void> {
  const cookie = ((await fetch(`${url}/`)).headers.get('set-cookie') ?? '').split(';')[0]!;
  const form = new FormData();
  form.append('channel', 'radiology');
  form.append('question', 'any nodule?');
  form.append('file', new Blob([image], { type: 'image/png' }), 'scan.png');
  const posted = await fetch(`${url}/api/messages`, { method: 'POST', body: form, headers: { cookie } });
  expect(posted.status).toBe(202);
  expect(((await posted.json()) as { outcome: string }).outcome).toBe('accepted');
}
