#!/usr/bin/env node
// The `quickread` bin. It runs the plain-JS build of the sources (node_modules/.cache/quickread, made
// by the `prepare` script after `npm ci`, see src/build.mjs) when that build matches the sources
// exactly; when it does not (a source was edited since), it rebuilds first, and if that fails it runs
// the TypeScript sources themselves through tsx. `npx quickread` works right after `npm ci` with or
// without the build, and an edited source is never shadowed by a stale build.
import { build, freshBuild } from './build.mjs';

async function builtCli() {
  const fresh = freshBuild();
  if (fresh) return fresh;
  try {
    await build();
  } catch {
    return undefined; // e.g. a read-only node_modules: tsx below
  }
  return freshBuild();
}

const built = await builtCli();
let runCli;
if (built) {
  ({ runCli } = await import(built.href));
} else {
  (await import('tsx/esm/api')).register();
  ({ runCli } = await import('./cli.ts'));
}
process.exitCode = await runCli(process.argv.slice(2));
