// A stand-in decode worker for the pool tests: echoes, crashes or spins forever on request.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', ({ id, task }) => {
  if (task.mode === 'crash') throw new Error('decoder crashed');
  if (task.mode === 'spin') for (;;);
  if (task.mode === 'fail') {
    parentPort.postMessage({
      id,
      ok: false,
      error: { code: 'INPUT_CORRUPT', message: 'bad', userMessage: 'damaged', retryable: false, details: {} },
    });
    return;
  }
  setTimeout(() => parentPort.postMessage({ id, ok: true, value: task.value }), task.delayMs ?? 0);
});

parentPort.postMessage({ ready: true });
