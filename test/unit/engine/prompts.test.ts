import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemPrompt } from '../../../src/engine/openai/messages.ts';
import {
  loadPrompts,
  PROMPT_VERSION,
  PROMPTS_DIR,
  parsePrompt,
  REQUIRED_PROMPTS,
  renderPrompt,
} from '../../../src/engine/prompts.ts';
import { AppError } from '../../../src/errors.ts';
import { preparedImage } from '../../integration/engine/image.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function copyPrompts(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qr-prompts-'));
  dirs.push(dir);
  cpSync(PROMPTS_DIR, dir, { recursive: true });
  return dir;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof AppError ? error.code : 'not-app-error';
  }
  return undefined;
}

describe('prompt files', () => {
  it('load, validate and include every required template at the exported version', () => {
    const prompts = loadPrompts();
    for (const id of REQUIRED_PROMPTS) expect(prompts.has(id)).toBe(true);
    expect(`radiologist@${prompts.get('radiologist')!.version}`).toBe(PROMPT_VERSION);
  });

  it('reject a placeholder that is not declared', () => {
    const text = '---\nid: x\nversion: 1\nvariables: [question]\n---\n{{question}} {{qeustion}}';
    expect(code(() => parsePrompt(text, 'x.md'))).toBe('CONFIG_INVALID');
  });

  it('reject a declared variable the text never uses, and missing front matter', () => {
    expect(code(() => parsePrompt('---\nid: x\nversion: 1\nvariables: [a, b]\n---\n{{a}}', 'x.md'))).toBe(
      'CONFIG_INVALID',
    );
    expect(code(() => parsePrompt('just text {{a}}', 'x.md'))).toBe('CONFIG_INVALID');
    expect(code(() => parsePrompt('---\nid: X Y\nversion: one\n---\nhi', 'x.md'))).toBe('CONFIG_INVALID');
  });

  it('stop start-up when a file breaks or the version drifts from PROMPT_VERSION', () => {
    const broken = copyPrompts();
    writeFileSync(
      join(broken, 'read.md'),
      '---\nid: read\nversion: 1\nvariables: [question]\n---\n{{questoin}}',
    );
    expect(code(() => loadPrompts(broken))).toBe('CONFIG_INVALID');
    const bumped = copyPrompts();
    const main = join(bumped, 'radiologist.md');
    writeFileSync(main, readFileSync(main, 'utf8').replace('version: 1', 'version: 2'));
    expect(code(() => loadPrompts(bumped))).toBe('CONFIG_INVALID');
    const missing = copyPrompts();
    rmSync(join(missing, 'probe.md'));
    expect(code(() => loadPrompts(missing))).toBe('CONFIG_INVALID');
  });

  it('render with exactly the declared variables, taking values literally', () => {
    const prompts = loadPrompts();
    expect(renderPrompt(prompts, 'read', { question: 'cost $& and {{x}}?' })).toContain('cost $& and {{x}}?');
    expect(code(() => renderPrompt(prompts, 'read', {}))).toBe('INTERNAL');
    expect(code(() => renderPrompt(prompts, 'read', { question: 'q', extra: 'x' }))).toBe('INTERNAL');
  });
});

describe('system prompt', () => {
  it('states known facts, marks the rest unknown, and picks guidance by modality', async () => {
    const prompts = loadPrompts();
    const image = await preparedImage(512, 512, { meta: { modality: 'MG', laterality: 'L' } });
    const text = systemPrompt(prompts, image, 'mass?');
    expect(text).toContain('Modality (DICOM code): MG');
    expect(text).toMatch(/Not known: .*Body part.*pixel spacing/);
    expect(text).toContain('set sizeMm to null');
    expect(text).toContain('BI-RADS applies');
    expect(text).not.toContain('Lung-RADS only');
    expect(text).not.toMatch(/\{\{/);
  });

  it('uses no reporting scale for a chest radiograph', async () => {
    const image = await preparedImage(512, 512, {
      meta: { modality: 'DX', bodyPart: 'CHEST', viewPosition: 'PA' },
    });
    const text = systemPrompt(loadPrompts(), image, 'pneumothorax?');
    expect(text).toContain('Guidance for a chest radiograph');
    expect(text).toContain('View: PA');
  });
});
