import { describe, expect, it } from 'vitest';
import {
  ACTION_IDS,
  escapeMrkdwn,
  LIMITS,
  renderMessage,
  renderReadCard,
} from '../../../adapters/slack/render.ts';
import { DISCLAIMER, type ReadCard } from '../../../src/core/reply.ts';

function card(overrides: Partial<ReadCard> = {}): ReadCard {
  return {
    jobId: 'job-1',
    urgency: 'urgent',
    impression: 'Right lower lobe consolidation.',
    findings: [
      {
        label: 'Consolidation',
        location: 'right lower lobe',
        confidencePct: 87,
        confidenceSource: 'probe-logprob',
        calibrated: true,
      },
      {
        label: 'Small effusion',
        laterality: 'left',
        sizeMm: 12.34,
        confidencePct: 41.6,
        confidenceSource: 'model-stated',
        calibrated: false,
        grounded: false,
      },
    ],
    recommendations: ['Clinical correlation.'],
    model: 'Qwen/Qwen3-VL-8B-Instruct',
    promptVersion: 'radiologist@1',
    image: { width: 1024, height: 768, tokens: 768 },
    downscaled: false,
    burnedInTextRedacted: false,
    isFollowUp: false,
    disclaimer: DISCLAIMER,
    ...overrides,
  };
}

const allText = (value: unknown) => JSON.stringify(value);
const mrkdwnTexts = (blocks: unknown[]): string[] => {
  const out: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (record.type === 'mrkdwn' && typeof record.text === 'string') out.push(record.text);
      Object.values(record).forEach(walk);
    }
  };
  walk(blocks);
  return out;
};

