// The optional plain-JS build of src/ (issue 3: start-up). `quickread` runs the TypeScript sources
// through tsx, which costs a loader thread and an on-the-fly transform of every module on every start
// (most of a `prepare` run's fixed cost). After `npm ci` / `npm install` the `prepare` lifecycle script
// runs `node src/build.mjs`, which transpiles every source file one-to-one (no bundling, so relative
// paths, worker entries and lazy imports keep their meaning) into node_modules/.cache/quickread/: an
// ignored folder, never committed. src/quickread.mjs uses that build only while `freshBuild()` says it
// matches the sources byte for byte; any edit, added or removed file sends it back to tsx, so a stale
// build can never run.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SRC = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(SRC);
/** Where the build lives; node_modules/ is ignored by git and package resolution still walks up to it. */
export const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'quickread');
const MANIFEST = 'manifest.json';
/** Bump when the transform below changes, so an old build is never taken for a fresh one. */
const FORMAT = 3;
/**
 * Pure-JS packages loaded on every start that are spread over many ES modules (zod 4: ~130 files),
 * bundled into one file each: the ESM loader's per-module cost was most of their load time.
 */
const VENDOR = ['zod'];
/** Not part of the build: the bin itself and this file run from src/ in both modes. */
const SKIP = new Set(['quickread.mjs', 'build.mjs']);

/** TypeScript/ESM files under `dir`, relative to it with forward slashes. */
function codeFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) =>
      relative(dir, join(entry.parentPath ?? entry.path, entry.name))
        .split(sep)
        .join('/'),
    );
}

/**
 * Every source file the build covers, relative to src/ with forward slashes, sorted: src/ itself and
 * the sibling adapters/ folder (main.ts wires the adapters in), the latter as `../adapters/…`.
 */
function sourceFiles(src) {
  const adapters = join(src, '..', 'adapters');
  const siblings = existsSync(adapters) ? codeFiles(adapters).map((file) => `../adapters/${file}`) : [];
  return [...codeFiles(src).filter((file) => !SKIP.has(file)), ...siblings].sort();
}

/** Installed versions of the vendored packages: an upgrade makes the build stale. */
function vendorVersions() {
  return VENDOR.map((name) => {
    try {
      return `${name}@${JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version}`;
    } catch {
      return `${name}@missing`;
    }
  });
}

const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * The built CLI module's URL when the build matches the sources, else undefined. Cheap enough for
 * every start (one readdir and a stat per file); a file whose size and mtime differ from the record
 * is hashed, so a `touch` or a fresh checkout with identical content does not discard the build.
 */
export function freshBuild({ src = SRC, out = BUILD_DIR } = {}) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(out, MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
  if (manifest.format !== FORMAT || manifest.node !== process.version) return undefined;
  if (JSON.stringify(vendorVersions()) !== JSON.stringify(manifest.vendor)) return undefined;
  const files = sourceFiles(src);
  const recorded = manifest.files ?? {};
  if (files.length !== Object.keys(recorded).length) return undefined;
  for (const file of files) {
    const entry = recorded[file];
    if (!entry) return undefined;
    const path = join(src, file);
    const stats = statSync(path);
    if (stats.size === entry.size && stats.mtimeMs === entry.mtimeMs) continue;
    if (stats.size !== entry.size || sha(readFileSync(path)) !== entry.sha256) return undefined;
  }
  return pathToFileURL(join(out, 'src', 'cli.js'));
}

/** The path from a built file's folder back to a target, as a URL-relative string. */
const relativeUrl = (fromDir, target) => {
  const path = relative(fromDir, target).split(sep).join('/');
  return path.startsWith('.') ? path : `./${path}`;
};

/**
 * Plain-JS twin of one source: relative `.ts` specifiers (static, dynamic and `new URL(…)`) point at
 * the `.js` twins; a `new URL()` to anything that is not a source (prompts/, assets) points back into
 * the repository, so files are still read from where they live.
 */
