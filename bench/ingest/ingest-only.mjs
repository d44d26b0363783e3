#!/usr/bin/env node
// bench/ingest's third contender: `quickread prepare` exactly as the bin runs it (same build, same
// decode pool, same output), but without the burned-in text scan of issue 9, so that it does the
// peer's work and nothing more: decode, modality LUT, window, fit, PNG. The product has no way to
// turn the scan off (DESIGN §4: BURNED_IN_TEXT is redact, flag or refuse); only this script passes
// the internal option. Usage: node bench/ingest/ingest-only.mjs FILE... --out DIR --json
import { freshBuild } from '../../src/build.mjs';

const built = freshBuild();
let load;
if (built) {
  load = (path) => import(new URL(path, built).href);
} else {
  (await import('tsx/esm/api')).register();
  load = (path) => import(new URL(`../../src/${path.replace(/\.js$/, '.ts')}`, import.meta.url).href);
}
const [{ runPrepare }, { loadConfig, readProcessEnv }] = await Promise.all([
  load('./commands/prepare.js'),
  load('./config.js'),
]);
const args = process.argv.slice(2);
const out = args.indexOf('--out');
const files = args.filter((arg, index) => !arg.startsWith('--') && (out < 0 || index !== out + 1));
const io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
process.exitCode = await runPrepare(
  files,
  { out: out < 0 ? undefined : args[out + 1], json: args.includes('--json') },
  loadConfig(readProcessEnv()),
  io,
  { scanForText: false },
);
