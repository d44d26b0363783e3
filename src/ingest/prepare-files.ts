import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';

/** One input of `quickread prepare`: the path as the user wrote it and where its PNG goes. */
export interface PrepareInput {
  /** The path as given (or under a given folder); shown to the user, never logged. */
  file: string;
  /** Where the prepared PNG is written. */
  output: string;
  /** Set when the path does not exist. */
  missing?: boolean;
}

/** Every file under a folder, sorted, hidden entries skipped (`.DS_Store`, `.git`). */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

const withoutExtension = (path: string): string => path.slice(0, path.length - extname(path).length);

/**
 * Expand files and folders into inputs and give each an output path. `out` ending in `.png` with a
 * single input names that file; otherwise it is a folder (default `quickread-prepared`), where a
 * folder's files keep their relative layout. Outputs never overwrite an input or each other.
 */
export async function resolveInputs(paths: string[], out: string | undefined): Promise<PrepareInput[]> {
  const found: Array<{ file: string; rel: string; missing?: boolean }> = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) found.push({ file: path, rel: basename(path), missing: true });
    else if (info.isDirectory()) {
      const root = basename(resolve(path));
      for (const file of await walk(path)) found.push({ file, rel: join(root, relative(path, file)) });
    } else found.push({ file: path, rel: basename(path) });
  }
  const single = found.length === 1 && out !== undefined && out.toLowerCase().endsWith('.png');
  const dir = out ?? 'quickread-prepared';
  const taken = new Set(found.map((item) => resolve(item.file)));
  return found.map((item) => {
    const base = single ? withoutExtension(dir) : join(dir, withoutExtension(item.rel));
    let output = `${base}.png`;
    for (let n = 2; taken.has(resolve(output)); n += 1) output = `${base}-${n}.png`;
    taken.add(resolve(output));
    return { file: item.file, output, ...(item.missing ? { missing: true } : {}) };
  });
}
