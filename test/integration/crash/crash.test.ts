import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readRecordedOps, visibleMessages } from '../../helpers/recording-adapter.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const script = join(root, 'test/helpers/crash-bot.ts');
const REQUESTS = 3;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Start the bot process and resolve once a stdout line matches `until`. */
function runBot(
  env: Record<string, string>,
  until: RegExp,
): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += String(chunk);
  });
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk) => {
      buffer += String(chunk);
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (until.test(line)) resolve({ child, lines });
      }
    });
    child.on('exit', (code) =>
      reject(new Error(`bot exited (${code}) before ${until}: ${lines.join(' | ')} ${stderr}`)),
    );
  });
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('crash safety: SIGKILL at each phase, restart, every request answered exactly once', () => {
  for (const phase of ['queued', 'reading', 'answered', 'posted']) {
    it(`killed while ${phase}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), `qr-crash-${phase}-`));
      const env = {
        DATA_DIR: join(dir, 'data'),
        OPS_FILE: join(dir, 'ops.jsonl'),
        INFER_FILE: join(dir, 'infer.txt'),
        REQUESTS: String(REQUESTS),
      };
      try {
        const first = await runBot({ ...env, SUBMIT: '1', PAUSE_AT: phase }, /^PAUSED /);
        expect(first.lines.filter((l) => l === 'ACCEPTED accepted')).toHaveLength(REQUESTS);
        await killed(first.child);
        const answeredBefore = await readFile(env.INFER_FILE, 'utf8').catch(() => '');

        const second = await runBot({ ...env, SUBMIT: '0', PAUSE_AT: 'none' }, /^DONE$/);
        await new Promise((resolve) => second.child.once('exit', resolve));
        expect(second.lines.filter((l) => l === 'REDELIVERED duplicate')).toHaveLength(REQUESTS);

        const messages = visibleMessages(readRecordedOps(env.OPS_FILE));
        for (let i = 0; i < REQUESTS; i += 1) {
          const inThread = messages.filter((m) => m.thread.threadId === `msg-${i}`);
          // Exactly one message per request, and it ended as the read (no stray status, no duplicate).
          expect(inThread.map((m) => m.message.kind)).toEqual(['read']);
        }
        const infers = (await readFile(env.INFER_FILE, 'utf8')).trim().split('\n');
        // The first job was paused after its answer was stored: it is never computed again.
        if (phase === 'answered' || phase === 'posted') {
          expect(answeredBefore).toContain('q-0');
          expect(infers.filter((q) => q === 'q-0')).toHaveLength(1);
        }
        expect(new Set(infers)).toEqual(new Set(['q-0', 'q-1', 'q-2']));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
