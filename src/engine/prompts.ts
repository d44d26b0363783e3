import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AppError } from '../errors.ts';

/**
 * Prompts live as Markdown files in `prompts/` with YAML front matter (id, version, variables) so a
 * clinician can review them without reading code. They are loaded and checked once at start-up: a
 * placeholder that is not declared, or a declared variable that the text never uses, stops the process
 * with CONFIG_INVALID instead of silently sending `{{typo}}` to the model.
 */

/** The version stamped on every read; bump it with radiologist.md's `version` (calibration is keyed on it). */
export const PROMPT_VERSION = 'radiologist@1';

export const PROMPTS_DIR = fileURLToPath(new URL('../../prompts/', import.meta.url));

export interface PromptTemplate {
  id: string;
  version: number;
  variables: string[];
  body: string;
  file: string;
}

export type PromptSet = ReadonlyMap<string, PromptTemplate>;

const frontMatterSchema = z.object({
  id: z.string().regex(/^[a-z0-9-]+$/),
  version: z.number().int().positive(),
  description: z.string().optional(),
  variables: z.array(z.string().regex(/^[a-z_]+$/)).default([]),
});

const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;

/** The templates every engine needs: a missing one is a start-up error. */
export const REQUIRED_PROMPTS = [
  'radiologist',
  'read',
  'study',
  'followup',
  'repair',
  'probe',
  'visualqa',
  'chest-radiograph',
  'ct-chest',
  'ct-head',
  'ct-abdomen',
  'mr',
  'us',
  'mammography',
  'generic',
] as const;

function invalid(file: string, problem: string): AppError {
  return new AppError('CONFIG_INVALID', `prompt ${file}: ${problem}`, {
    userMessage: `The prompt file ${file} is invalid: ${problem}.`,
    details: { file },
  });
}

export function parsePrompt(text: string, file: string): PromptTemplate {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(text);
  if (!match) throw invalid(file, 'it has no front matter (--- id, version, variables ---)');
  let meta: z.infer<typeof frontMatterSchema>;
  try {
    meta = frontMatterSchema.parse(parseYaml(match[1]!));
  } catch {
    throw invalid(file, 'its front matter needs id (a-z0-9-), version (a positive integer) and variables');
  }
  const body = match[2]!.trim();
  const used = new Set([...body.matchAll(PLACEHOLDER)].map((m) => m[1]!));
  const declared = new Set(meta.variables);
  const unknown = [...used].filter((name) => !declared.has(name));
  if (unknown.length > 0) throw invalid(file, `it uses undeclared variables: ${unknown.join(', ')}`);
  const unused = [...declared].filter((name) => !used.has(name));
  if (unused.length > 0) throw invalid(file, `it declares variables it never uses: ${unused.join(', ')}`);
  return { id: meta.id, version: meta.version, variables: meta.variables, body, file };
}

/** Load every `*.md` under the folder (one level of sub-folders), keyed by id. */
export function loadPrompts(dir: string = PROMPTS_DIR): PromptSet {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      for (const inner of readdirSync(join(dir, entry.name))) {
        if (inner.endsWith('.md')) files.push(join(dir, entry.name, inner));
      }
    } else if (entry.name.endsWith('.md') && entry.name !== 'README.md') {
      files.push(join(dir, entry.name));
    }
  }
  const prompts = new Map<string, PromptTemplate>();
  for (const path of files) {
    const name = relative(dir, path);
    const prompt = parsePrompt(readFileSync(path, 'utf8'), name);
    if (prompts.has(prompt.id)) throw invalid(name, `id "${prompt.id}" is used by another file`);
    prompts.set(prompt.id, prompt);
  }
  const missing = REQUIRED_PROMPTS.filter((id) => !prompts.has(id));
  if (missing.length > 0) {
    throw new AppError('CONFIG_INVALID', `prompts missing: ${missing.join(', ')}`, {
      userMessage: `The prompts folder lacks: ${missing.join(', ')}.`,
    });
  }
  const main = prompts.get('radiologist')!;
  if (`radiologist@${main.version}` !== PROMPT_VERSION) {
    throw invalid(main.file, `its version ${main.version} does not match PROMPT_VERSION ${PROMPT_VERSION}`);
  }
  return prompts;
}

/** Fill a template; every declared variable must be given and nothing else. */
export function renderPrompt(prompts: PromptSet, id: string, values: Record<string, string>): string {
  const prompt = prompts.get(id);
  if (!prompt) throw new AppError('INTERNAL', `no prompt ${id}`);
  const given = Object.keys(values);
  const missing = prompt.variables.filter((name) => !(name in values));
  const extra = given.filter((name) => !prompt.variables.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    throw new AppError(
      'INTERNAL',
      `prompt ${id}: missing ${missing.join(',') || '-'}; unknown ${extra.join(',') || '-'}`,
    );
  }
  // A function replacement so `$&` or `$1` inside a value (a question) is taken literally.
  return prompt.body.replace(PLACEHOLDER, (_whole, name: string) => values[name] ?? '');
}

let cached: PromptSet | undefined;
/** The project's prompts, loaded once per process. */
export function defaultPrompts(): PromptSet {
  cached ??= loadPrompts();
  return cached;
}
