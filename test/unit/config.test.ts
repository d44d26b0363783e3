import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configKeys, loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';

describe('config', () => {
  it('has the DESIGN §4 defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.ENGINE).toBe('openai');
    expect(config.ENGINE_URL).toBe('http://127.0.0.1:8000/v1');
    expect(config.ENGINE_MODEL).toBe('Qwen/Qwen3-VL-8B-Instruct');
    expect(config.ENGINE_CONCURRENCY).toBe(1);
    expect(config.MAX_IMAGE_SIZE).toBe(1024);
    expect(config.TEMPERATURE).toBe(0.3);
    expect(config.SLACK_FILE_HOSTS).toEqual(['https://files.slack.com']);
    expect(config.DISCORD_CDN_HOSTS).toEqual(['https://cdn.discordapp.com', 'https://media.discordapp.net']);
    expect(config.CONSOLE_HOST).toBe('127.0.0.1');
    expect(config.CONSOLE_PORT).toBe(8787);
    expect(config.ALLOWED_CHANNELS).toEqual([]);
    expect(config.BURNED_IN_TEXT).toBe('redact');
  });

  it('parses lists and numbers, and treats empty strings as unset', () => {
    const config = loadConfig({ STAT_CHANNELS: ' C1, C2 ,', ENGINE_CONCURRENCY: '8', ENGINE_API_KEY: '' });
    expect(config.STAT_CHANNELS).toEqual(['C1', 'C2']);
    expect(config.ENGINE_CONCURRENCY).toBe(8);
    expect(config.ENGINE_API_KEY).toBe('');
  });

  it('reports every problem at once, by name and never by value', () => {
    const secretish = 'xoxb-SHOULD-NOT-APPEAR';
    let caught: unknown;
    try {
      loadConfig({
        ENGINE: secretish,
        MAX_IMAGE_SIZE: 'huge',
        SLACK_FILE_HOSTS: 'https://evil.example/path',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    const error = caught as AppError;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.exitCode).toBe(2);
    expect(error.details.variables).toEqual(
      expect.arrayContaining(['ENGINE', 'MAX_IMAGE_SIZE', 'SLACK_FILE_HOSTS']),
    );
    expect(`${error.message}\n${error.userMessage}`).not.toContain(secretish);
    expect(error.userMessage).not.toContain('evil.example');
  });

  it('refuses file hosts with a path, since tokens go only to exact origins', () => {
    expect(() => loadConfig({ SLACK_FILE_HOSTS: 'https://files.slack.com/evil' })).toThrow(AppError);
    expect(loadConfig({ SLACK_FILE_HOSTS: 'http://127.0.0.1:9999' }).SLACK_FILE_HOSTS).toEqual([
      'http://127.0.0.1:9999',
    ]);
  });

  it('keeps .env.example in step with the schema, each variable with a comment', () => {
    const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const lines = text.split('\n');
    const names: string[] = [];
    lines.forEach((line, index) => {
      const match = /^([A-Z0-9_]+)=/.exec(line);
      if (!match) return;
      names.push(match[1]!);
      expect(lines[index - 1] ?? '', `comment above ${match[1]}`).toMatch(/^# \S/);
    });
    expect([...names].sort()).toEqual([...configKeys].sort());
    // The example's values are the defaults: loading it must succeed and equal loading nothing.
    const env = Object.fromEntries(
      lines.filter((line) => /^[A-Z]/.test(line)).map((line) => line.split(/=(.*)/s).slice(0, 2)),
    ) as Record<string, string>;
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });
});
