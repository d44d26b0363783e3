import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors.ts';
import { checkFiles, imagesOf, parseCases } from '../../../src/eval/cases.ts';
import { namedInRead, type ReadSummary } from '../../../src/eval/read-match.ts';

const root = '/cases';

describe('eval labels CSV', () => {
  it('reads file, finding, present and the optional columns', () => {
    const set = parseCases(
      'file,finding,present,modality,split,urgency\r\na.dcm,Pneumothorax ,1,dx,test,critical\r\n"b, left.png",nodule,no,,train,\r\n',
      root,
    );
    expect(set.problems).toEqual([]);
    expect(set.cases).toEqual([
      {
        line: 2,
        file: 'a.dcm',
        finding: 'pneumothorax',
        present: 1,
        modality: 'DX',
        split: 'test',
        urgency: 'critical',
      },
      { line: 3, file: 'b, left.png', finding: 'nodule', present: 0, split: 'train' },
    ]);
    expect(imagesOf(set.cases)).toEqual([
      { file: 'a.dcm', findings: ['pneumothorax'] },
      { file: 'b, left.png', findings: ['nodule'] },
    ]);
  });

  it('reports each bad row by its line and keeps the good ones', () => {
    const set = parseCases(
      [
        'file,finding,present,reader',
        'a.png,nodule,1,x',
        'a.png,Nodule,0,y',
        ',nodule,1,',
        'b.png,,1,',
        'c.png,nodule,2,',
        '../outside.png,nodule,1,',
        '/abs/d.png,nodule,1,',
        'e.png,nodule,1,x,extra',
        '',
        'f.png,effusion,0,',
      ].join('\n'),
      root,
    );
    expect(set.problems.map((p) => [p.line, p.message.split(' ').slice(0, 3).join(' ')])).toEqual([
      [1, 'unknown column "reader"'],
      [3, 'duplicates line 2'],
      [4, 'file is empty'],
      [5, 'finding is empty'],
      [6, 'present must be'],
      [7, 'file must be'],
      [8, 'file must be'],
      [9, 'has 5 fields,'],
    ]);
    expect(set.cases.map((c) => c.line)).toEqual([2, 11]);
  });

  it('refuses a file without the required columns as a usage error', () => {
    try {
      parseCases('path,label\na.png,1\n', root);
      expect.unreachable();
    } catch (error) {
      expect(isAppError(error, 'USAGE')).toBe(true);
      expect((error as Error & { userMessage: string }).userMessage).toContain(
        'missing: file, finding, present',
      );
    }
  });

  it('keeps only the requested split', () => {
    const set = parseCases('file,finding,present,split\na.png,n,1,test\nb.png,n,0,train\n', root, {
      split: 'test',
    });
    expect(set.cases.map((c) => c.file)).toEqual(['a.png']);
  });

  it('skips rows whose file is missing and flags two urgencies for one image, by line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qr-cases-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'a.png'), 'x');
    try {
      const parsed = parseCases(
        'file,finding,present,urgency\nsub/a.png,nodule,1,urgent\nsub/b.png,nodule,1,\nsub/a.png,effusion,0,routine\nsub,nodule,1,\n',
        dir,
      );
      const set = await checkFiles(parsed);
      expect(set.cases.map((c) => c.line)).toEqual([2, 4]);
      expect(set.cases[1]!.urgency).toBeUndefined();
      expect(set.problems.map((p) => p.line)).toEqual([3, 4, 5]);
      expect(set.problems[0]!.message).toBe('file not found under the CSV folder; row skipped');
      expect(set.problems.map((p) => p.message).join(' ')).not.toContain('b.png');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('eval: does the free-text read name the finding?', () => {
  const read = (impression: string, labels: string[] = []): ReadSummary => ({
    findings: labels.map((label) => ({ label, confidence: 0.8, source: 'probe-logprob' })),
    impression,
    urgency: 'routine',
  });

  it('finds it in a listed finding or an affirmative sentence, plurals included', () => {
    expect(namedInRead('nodule', read('', ['Pulmonary nodules']))).toBe(true);
    expect(namedInRead('pneumothorax', read('Small left apical pneumothorax.'))).toBe(true);
    expect(namedInRead('effusion', read('No pneumothorax. Bilateral pleural effusions.'))).toBe(true);
  });

  it('does not count a negated mention, or a different word that contains it', () => {
    expect(namedInRead('pneumothorax', read('No pneumothorax or effusion.'))).toBe(false);
    expect(namedInRead('effusion', read('Lungs clear, without pleural effusion.'))).toBe(false);
    expect(namedInRead('mass', read('Normal soft tissue; massive? no.', []))).toBe(false);
  });

  it('names "normal" when the read lists no finding', () => {
    expect(namedInRead('normal', read('No acute findings.'))).toBe(true);
    expect(namedInRead('normal', read('Nodule.', ['nodule']))).toBe(false);
  });
});
