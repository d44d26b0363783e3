// Decode-worker bootstrap: the sources are TypeScript run through tsx, and a worker thread does not
// inherit the parent's loader hooks, so register tsx here before loading the real worker.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
