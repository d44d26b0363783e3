// Worker bootstrap: workers do not inherit the tsx loader the CLI registers in the main thread
// (src/quickread.mjs), so register it here before loading the TypeScript worker. The plain-JS build
// (src/build.mjs) defines globalThis.__quickreadBuilt and rewrites './worker.ts' to './worker.js'.
if (!globalThis.__quickreadBuilt) (await import('tsx/esm/api')).register();
await import('./worker.ts');
