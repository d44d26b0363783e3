import { describe, expect, it } from 'vitest';
import { chooseGuidance, knownFacts, sentPixelSpacing } from '../../../src/engine/facts.ts';
import { preparedImage } from '../../integration/engine/image.ts';

describe('modality guidance', () => {
  it.each([
    [{ modality: 'CT', bodyPart: 'HEAD' }, '', 'ct-head'],
    [{ modality: 'CT', bodyPart: 'CHEST' }, '', 'ct-chest'],
    [{ modality: 'CT', bodyPart: 'ABDOMEN' }, '', 'ct-abdomen'],
    [{ modality: 'CT' }, 'bleed in the brain?', 'ct-head'],
    [{ modality: 'DX', bodyPart: 'CHEST' }, '', 'chest-radiograph'],
    [{ modality: 'CR', bodyPart: 'HAND' }, '', 'generic'],
    [{ modality: 'MR' }, '', 'mr'],
    [{ modality: 'US' }, '', 'us'],
    [{ modality: 'MG' }, '', 'mammography'],
    [{ modality: 'NM' }, '', 'generic'],
    [{}, 'Chest X-ray: pneumothorax?', 'chest-radiograph'],
    [{}, '这张胸部CT有肺结节吗？', 'ct-chest'],
    [{}, 'what is this?', 'generic'],
  ] as const)('%o + %j → %s', (meta, question, expected) => {
    expect(chooseGuidance(meta, question)).toBe(expected);
  });
});

describe('known facts', () => {
  it('scales the header pixel spacing to the image actually sent', async () => {
    const image = await preparedImage(256, 256, { meta: { pixelSpacingMm: [0.5, 0.8] } });
    image.source = { ...image.source, rows: 512, columns: 512 };
    expect(sentPixelSpacing(image)).toEqual([1, 1.6]);
    expect(knownFacts(image)).toMatch(/1 mm \(rows\) × 1\.6 mm \(columns\)/);
  });

  it('lists what is not known instead of guessing', async () => {
    const image = await preparedImage(256, 256, { meta: {} });
    const text = knownFacts(image);
    expect(text).toMatch(/Not known: Modality \(DICOM code\), Body part, View, Laterality, pixel spacing/);
    expect(text).toContain('lung window');
  });
});

describe('thread history', () => {
  it('keeps the newest turns within the token budget, starting with a question', async () => {
    const { boundHistory, estimateTokens } = await import('../../../src/engine/openai/messages.ts');
    const turns = Array.from({ length: 10 }, (_, i) => ({
      role: (i % 2 === 0 ? 'user' : 'assistant') as 'user' | 'assistant',
      text: `turn ${i} ${'x'.repeat(400)}`,
    }));
    const kept = boundHistory(turns, 350);
    expect(kept.length).toBeLessThan(turns.length);
    expect(kept[0]!.role).toBe('user');
    expect(kept.at(-1)).toEqual(turns.at(-1));
    expect(estimateTokens('肺结节')).toBe(3);
    expect(boundHistory(turns, 10_000)).toHaveLength(10);
  });
});