describe('slack render: read card', () => {
  it('shows urgency, impression, each finding with confidence % and source, and the disclaimer', () => {
    const { blocks, text } = renderReadCard(card());
    const json = allText(blocks);
    expect(blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text', text: '🟠 Urgent' } });
    expect(json).toContain('Right lower lobe consolidation.');
    // Issue 18: band first, % second, never a bare bold %; what the % is stands in a context line.
    expect(json).toContain('— confidence high (87%)');
    expect(json).toContain('— confidence moderate (42%)');
    expect(json).not.toMatch(/\*\d+%\*/);
    expect(json).toContain(
      'Confidence: model probability · calibrated on local cases; the model’s own estimate · not calibrated',
    );
    expect(json).toContain('12.3 mm');
    expect(json).toContain('not image-grounded');
    expect(json.match(/not image-grounded/g)).toHaveLength(1);
    expect(json).toContain('Qwen/Qwen3-VL-8B-Instruct · prompt radiologist@1 · image 1024×768 (768 tokens)');
    expect(json).toContain('not for diagnostic use');
    expect(text).toMatch(/^🟠 Urgent: Right lower lobe/);
    const actions = blocks.find((b) => b.type === 'actions');
    expect(allText(actions)).toContain(ACTION_IDS.acknowledge);
    expect(allText(actions)).toContain(ACTION_IDS.up);
    expect(allText(actions)).toContain(ACTION_IDS.down);
  });

  it.each([
    ['critical', '🔴 Critical'],
    ['routine', '🟢 Routine'],
  ] as const)('headlines %s reads', (urgency, header) => {
    expect(renderReadCard(card({ urgency })).blocks[0]).toMatchObject({ text: { text: header } });
  });

  it('escapes model text so it can neither mention nor link', () => {
    const hostile = card({
      impression: '<!channel> see <@U123ABC> and <https://evil.example|click> & http://bare.example/x',
      findings: [
        {
          label: '<!here>',
          location: '<#C1>',
          confidencePct: 50,
          confidenceSource: 'engine',
          calibrated: false,
        },
      ],
      recommendations: ['<!subteam^S1> call <tel:123|me>'],
      imageQuality: '<mailto:a@b.c|mail>',
    });
    const { blocks, text } = renderReadCard(hostile);
    for (const value of [...mrkdwnTexts(blocks), text]) {
      expect(value).not.toMatch(/<[!@#]|<https?:|<mailto:|<tel:/);
      expect(value).not.toMatch(/https?:\/\//);
    }
    expect(allText(blocks)).toContain('&lt;!channel&gt;');
    expect(allText(blocks)).toContain('&amp;');
    // Every model-bearing text object opts out of Slack's automatic parsing.
    for (const block of blocks) {
      if (block.type === 'section') expect(block.text).toMatchObject({ verbatim: true });
    }
  });

  it('stays within Block Kit limits for an enormous read', () => {
    const long = 'x'.repeat(5000);
    const many = card({
      impression: long,
      findings: Array.from({ length: 400 }, (_, i) => ({
        label: `finding ${i} ${'y'.repeat(200)}`,
        confidencePct: 50,
        confidenceSource: 'engine' as const,
        calibrated: false,
      })),
      recommendations: Array.from({ length: 200 }, () => long),
    });
    const { blocks, text } = renderReadCard(many);
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    for (const t of mrkdwnTexts(blocks)) expect(t.length).toBeLessThanOrEqual(LIMITS.sectionText);
    expect(text.length).toBeLessThanOrEqual(LIMITS.fallbackText);
    // The disclaimer and buttons survive truncation.
    expect(allText(blocks)).toContain('not for diagnostic use');
    expect(blocks.at(-1)!.type).toBe('actions');
  });

  it('names laterality once', () => {
    const json = allText(
      renderReadCard(
        card({
          findings: [
            {
              label: 'Nodule',
              location: 'right upper lobe',
              laterality: 'right',
              confidencePct: 70,
              confidenceSource: 'engine',
              calibrated: false,
            },
            {
              label: 'Effusion',
              location: 'costophrenic angle',
              laterality: 'left',
              confidencePct: 60,
              confidenceSource: 'engine',
              calibrated: false,
            },
          ],
        }),
      ).blocks,
    );
    expect(json).toContain('*Nodule* · right upper lobe —');
    expect(json).toContain('*Effusion* · costophrenic angle, left —');
  });

  it('marks follow-ups, downscaling and redacted burned-in text', () => {
    const json = allText(
      renderReadCard(card({ isFollowUp: true, downscaled: true, burnedInTextRedacted: true })).blocks,
    );
    expect(json).toContain('follow-up');
    expect(json).toContain('downscaled');
    expect(json).toContain('blacked out');
  });
});

describe('slack render: other messages', () => {
  it('renders status states for the in-place status message', () => {
    expect(
      renderMessage({ kind: 'status', jobId: 'j', state: 'queued', position: 2, etaSec: 31.4 }).text,
    ).toBe('⏳ Queued #2 · about 31 s');
    expect(renderMessage({ kind: 'status', jobId: 'j', state: 'reading' }).text).toBe('🔎 Reading…');
  });

  it('escapes error and info text', () => {
    const error = renderMessage({ kind: 'error', code: 'INPUT_HTML', text: 'needs <files:read> & more' });
    expect(error.text).toBe('⚠️ needs &lt;files:read&gt; &amp; more');
    expect(allText(renderMessage({ kind: 'info', title: 'Help <!channel>', lines: ['a'] }).blocks)).toContain(
      '&lt;!channel&gt;',
    );
  });

  it('escapes exactly the three characters Slack reserves', () => {
    expect(escapeMrkdwn('a & b < c > d *e* _f_')).toBe('a &amp; b &lt; c &gt; d *e* _f_');
  });
});

describe('slack render: acknowledgement', () => {
  it('renders a card already acknowledged without the button', () => {
    const json = allText(
      renderReadCard(card({ acknowledgedBy: { userId: 'U0ACK', at: '2026-11-25T10:00:00Z' } })).blocks,
    );
    expect(json).toContain('Acknowledged by <@U0ACK>');
    expect(json).not.toContain(`"action_id":"${ACTION_IDS.acknowledge}"`);
  });

  it('shows each finding’s characteristics and the display window the model saw (issue 18)', () => {
    const json = JSON.stringify(
      renderReadCard(
        card({
          findings: [
            {
              label: 'Nodule',
              characteristics: 'spiculated margins, solid',
              confidencePct: 55,
              confidenceSource: 'probe-logprob',
              calibrated: false,
            },
          ],
          window: 'lung window, chosen from the question (C -600, W 1500)',
        }),
      ).blocks,
    );
    expect(json).toContain('_spiculated margins, solid_');
    expect(json).toContain('window: lung window, chosen from the question (C -600, W 1500)');
    expect(json).toContain('Confidence: model probability · not calibrated');
  });
});
