import { runCli } from '../../src/cli.ts';
import type { DoctorDeps } from '../../src/commands/doctor.ts';
import type { Env } from '../../src/config.ts';

/** Run the CLI in process with an injected environment and captured output. */
export async function runCliCaptured(
  argv: string[],
  env: Env = {},
  doctor?: DoctorDeps,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    env,
    io: { out: (line) => out.push(line), err: (line) => err.push(line) },
    ...(doctor ? { doctor } : {}),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
