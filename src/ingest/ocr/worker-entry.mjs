// Worker bootstrap: workers do not inherit the tsx loader the CLI registers in the main thread
// (src/quickread.mjs), so register it here before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
