import { describe, expect, it } from 'vitest';
import {
  activityBytes,
  MESSAGE_BUDGET_BYTES,
  neutralise,
  renderOutbound,
  renderRead,
} from '../../../adapters/teams/render.ts';
import { DISCLAIMER, type ReadCard } from '../../../src/core/reply.ts';

const read: ReadCard = {
  jobId: 'job-1',
  urgency: 'critical',
  impression: 'Large [right](https://evil.example) pneumothorax',
  findings: [
    {
      label: 'pneumothorax',
      location: 'right apex',
      sizeMm: 30,
      laterality: 'right',
      severity: 'severe',
      confidencePct: 91,
      confidenceSource: 'token-logprob',
      calibrated: true,
      grounded: false,
    },
  ],
  recommendations: ['Urgent clinical review'],
  model: 'Qwen/Qwen3-VL-8B-Instruct',
  promptVersion: 'radiologist@3',
  image: { width: 1024, height: 1024, tokens: 1024 },
  downscaled: false,
  burnedInTextRedacted: true,
  isFollowUp: false,
  disclaimer: DISCLAIMER,
};

describe('Teams Adaptive Card rendering', () => {
  it('shows urgency, findings with confidence and source, model · prompt · budget and the disclaimer', () => {
    const card = renderRead(read);
    expect(card.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card.content.version).toBe('1.5');
    const text = JSON.stringify(card.content);
    for (const part of [
      'CRITICAL',
      'Attention',
      'confidence high (91%)',
      'Confidence: model probability · calibrated on local cases',
      'not image-grounded',
      'right apex, 30 mm, right, severe',
      'radiologist@3',
      '1024 visual tokens',
      'Text found in the image pixels was blacked out',
      DISCLAIMER,
    ])
      expect(text).toContain(part);
    expect(card.content.actions?.map((action) => action.verb)).toEqual(['ack', 'up', 'down']);
  });

  it('neutralises model text so it cannot become a link', () => {
    const text = JSON.stringify(renderRead(read).content);
    expect(text).not.toContain('[right](https');
    expect(neutralise('see [x](https://evil.example) or http://a.b (8 mm)')).toBe(
      'see [x]\u200b(https:\u200b//evil.example) or http:\u200b//a.b (8 mm)',
    );
  });

  it('drops the Acknowledge button once acknowledged and says when', () => {
    const acknowledged = { ...read, acknowledgedBy: { userId: 'aad-1', at: '2026-11-25T12:34:56.000Z' } };
    const card = renderRead(acknowledged, { acknowledgedByName: 'Dr Ada' });
    expect(card.content.actions?.map((action) => action.verb)).toEqual(['up', 'down']);
    expect(JSON.stringify(card.content)).toContain('Acknowledged by Dr Ada at 2026-11-25 12:34 UTC');
    expect(JSON.stringify(renderRead(acknowledged).content)).toContain('Acknowledged by a colleague');
    expect(JSON.stringify(card.content)).not.toContain('aad-1');
  });

  it('labels the preview as not for diagnostic use and keeps a typical read within the message budget', () => {
    const preview = {
      bytes: Buffer.alloc(18_000, 7),
      mime: 'image/jpeg',
      caption: 'What the model saw — not for diagnostic use.',
    };
    const activity = { type: 'message', attachments: [renderRead(read, { preview })] };
    const text = JSON.stringify(activity);
    expect(text).toContain('data:image/jpeg;base64,');
    expect(text).toContain('not for diagnostic use');
    expect(activityBytes(activity)).toBeLessThanOrEqual(MESSAGE_BUDGET_BYTES);
  });

  it('renders status, error and info replies as cards too (so a status can be edited into the read)', () => {
    expect(
      JSON.stringify(
        renderOutbound({ kind: 'status', jobId: 'j', state: 'queued', position: 2, etaSec: 40 }),
      ),
    ).toContain('Queued #2 · about 40 s');
    expect(
      JSON.stringify(
        renderOutbound({ kind: 'status', jobId: 'j', state: 'queued', position: 9, etaSec: 600 }),
      ),
    ).toContain('Queued #9 · about 10 min');
    const error = JSON.stringify(
      renderOutbound({ kind: 'error', jobId: 'j', code: 'INPUT_CORRUPT', text: 'bad file' }),
    );
    expect(error).toContain('INPUT_CORRUPT · job j');
  });
});
