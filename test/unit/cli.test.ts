import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.ts';

let dataDir: string;
let server: Server;
let serverUrl: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'qr-cli-'));
  // A loopback OpenAI-compatible server shaped like vLLM's answers, started with
  // --limit-mm-per-prompt '{"image":2}': more images get vLLM's 400 (vllm/multimodal/parse.py).
  server = createServer(async (req, res) => {
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const images = (raw.match(/"type":"image_url"/g) ?? []).length;
      res.setHeader('content-type', 'application/json');
      if (images > 2) {
        res.statusCode = 400;
        res.end(
          JSON.stringify({
            object: 'error',
            message:
              'At most 2 image(s) may be provided in one prompt. Set `--limit-mm-per-prompt` to increase this limit.',
            type: 'BadRequestError',
            param: null,
            code: 400,
          }),
        );
        return;
      }
      res.end(
        JSON.stringify({
          choices: [{ message: { role: 'assistant', content: 'ok' }, finish_reason: 'length' }],
        }),
      );
      return;
    }
    if (req.url === '/v1/models') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ object: 'list', data: [{ id: 'Qwen/Qwen3-VL-2B-Instruct', object: 'model' }] }),
      );
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('quickread command', () => {
  it('lists every DESIGN §5 command in --help', async () => {
    const { code, out } = await runCliCaptured(['--help']);
    expect(code).toBe(0);
    for (const command of [
      'start',
      'prepare',
      'ask',
      'serve-api',
      'batch',
      'eval',
      'model',
      'calibrate',
      'doctor',
    ]) {
      expect(out).toMatch(new RegExp(`\\n  ${command}\\b`));
    }
  });

  it('exits 2 on an unknown command', async () => {
    expect((await runCliCaptured(['frobnicate'])).code).toBe(2);
  });

  it('doctor names a bad variable and exits 2', async () => {
    const { code, err } = await runCliCaptured(['doctor'], { ENGINE_CONCURRENCY: 'lots', DATA_DIR: dataDir });
    expect(code).toBe(2);
    expect(err).toContain('ENGINE_CONCURRENCY');
    expect(err).not.toContain('lots');
  });

  it('doctor says the engine is unreachable and prints the vLLM command', async () => {
    const { code, out } = await runCliCaptured(['doctor'], {
      DATA_DIR: dataDir,
      ENGINE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(code).toBe(1);
    expect(out).toContain('✗ engine');
    expect(out).toContain('vllm serve Qwen/Qwen3-VL-8B-Instruct');
    expect(out).toContain('✓ data dir');
  });

  it('doctor reports a served model that is not the configured one', async () => {
    const { code, out } = await runCliCaptured(['doctor'], { DATA_DIR: dataDir, ENGINE_URL: serverUrl });
    expect(code).toBe(1);
    expect(out).toContain('✓ engine');
    expect(out).toContain('✗ model');
    expect(out).toContain('Qwen/Qwen3-VL-2B-Instruct');
  });

  it('doctor passes when the configured model is served, and checks chat credentials', async () => {
    const ok = await runCliCaptured(['doctor'], {
      DATA_DIR: dataDir,
      ENGINE_URL: serverUrl,
      ENGINE_MODEL: 'Qwen/Qwen3-VL-2B-Instruct',
      STUDY_MAX_IMAGES: '2',
    });
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('✓ study images: the server takes 2 images in one request');
    const slack = await runCliCaptured(['doctor'], {
      DATA_DIR: dataDir,
      ENGINE_URL: serverUrl,
      ENGINE_MODEL: 'Qwen/Qwen3-VL-2B-Instruct',
      STUDY_MAX_IMAGES: '2',
      SLACK_BOT_TOKEN: 'xoxb-test',
    });
    expect(slack.code).toBe(1);
    expect(slack.out).toContain('SLACK_APP_TOKEN');
    expect(slack.out).not.toContain('xoxb-test');
  });

  it('doctor reports a console open to the network without a sign-in, as start would refuse it', async () => {
    const served = {
      DATA_DIR: dataDir,
      ENGINE_URL: serverUrl,
      ENGINE_MODEL: 'Qwen/Qwen3-VL-2B-Instruct',
      STUDY_MAX_IMAGES: '2',
    };
    const open = await runCliCaptured(['doctor'], { ...served, CONSOLE_HOST: '0.0.0.0' });
    expect(open.code).toBe(1);
    expect(open.out).toContain('✗ console access: 0.0.0.0 without a usable sign-in');
    expect(open.out).toContain('CONSOLE_AUTH=token');
    const signedIn = await runCliCaptured(['doctor'], {
      ...served,
      CONSOLE_HOST: '0.0.0.0',
      CONSOLE_AUTH: 'token',
    });
    expect(signedIn.code).toBe(0);
    expect(signedIn.out).toContain('✓ console access: 0.0.0.0:8787 · sign-in: token');
  });

  it('doctor says when the server takes fewer images than a study, and how to raise the limit', async () => {
    const { code, out } = await runCliCaptured(['doctor'], {
      DATA_DIR: dataDir,
      ENGINE_URL: serverUrl,
      ENGINE_MODEL: 'Qwen/Qwen3-VL-2B-Instruct',
    });
    expect(code).toBe(1);
    expect(out).toContain(
      '✗ study images: the server takes at most 2 image(s) per request, fewer than STUDY_MAX_IMAGES=4',
    );
    expect(out).toContain(`--limit-mm-per-prompt '{"image":4,"video":0}'`);
  });
});