function rewrite(code, file, sources, src, out) {
  const fromDir = dirname(join(src, file));
  const outDir = dirname(join(out, 'src', file));
  const toJs = (spec) => spec.replace(/\.ts$/, '.js');
  code = code.replace(/(\bfrom\s*|\bimport\s*\(\s*)(["'])([^"'./][^"']*)\2/g, (all, lead, quote, spec) =>
    VENDOR.includes(spec)
      ? `${lead}${quote}${relativeUrl(outDir, join(out, 'vendor', `${spec}.js`))}${quote}`
      : all,
  );
  code = code.replace(
    /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)(["'])(\.\.?\/[^"']+?\.ts)\2/g,
    (_all, lead, quote, spec) => `${lead}${quote}${toJs(spec)}${quote}`,
  );
  return code.replace(
    /new URL\(\s*(["'])(\.\.?\/[^"']*)\1\s*,\s*import\.meta\.url\s*\)/g,
    (all, quote, spec) => {
      const target = resolve(fromDir, spec);
      const inside = relative(src, target).split(sep).join('/');
      if (sources.has(inside)) return `new URL(${quote}${toJs(spec)}${quote}, import.meta.url)`;
      if (spec.endsWith('.ts')) return all;
      const back = relativeUrl(outDir, target) + (spec.endsWith('/') ? '/' : '');
      return `new URL(${quote}${back}${quote}, import.meta.url)`;
    },
  );
}

/** Everything the build holds, written into `temp` (renamed to `out` by build()). */
async function writeBuild(files, src, out, temp) {
  const { build: bundle, transform } = await import('esbuild');
  const sources = new Set(files);
  const recorded = {};
  for (const file of files) {
    const path = join(src, file);
    // Stat before reading: an edit landing in between then shows as a newer mtime, i.e. stale.
    const stats = statSync(path);
    const source = readFileSync(path);
    const { code } = await transform(source.toString('utf8'), {
      loader: file.endsWith('.ts') ? 'ts' : 'js',
      format: 'esm',
      target: 'node20',
      sourcefile: path,
      define: { 'globalThis.__quickreadBuilt': 'true' },
    });
    const target = join(temp, 'src', file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, rewrite(code, file, sources, src, out));
    recorded[file] = { size: stats.size, mtimeMs: stats.mtimeMs, sha256: sha(source) };
  }
  for (const name of VENDOR) {
    await bundle({
      stdin: { contents: `export * from '${name}';\nexport { default } from '${name}';\n`, resolveDir: ROOT },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Minified: V8 pre-parses the whole file on import, and ~40 % fewer bytes measured ~15 % faster.
      minify: true,
      outfile: join(temp, 'vendor', `${name}.js`),
      logLevel: 'silent',
    });
  }
  // Nearest package.json for the built .js files: Node reads it to know they are ES modules.
  writeFileSync(join(temp, 'package.json'), '{ "type": "module", "private": true }\n');
  const manifest = { format: FORMAT, node: process.version, vendor: vendorVersions(), files: recorded };
  writeFileSync(join(temp, MANIFEST), JSON.stringify(manifest, null, 1));
}

/**
 * Transpile src/ into BUILD_DIR (written to a temporary folder and renamed into place, so a process
 * starting meanwhile sees the old build or the new one, never half of one).
 */
export async function build({ src = SRC, out = BUILD_DIR } = {}) {
  const files = sourceFiles(src);
  const temp = `${out}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  try {
    await writeBuild(files, src, out, temp);
  } catch (error) {
    // e.g. a read-only node_modules: leave nothing half-written behind.
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  const old = `${out}.old-${process.pid}`;
  mkdirSync(dirname(out), { recursive: true });
  try {
    renameSync(out, old);
  } catch {
    // no previous build
  }
  try {
    renameSync(temp, out);
  } catch (error) {
    // Another process put its build in place first (same sources, same result): keep that one.
    rmSync(temp, { recursive: true, force: true });
    throw error;
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
  return files.length;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Run by the `prepare` lifecycle: a failed build must never fail `npm ci`; the bin falls back to tsx.
  try {
    const count = await build();
    process.stdout.write(`quickread: built ${count} modules into ${relative(ROOT, BUILD_DIR)}\n`);
  } catch (error) {
    process.stderr.write(`quickread: build skipped (${error.message}); the CLI will run the sources\n`);
  }
}
