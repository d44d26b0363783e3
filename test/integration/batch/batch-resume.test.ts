import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { imageElements, writeDicom } from '../../helpers/dicom-writer.ts';

const bin = fileURLToPath(new URL('../../../src/quickread.mjs', import.meta.url));

/**
 * A loopback proxy in front of the fake engine that can hold back reads: after `allowReads` reads it
 * stops forwarding them, so exactly that many reads reach the engine before the batch is killed.
 */
async function startGate(target: string) {
  const upstream = new URL(target);
  let allowReads = Number.POSITIVE_INFINITY;
  let forwardedReads = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let isRead = false;
      if (req.url?.endsWith('/chat/completions')) {
        const json = JSON.parse(body.toString('utf8'));
        isRead = !(json.max_tokens === 1 && json.logprobs === true);
      }
      if (isRead) {
        if (forwardedReads >= allowReads) return; // held: never reaches the engine
        forwardedReads += 1;
      }
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    /** Forward `more` further reads, then hold the rest. */
    hold(more: number) {
      allowReads = forwardedReads + more;
    },
    open() {
      allowReads = Number.POSITIVE_INFINITY;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function image(seed: number): Promise<Buffer> {
  const blob = await sharp({
    create: { width: 30 + seed * 7, height: 50, channels: 3, background: { r: 200, g: 180, b: 160 } },
  })
    .png()
    .toBuffer();
  return sharp({
    create: { width: 160, height: 160, channels: 3, background: { r: 10 * seed, g: 20, b: 30 } },
  })
    .composite([{ input: blob, left: 10 + seed * 5, top: 40 }])
    .png()
    .toBuffer();
}

const rowsOf = async (path: string) =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map(
      (line) =>
        JSON.parse(line) as {
          file: string;
          ok: boolean;
          findings: unknown[];
          urgency: string;
          model: string;
        },
    );

function runBatch(args: string[], env: Record<string, string>, cwd: string): ChildProcess {
  return spawn(process.execPath, [bin, 'batch', ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );

describe('quickread batch: checkpoint, crash, --resume', () => {
  let fake: FakeOpenAI;
  let gate: Awaited<ReturnType<typeof startGate>>;
  let dir: string;
  const total = 6;
  const killAfter = 3;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    gate = await startGate(fake.url);
    dir = await mkdtemp(join(tmpdir(), 'qr-batch-'));
    await mkdir(join(dir, 'in', 'series'), { recursive: true });
    for (let i = 1; i <= total; i += 1) {
      const sub = i > 4 ? 'series/' : '';
      await writeFile(join(dir, 'in', `${sub}img-${i}.png`), await image(i));
    }
    await writeFile(join(dir, 'in', '.DS_Store'), 'junk');
  });

  afterAll(async () => {
    await gate?.close();
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is killed half-way, resumes, and reads every image exactly once', async () => {
    const env = {
      ENGINE_URL: gate.url,
      DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'silent',
      ENGINE_TIMEOUT_MS: '60000',
    };
    const args = ['--input-dir', join(dir, 'in'), '--output-dir', join(dir, 'out'), '--split-every', '4'];
    const results = join(dir, 'out', 'results.jsonl');

    gate.hold(killAfter);
    const first = runBatch(args, env, dir);
    let stderr = '';
    first.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const firstExit = exited(first);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      // The checkpoint row and the progress line are separate writes: wait for both (the gate holds
      // further reads, so nothing moves on meanwhile).
      const progressed = stderr.includes(`batch: ${killAfter}/${total} done`);
      if (progressed && existsSync(results) && (await rowsOf(results)).length >= killAfter) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    first.kill('SIGKILL');
    expect((await firstExit).signal).toBe('SIGKILL');
    expect(await rowsOf(results)).toHaveLength(killAfter);
    expect(stderr).toContain(`batch: ${killAfter}/${total} done`);
    expect(fake.requests.filter((r) => r.kind === 'read')).toHaveLength(killAfter);
    expect(existsSync(join(dir, 'out', 'summary.md'))).toBe(false);

    // Starting again without --resume refuses to mix runs.
    const refused = runBatch(args, env, dir);
    let refusal = '';
    refused.stderr?.on('data', (chunk) => {
      refusal += String(chunk);
    });
    expect((await exited(refused)).code).toBe(2);
    expect(refusal).toContain('--resume');

    gate.open();
    const second = runBatch([...args, '--resume'], env, dir);
    let out = '';
    second.stdout?.on('data', (chunk) => {
      out += String(chunk);
    });
    expect((await exited(second)).code).toBe(0);
    expect(out).toContain(`${total} images, ${total} read, 0 failed`);

    const rows = await rowsOf(results);
    const files = rows.map((row) => row.file).sort();
    expect(files).toEqual([
      'img-1.png',
      'img-2.png',
      'img-3.png',
      'img-4.png',
      'series/img-5.png',
      'series/img-6.png',
    ]);
    expect(
      rows.every((row) => row.ok && row.findings.length > 0 && row.model === 'Qwen/Qwen3-VL-8B-Instruct'),
    ).toBe(true);
    // Exactly one read per image reached the engine across both runs.
    expect(fake.requests.filter((r) => r.kind === 'read')).toHaveLength(total);

    const csv = await readFile(join(dir, 'out', 'summary.csv'), 'utf8');
    expect(csv.split('\r\n').filter(Boolean)).toHaveLength(total + 1);
    expect(csv.split('\r\n')[0]).toBe(
      'file,frame,ok,urgency,impression,findings,top_confidence,model,error_code,error,confidence_source,window,question',
    );
    const md = await readFile(join(dir, 'out', 'summary.md'), 'utf8');
    expect(md).toContain(`${total} images`);
    // Issue 18: the summary says what was asked and what the percentages are.
    expect(md).toContain('Question: Review this image as a radiologist.');
    expect(md).toMatch(/Confidence: band .* model probability · not calibrated/);
    expect(md).toMatch(/: (low|moderate|high) \(\d+%\)/);
    expect(md).toContain('| 6 | series/img-6.png |');
    expect(md).toMatch(/not a diagnosis/);
    expect(
      (await readFile(join(dir, 'out', 'summary-part-001.csv'), 'utf8')).split('\r\n').filter(Boolean),
    ).toHaveLength(5);
    expect(
      (await readFile(join(dir, 'out', 'summary-part-002.md'), 'utf8')).match(/^\| \d+ \|/gm),
    ).toHaveLength(2);
  }, 120_000);

  it('reads every frame of a multi-frame DICOM as its own image', async () => {
    const rows = 64;
    const columns = 64;
    const frames = 3;
    const pixels = new Uint8Array(rows * columns * frames);
    for (let f = 0; f < frames; f += 1) {
      for (let i = 0; i < rows * columns; i += 1) pixels[f * rows * columns + i] = (i % columns) * 3 + f * 20;
    }
    const input = join(dir, 'cine');
    await mkdir(input, { recursive: true });
    await writeFile(
      join(input, 'cine.dcm'),
      writeDicom(imageElements({ rows, columns, frames, bitsAllocated: 8, pixels })),
    );
    const readsBefore = fake.requests.filter((r) => r.kind === 'read').length;
    const child = runBatch(
      ['--input-dir', input, '--output-dir', join(dir, 'cine-out')],
      { ENGINE_URL: gate.url, DATA_DIR: join(dir, 'data2'), LOG_LEVEL: 'silent' },
      dir,
    );
    let progress = '';
    child.stderr?.on('data', (chunk) => {
      progress += String(chunk);
    });
    expect((await exited(child)).code).toBe(0);
    // Issue 18: the total counts the file's frames from the first line on, never 0/1 growing to 3.
    expect(progress.split('\n')[0]).toBe(`batch: 0/${frames} already done`);
    expect(progress).not.toMatch(/\/1 done/);
    const results = (await rowsOf(join(dir, 'cine-out', 'results.jsonl'))) as Array<{
      file: string;
      frame?: number;
    }>;
    expect(results.map((row) => `${row.file}#${row.frame}`).sort()).toEqual([
      'cine.dcm#1',
      'cine.dcm#2',
      'cine.dcm#3',
    ]);
    expect(fake.requests.filter((r) => r.kind === 'read').length - readsBefore).toBe(frames);
    expect(await readFile(join(dir, 'cine-out', 'summary.md'), 'utf8')).toContain('cine.dcm (frame 3)');
  }, 60_000);

  it('on Ctrl-C keeps the finished rows and says to rerun with --resume; --question is asked and recorded', async () => {
    const question = 'Any pneumothorax?';
    const out = join(dir, 'sigint-out');
    const results = join(out, 'results.jsonl');
    const env = { ENGINE_URL: gate.url, DATA_DIR: join(dir, 'data4'), LOG_LEVEL: 'silent' };
    const args = ['--input-dir', join(dir, 'in'), '--output-dir', out, '--question', question];
    const readsBefore = fake.requests.filter((r) => r.kind === 'read').length;
    gate.hold(2);
    const child = runBatch(args, env, dir);
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exit = exited(child);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (
        stderr.includes(`batch: 2/${total} done`) &&
        existsSync(results) &&
        (await rowsOf(results)).length >= 2
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    child.kill('SIGINT');
    expect((await exit).code).toBe(130);
    expect(stderr).toContain(`stopped after 2 of ${total} images`);
    expect(stderr).toContain('Rerun the same command with --resume');
    const kept = (await rowsOf(results)) as Array<{ question?: string; window?: { description: string } }>;
    expect(kept).toHaveLength(2);
    expect(
      kept.every((row) => row.question === question && typeof row.window?.description === 'string'),
    ).toBe(true);
    expect(existsSync(join(out, 'summary.md'))).toBe(false);
    // The question reached the model.
    const sent = fake.requests.filter((r) => r.kind === 'read').slice(readsBefore);
    expect(JSON.stringify(sent[0]?.body)).toContain(question);

    gate.open();
    const resumed = runBatch([...args, '--resume'], env, dir);
    expect((await exited(resumed)).code).toBe(0);
    expect(await readFile(join(out, 'summary.md'), 'utf8')).toContain(`Question: ${question}`);
  }, 120_000);

  it('stops at once, writing no rows, when the engine does not serve the model', async () => {
    const other = await startFakeOpenAI({ model: 'some/other-model' });
    const out = join(dir, 'wrong-model-out');
    const child = runBatch(
      ['--input-dir', join(dir, 'in'), '--output-dir', out],
      { ENGINE_URL: other.url, DATA_DIR: join(dir, 'data3'), LOG_LEVEL: 'silent' },
      dir,
    );
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    expect((await exited(child)).code).toBe(1);
    expect(stderr).toContain('ENGINE_MODEL_MISSING');
    expect(existsSync(join(out, 'results.jsonl')) ? await rowsOf(join(out, 'results.jsonl')) : []).toEqual(
      [],
    );
    await other.close();
  }, 60_000);
});
