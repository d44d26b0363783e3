import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, freshBuild } from '../../../src/build.mjs';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * The plain-JS build the bin prefers over tsx (src/build.mjs, issue 3). It must behave like the
 * sources (no `.ts` module may be reached without tsx, workers included) and must never run once a
 * source differs from what it was built from.
 */
describe('plain-JS build of src/', () => {
  // Inside node_modules so that the built modules resolve the project's packages, as the real build does.
  const out = join(repo, 'node_modules', '.cache', `quickread-test-${process.pid}`);
  let tmp: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'qr-build-'));
    await build({ out });
  }, 60_000);

  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
    await rm(tmp, { recursive: true, force: true });
  });

  it('runs `prepare` from the build alone: plain node, no loader, worker threads included', async () => {
    const cli = freshBuild({ out });
    expect(cli?.href).toBe(pathToFileURL(join(out, 'src', 'cli.js')).href);
    const pool = pathToFileURL(join(out, 'src', 'ingest', 'worker', 'pool.js')).href;
    const png = join(repo, 'test/fixtures/images/cxr_hannover_2168a917_dx_pa.png');
    const dicom = join(repo, 'test/fixtures/dicom/mr_small_rle.dcm');
    // Without tsx, Node 20 cannot load a .ts module at all: any path still pointing at src/*.ts fails.
    const script = `
      const { runCli } = await import(${JSON.stringify(cli!.href)});
      const lines = [];
      const io = { out: (l) => lines.push(l), err: (l) => lines.push(l) };
      const code = await runCli(['prepare', ${JSON.stringify(png)}, ${JSON.stringify(dicom)}, '--out', ${JSON.stringify(tmp)}, '--json'], { env: { BURNED_IN_TEXT: 'redact' }, io });
      const { createDecodePool } = await import(${JSON.stringify(pool)});
      const workers = createDecodePool({ size: 1 });
      const bytes = new Uint8Array(await (await import('node:fs/promises')).readFile(${JSON.stringify(dicom)}));
      const image = await workers.run({ bytes, kind: 'dicom', maxSide: 64 }, 20000);
      await workers.close();
      process.stdout.write(JSON.stringify({ code, lines, worker: [image.width, image.height] }));
    `;
    // A script file, not `-e`: workers inherit execArgv, and --input-type would break them.
    const driver = join(tmp, 'driver.mjs');
    await writeFile(driver, script);
    const { stdout } = await run(process.execPath, [driver], { cwd: repo });
    const result = JSON.parse(stdout) as { code: number; lines: string[]; worker: number[] };
    expect(result.code).toBe(0);
    const records = result.lines.map((line) => JSON.parse(line) as { ok: boolean });
    expect(records.map((record) => record.ok)).toEqual([true, true]);
    // Both went through the OCR worker (redact mode scans every image): its bootstrap is built too.
    for (const line of result.lines) expect(line).toContain('"burnedInText"');
    expect(Math.max(...result.worker)).toBe(64);
  }, 60_000);

  it('leaves no import pointing at a TypeScript file or at a module missing from the build', async () => {
    const files = (await readdir(out, { recursive: true })).filter((file) => /\.m?js$/.test(file));
    expect(files.length).toBeGreaterThan(50);
    const problems: string[] = [];
    for (const file of files) {
      const code = await readFile(join(out, file), 'utf8');
      const specifiers = code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)["'](\.\.?\/[^"']+)["']/g);
      for (const [, spec] of specifiers) {
        const target = join(dirname(join(out, file)), spec!);
        if (spec!.endsWith('.ts') || !existsSync(target)) problems.push(`${file} → ${spec}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('is used only while every source matches it byte for byte', async () => {
    const src = join(tmp, 'src');
    const small = join(tmp, 'small-build');
    await mkdir(join(src, 'lib'), { recursive: true });
    await writeFile(
      join(src, 'cli.ts'),
      "import { n } from './lib/n.ts';\nexport const runCli = async () => n;\n",
    );
    await writeFile(join(src, 'lib', 'n.ts'), 'export const n: number = 1;\n');
    await build({ src, out: small });
    const fresh = freshBuild({ src, out: small });
    expect(fresh).toBeDefined();
    const { runCli } = (await import(fresh!.href)) as { runCli: () => Promise<number> };
    expect(await runCli()).toBe(1);
    expect(await readFile(join(small, 'src', 'cli.js'), 'utf8')).toContain('./lib/n.js');

    // Same bytes, new mtime (a checkout, a touch): still fresh.
    const later = new Date(Date.now() + 5_000);
    await utimes(join(src, 'lib', 'n.ts'), later, later);
    expect(freshBuild({ src, out: small })).toBeDefined();
    // Edited, same size: stale.
    await writeFile(join(src, 'lib', 'n.ts'), 'export const n: number = 2;\n');
    expect(freshBuild({ src, out: small })).toBeUndefined();
    await build({ src, out: small });
    expect(freshBuild({ src, out: small })).toBeDefined();
    // A new source file: stale; removed again: fresh.
    await writeFile(join(src, 'lib', 'extra.ts'), 'export {};\n');
    expect(freshBuild({ src, out: small })).toBeUndefined();
    await rm(join(src, 'lib', 'extra.ts'));
    expect(freshBuild({ src, out: small })).toBeDefined();
    // No build at all.
    expect(freshBuild({ src, out: join(tmp, 'none') })).toBeUndefined();
  }, 60_000);
});
