import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** DESIGN §2 boundaries, enforced by reading the sources (idea: vercel/chat boundary.test.ts). */
const root = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(join(root, dir))) return out;
  for (const entry of readdirSync(join(root, dir))) {
    const path = join(dir, entry);
    if (statSync(join(root, path)).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|mjs|js)$/.test(entry)) out.push(path);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specs: string[] = [];
  const pattern = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of text.matchAll(pattern)) specs.push((match[1] ?? match[2])!);
  return specs;
}

/** Resolve a relative import to a repo-relative path; bare specifiers come back as they are. */
function resolveSpec(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return relative(root, join(root, file, '..', spec));
}

const chatSdk = /^(@slack\/|discord\.js|@discordjs\/)/;
const srcFiles = sourceFiles('src');
const adapterFiles = sourceFiles('adapters');

describe('architecture boundaries (DESIGN §2)', () => {
  it('finds the sources it polices', () => {
    expect(srcFiles.length).toBeGreaterThan(5);
    expect(srcFiles).toContain('src/config.ts');
  });

  it('keeps core, ingest, engine and dispatch free of adapters and chat SDKs', () => {
    const guarded = srcFiles.filter((file) => /^src\/(core|ingest|engine|dispatch|store)\//.test(file));
    const violations = guarded.flatMap((file) =>
      importsOf(file)
        .map((spec) => resolveSpec(file, spec))
        .filter((target) => target.startsWith('adapters/') || chatSdk.test(target))
        .map((target) => `${file} → ${target}`),
    );
    expect(violations).toEqual([]);
  });

  it('lets only main.ts wire adapters in', () => {
    const violations = srcFiles
      .filter((file) => file !== 'src/main.ts')
      .flatMap((file) =>
        importsOf(file)
          .map((spec) => resolveSpec(file, spec))
          .filter((target) => target.startsWith('adapters/'))
          .map((target) => `${file} → ${target}`),
      );
    expect(violations).toEqual([]);
  });

  it('lets adapters import only the core seam, errors, the logger, the config and shared network helpers', () => {
    // The seam (issue 14): the BotCore/ChatAdapter contract, the shared types and the reply model with
    // its catalogue. Nothing else of the core — its policies and flow are the core's alone.
    const allowed =
      /^(src\/core\/(adapter|types|reply)\.ts$|src\/errors\.ts$|src\/log\.ts$|src\/config\.ts$|src\/net\/|adapters\/)/;
    const violations = adapterFiles.flatMap((file) =>
      importsOf(file)
        .map((spec) => resolveSpec(file, spec))
        .filter((target) => target.startsWith('src/') && !allowed.test(target))
        .map((target) => `${file} → ${target}`),
    );
    expect(violations).toEqual([]);
  });

  it('keeps adapters apart from each other', () => {
    const violations = adapterFiles.flatMap((file) => {
      const own = file.split('/')[1];
      return importsOf(file)
        .map((spec) => resolveSpec(file, spec))
        .filter((target) => target.startsWith('adapters/') && target.split('/')[1] !== own)
        .map((target) => `${file} → ${target}`);
    });
    expect(violations).toEqual([]);
  });

  it('keeps the store free of the core but its shared types (no core ↔ store circle)', () => {
    const violations = srcFiles
      .filter((file) => file.startsWith('src/store/'))
      .flatMap((file) =>
        importsOf(file)
          .map((spec) => resolveSpec(file, spec))
          .filter((target) => target.startsWith('src/core/') && target !== 'src/core/types.ts')
          .map((target) => `${file} → ${target}`),
      );
    expect(violations).toEqual([]);
  });

  it('has no import cycles, type-only imports included', () => {
    const files = [...srcFiles, ...adapterFiles].filter((file) => file.endsWith('.ts'));
    const known = new Set(files);
    const edges = new Map(
      files.map((file) => [
        file,
        importsOf(file)
          .filter((spec) => spec.startsWith('.'))
          .map((spec) => resolveSpec(file, spec))
          .filter((target) => known.has(target)),
      ]),
    );
    // Depth-first search; a file met again while still on the path closes a cycle.
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (file: string): void => {
      state.set(file, 'open');
      path.push(file);
      for (const next of edges.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' → '));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('reads process.env only in src/config.ts and never uses console.* in shipped code', () => {
    const shipped = [...srcFiles, ...adapterFiles].filter((file) => !file.endsWith('.mjs'));
    const envReaders = shipped.filter(
      (file) => file !== 'src/config.ts' && /process\.env\b/.test(readFileSync(join(root, file), 'utf8')),
    );
    expect(envReaders).toEqual([]);
    const consoleUsers = shipped.filter((file) =>
      /\bconsole\.(log|info|warn|error|debug)\(/.test(readFileSync(join(root, file), 'utf8')),
    );
    expect(consoleUsers).toEqual([]);
  });
});
