#!/usr/bin/env node
// The `quickread` bin: runs the TypeScript sources directly through tsx, so `npx quickread` works
// right after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
