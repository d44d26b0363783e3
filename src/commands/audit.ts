import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { CommandIO } from './output.ts';

/**
 * `quickread audit --critical --since 24h` (issue 19): time-to-acknowledge of each critical read that
 * was paged, from DATA_DIR/audit.jsonl, for the team's review. Reads only the audit log's hashes, times
 * and codes: job ids, never names.
 */

export interface AuditOptions {
  critical?: boolean;
  since: string;
}

/** "24h", "7d", "90m" → milliseconds. */
export function parseSince(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([mhd])$/.exec(text.trim());
  if (!match) {
    throw new AppError('USAGE', 'bad --since', {
      userMessage: '--since takes a number and a unit: 90m, 24h or 7d.',
    });
  }
  const unit = { m: 60_000, h: 3600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

interface Line {
  at: string;
  event: string;
  job?: string;
  step?: number;
  ackAfterSec?: number;
}

export interface CriticalRow {
  job: string;
  pagedAt: string;
  /** Highest escalation step reached (1 on-call, 2 backup, 3 channel). */
  step: number;
  ackAfterSec?: number;
  notCritical: boolean;
}

/** One row per paged read, in paging order. */
export function criticalRows(lines: Line[], sinceMs: number, now: number): CriticalRow[] {
  const rows = new Map<string, CriticalRow>();
  for (const line of lines) {
    if (!line.job) continue;
    if (line.event === 'paged' && Date.parse(line.at) >= now - sinceMs) {
      rows.set(line.job, { job: line.job, pagedAt: line.at, step: 1, notCritical: false });
      continue;
    }
    const row = rows.get(line.job);
    if (!row) continue;
    if ((line.event === 'escalated' || line.event === 'channel-alerted') && line.step) row.step = line.step;
    if (line.event === 'not-critical') row.notCritical = true;
    if (line.event === 'acknowledged' && row.ackAfterSec === undefined && line.ackAfterSec !== undefined)
      row.ackAfterSec = line.ackAfterSec;
  }
  return [...rows.values()];
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const minutes = (seconds: number) => `${(seconds / 60).toFixed(1)} min`;

export async function runAudit(
  config: Config,
  io: CommandIO,
  options: AuditOptions,
  now: number = Date.now(),
): Promise<number> {
  if (!options.critical) {
    throw new AppError('USAGE', 'audit without a report', {
      userMessage: 'Say which report: quickread audit --critical [--since 24h].',
    });
  }
  const sinceMs = parseSince(options.since);
  let text = '';
  try {
    text = await readFile(join(config.DATA_DIR, 'audit.jsonl'), 'utf8');
  } catch {
    io.out(`No audit log in ${config.DATA_DIR} yet: nothing has been read there.`);
    return 0;
  }
  const lines = text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Line];
      } catch {
        return []; // a torn last line after a crash
      }
    });
  const rows = criticalRows(lines, sinceMs, now);
  if (rows.length === 0) {
    io.out(`No critical read was paged in the last ${options.since}.`);
    return 0;
  }
  const stepName = ['', 'on-call', 'backup', 'channel'];
  io.out('paged at (UTC)            job                                   reached   acknowledged after');
  for (const row of rows) {
    const ack = row.ackAfterSec === undefined ? 'NOT ACKNOWLEDGED' : minutes(row.ackAfterSec);
    io.out(
      `${row.pagedAt.padEnd(25)} ${row.job.padEnd(37)} ${stepName[row.step]!.padEnd(9)} ${ack}${row.notCritical ? ' (marked not critical)' : ''}`,
    );
  }
  const acked = rows
    .map((row) => row.ackAfterSec)
    .filter((value): value is number => value !== undefined)
    .sort((a, b) => a - b);
  io.out(
    acked.length > 0
      ? `${rows.length} paged · ${acked.length} acknowledged · time to acknowledge: median ${minutes(percentile(acked, 50))}, p90 ${minutes(percentile(acked, 90))}`
      : `${rows.length} paged · none acknowledged`,
  );
  return 0;
}
