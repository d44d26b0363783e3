// Decode-worker bootstrap: the sources are TypeScript run through tsx, and a worker thread does not
// inherit the parent's loader hooks, so register tsx here before loading the real worker. The plain-JS
// build (src/build.mjs) defines globalThis.__quickreadBuilt and rewrites './main.ts' to './main.js'.
if (!globalThis.__quickreadBuilt) (await import('tsx/esm/api')).register();
await import('./main.ts');
