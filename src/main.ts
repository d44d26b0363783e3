import type { CommandIO } from './commands/output.ts';
import { notImplemented } from './commands/output.ts';
import type { Config } from './config.ts';
import type { ChatAdapter } from './core/adapter.ts';

/**
 * Composition root (DESIGN §1): config → logger → store → engine → dispatcher → adapters.
 * The only module that wires adapters in.
 */
export async function runStart(_config: Config, _io: CommandIO): Promise<number> {
  const adapters: ChatAdapter[] = [];
  // ADAPTERS: one line per adapter
  void adapters;
  notImplemented('start');
}
