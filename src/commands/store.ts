import type { Config } from '../config.ts';
import { repairStore } from '../store/repair.ts';
import type { CommandIO } from './output.ts';

/**
 * `quickread store repair [--discard-state]`: the operator's way out of STORE_CORRUPT (README "State").
 * Prints what was kept, each dropped entry by table and key (never contents), and where the old files are.
 */
export async function runStoreRepair(
  config: Config,
  io: CommandIO,
  options: { discardState?: boolean },
): Promise<number> {
  const report = await repairStore(config.DATA_DIR, { discard: !!options.discardState });
  if (options.discardState) io.out(`state discarded: ${config.DATA_DIR} starts empty`);
  else {
    io.out(
      `state rebuilt from ${report.base === 'none' ? 'the journal only (no readable snapshot)' : report.base} and the journal since it`,
    );
    const kept = Object.entries(report.kept).map(([table, count]) => `${count} ${table}`);
    io.out(`kept: ${kept.join(', ')}`);
    io.out(report.dropped.length === 0 ? 'dropped: nothing' : `dropped ${report.dropped.length}:`);
    for (const entry of report.dropped) io.out(`  ${entry.table} ${entry.key}`);
  }
  if (report.keptAside.length > 0) io.out(`old files kept aside: ${report.keptAside.join(', ')}`);
  return 0;
}
