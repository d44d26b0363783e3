import { describe, expect, it } from 'vitest';
import { looksLikeLoop } from '../../../src/engine/loop.ts';
import { findingsJsonSchema, parseModelRead } from '../../../src/engine/output.ts';
import { parseVisualQaAnswer } from '../../../src/engine/visualqa/index.ts';
import { parseFreeText } from '../../../src/engine/visualqa/parse-text.ts';

const valid = {
  findings: [
    {
      label: 'Pneumothorax',
      location: 'left apex',
      sizeMm: null,
      laterality: 'left',
      severity: 'moderate',
      characteristics: '',
      confidence: 0.8,
    },
  ],
  impression: 'Left pneumothorax.',
  urgency: 'urgent',
  recommendations: ['Clinical correlation.'],
  imageQuality: 'diagnostic',
};

describe('structured model output', () => {
  it('accepts the schema, tolerating fences and case', () => {
    const fenced = `\`\`\`json\n${JSON.stringify({ ...valid, urgency: 'URGENT' })}\n\`\`\``;
    const parsed = parseModelRead(fenced);
    expect(parsed.ok && parsed.read.urgency).toBe('urgent');
    expect(parsed.ok && parsed.read.findings[0]!.laterality).toBe('left');
  });

  it('describes what is wrong without echoing the text', () => {
    const cut = parseModelRead('{"findings": [{"label": "Secret text here"');
    expect(cut).toEqual({ ok: false, problem: expect.stringMatching(/no JSON object|malformed/) });
    const missing = parseModelRead(JSON.stringify({ findings: [], urgency: 'soon' }));
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.problem).toMatch(/impression.*urgency|urgency.*impression/);
    expect(!missing.ok && missing.problem).not.toContain('soon');
  });

  it('keeps the JSON Schema file and the zod schema in step', () => {
    const schema = findingsJsonSchema() as {
      required: string[];
      properties: Record<string, { enum?: string[] }>;
    };
    expect(schema.required).toEqual(['findings', 'impression', 'urgency', 'recommendations', 'imageQuality']);
    expect(schema.properties.urgency!.enum).toEqual(['routine', 'urgent', 'critical']);
    expect(parseModelRead(JSON.stringify(valid)).ok).toBe(true);
  });
});

describe('repetition loops', () => {
  it('flags output cut by max_tokens or repeating a phrase', () => {
    expect(looksLikeLoop('{"a": 1}', 'length')).toBe(true);
    expect(looksLikeLoop(`{"label": "${'nodule '.repeat(30)}`, 'stop')).toBe(true);
    expect(looksLikeLoop(JSON.stringify(valid), 'stop')).toBe(false);
  });
});

describe('visualqa answers', () => {
  it('parses sectioned free text, converting cm to mm', () => {
    const read = parseFreeText(
      'Findings:\n1. Mass in the left lower lobe, 2.5 cm.\n2. Small effusion at the right base.\nImpression: Left lower lobe mass.\nUrgency: urgent\nRecommendations:\n- CT with contrast.',
    );
    expect(read?.findings).toHaveLength(2);
    expect(read?.findings[0]).toMatchObject({
      label: 'Mass',
      location: 'left lower lobe',
      sizeMm: 25,
      laterality: 'left',
    });
    expect(read?.urgency).toBe('urgent');
    expect(read?.recommendations).toEqual(['CT with contrast.']);
  });

  it('parses Chinese sections and does not read "no critical findings" as critical', () => {
    const read = parseFreeText(
      '所见：\n1. 右肺上叶结节，8毫米\n印象：右肺上叶小结节，无危急所见以外的异常。',
    );
    expect(read?.findings[0]).toMatchObject({ sizeMm: 8, laterality: 'right' });
    expect(read?.urgency).toBe('routine');
    expect(parseFreeText('Impression: no critical findings.')?.urgency).toBe('routine');
  });

  it('uses JSON in the response, or findings the service returns itself, and rejects an empty answer', () => {
    expect(parseVisualQaAnswer({ response: JSON.stringify(valid), confidence: 0.7 })?.urgency).toBe('urgent');
    const direct = parseVisualQaAnswer({
      response: 'Left pneumothorax.',
      findings: valid.findings,
      confidence: 0.7,
    });
    expect(direct?.impression).toBe('Left pneumothorax.');
    expect(parseVisualQaAnswer({ response: '', confidence: 0.9 })).toBeUndefined();
    expect(parseVisualQaAnswer({ response: '   \n ' })).toBeUndefined();
  });
});

describe('more findings than the schema allows', () => {
  const many = (count: number) =>
    Array.from({ length: count }, (_, i) => ({
      ...valid.findings[0],
      label: `Finding ${i}`,
      // Finding 29 is the most confident, 0 the least: the kept ones are not simply the first twelve.
      confidence: Math.round((i / count) * 100) / 100,
    }));

  it('keeps the twelve most confident of 30, in the model’s order, and counts the rest', () => {
    const parsed = parseModelRead(JSON.stringify({ ...valid, findings: many(30) }));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.read.findings.map((f) => f.label)).toEqual(
      Array.from({ length: 12 }, (_, i) => `Finding ${18 + i}`),
    );
    expect(parsed.read.omittedFindings).toBe(18);
  });

  it('leaves a read within the limit untouched', () => {
    const parsed = parseModelRead(JSON.stringify({ ...valid, findings: many(12) }));
    expect(parsed.ok && parsed.read.findings).toHaveLength(12);
    expect(parsed.ok && parsed.read.omittedFindings).toBeUndefined();
  });

  it('does the same for a visualqa server’s structured answer', () => {
    const read = parseVisualQaAnswer({ response: 'ok', findings: many(25) });
    expect(read?.findings).toHaveLength(12);
    expect(read?.omittedFindings).toBe(13);
  });
});
