import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/api/metrics.ts';
import { createOpsRoutes } from '../../../src/api/ops.ts';
import { isAppError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { openStore } from '../../../src/store/index.ts';
import type { Store } from '../../../src/store/types.ts';
import { visibleMessages } from '../../helpers/recording-adapter.ts';
import { contractJob as job } from '../../helpers/store-contract.ts';
import { request, setupBot, until } from '../core/setup.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qr-full-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** GET /healthz from the ops routes the bot mounts, over real HTTP on 127.0.0.1. */
async function healthz(store: Store): Promise<{ status: number; body: unknown }> {
  const source = {
    events: new EventEmitter(),
    stats: () => ({ queued: 0, preparing: 0, running: 0, engineUp: true, serviceMsEwma: 0 }),
  };
  const metrics = createMetrics(source, { processMetrics: false });
  const routes = createOpsRoutes({ metrics, source, model: 'm', storage: () => store.health() });
  const server = createServer((req, res) => void routes(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { status: res.status, body: await res.json() };
  } finally {
    server.close();
    metrics.close();
  }
}

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('store writes that fail (injected ENOSPC)', () => {
  it('refuses new jobs with STORE_FULL, keeps owed changes waiting and writes them once space returns', async () => {
    let full = false;
    const store = await openStore(dir, {
      logger: silentLogger,
      append: async (journal, lines) => {
        if (full) throw enospc();
        await journal.append(lines);
      },
    });
    await store.insertJob(job('owed'));
    full = true;
    const refused = await store.insertJob(job('new')).catch((error: unknown) => error);
    expect(isAppError(refused, 'STORE_FULL')).toBe(true);
    expect(await store.getJob('new')).toBeUndefined();
    // The answer of an owed job waits for the disk instead of failing.
    let answered = false;
    const update = store
      .updateJob('owed', { status: 'succeeded', answer: { kind: 'error', code: 'X', text: 't' } })
      .then(() => {
        answered = true;
      });
    await until(() => !store.health().ok);
    expect(store.health()).toEqual({
      ok: false,
      code: 'STORE_FULL',
      reason: "The bot's storage is full; try again later.",
    });
    const unhealthy = await healthz(store);
    expect(unhealthy.status).toBe(503);
    expect(unhealthy.body).toMatchObject({ ok: false, store: { code: 'STORE_FULL' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    // While writes fail, a new job is refused at once, without waiting for a retry.
    expect(isAppError(await store.insertJob(job('new2')).catch((e: unknown) => e), 'STORE_FULL')).toBe(true);
    full = false;
    await update;
    expect(store.health()).toEqual({ ok: true });
    expect((await healthz(store)).status).toBe(200);
    await store.insertJob(job('after'));
    await store.close();
    const again = await openStore(dir, { logger: silentLogger });
    expect(await again.getJob('owed')).toMatchObject({ status: 'succeeded' });
    expect((await again.listJobs()).map((j) => j.id).sort()).toEqual(['after', 'owed']);
    await again.close();
  });
});

/** A 4 MiB tmpfs: a real full disk. Needs CAP_SYS_ADMIN (root in CI containers); skipped otherwise. */
function mountSmallDisk(at: string): boolean {
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', at]);
  return result.status === 0;
}
const canMount = (() => {
  if (process.platform !== 'linux') return false;
  const probe = spawnSync('mktemp', ['-d']).stdout.toString().trim();
  const ok = !!probe && mountSmallDisk(probe);
  if (ok) spawnSync('umount', [probe]);
  if (probe) spawnSync('rmdir', [probe]);
  if (!ok) console.warn('disk-full test skipped: mounting a tmpfs is not allowed here');
  return ok;
})();

describe.skipIf(!canMount)('a bot whose disk fills up (real tmpfs)', () => {
  it('answers every accepted request once space returns, refuses new ones with STORE_FULL meanwhile', async () => {
    const disk = join(dir, 'disk');
    spawnSync('mkdir', [disk]);
    expect(mountSmallDisk(disk)).toBe(true);
    const bot = await setupBot({ dataDir: disk, hold: true });
    try {
      const accepted: string[] = [];
      const first = await bot.core.handle(request());
      expect(first).toMatchObject({ kind: 'accepted' });
      accepted.push((first as { jobId: string }).jobId);
      const filler = join(disk, 'filler');
      await writeFile(filler, Buffer.alloc(8 << 20)).catch(() => undefined);
      // The journal's last page may still take a line or two: post until the disk says no.
      let refusal: { kind: string; code?: string; reply?: { text?: string } } | undefined;
      for (let attempt = 0; attempt < 40 && !refusal; attempt += 1) {
        const outcome = (await bot.core.handle(request())) as { kind: string; jobId?: string };
        if (outcome.kind === 'refused') refusal = outcome;
        else accepted.push(outcome.jobId!);
      }
      expect(refusal).toMatchObject({ kind: 'refused', code: 'STORE_FULL' });
      expect(refusal?.reply?.text).toContain('storage is full');
      expect(bot.store.health()).toMatchObject({ ok: false, code: 'STORE_FULL' });
      bot.engine.releaseAll();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await rm(filler);
      await until(async () => {
        bot.engine.releaseAll();
        const jobs = await Promise.all(accepted.map((id) => bot.store.getJob(id)));
        return jobs.every((stored) => stored?.status === 'succeeded' && stored.postedMessageId);
      }, 20_000);
      // Exactly one read per accepted request, no restart needed.
      const reads = visibleMessages(bot.adapter.ops).filter((m) => m.message.kind === 'read');
      expect(reads).toHaveLength(accepted.length);
      expect(bot.store.health()).toEqual({ ok: true });
      expect(await bot.core.handle(request())).toMatchObject({ kind: 'accepted' });
    } finally {
      await bot.close(false);
      spawnSync('umount', ['-l', disk]);
    }
  }, 40_000);
});
