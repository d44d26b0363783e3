import { describe, expect, it } from 'vitest';
import {
  escapeHtml,
  renderCard,
  renderMessage,
  renderUserMessage,
} from '../../../adapters/console/render.ts';
import { DISCLAIMER, formatEta, type ReadCard } from '../../../src/core/reply.ts';

const card = (over: Partial<ReadCard> = {}): ReadCard => ({
  jobId: 'job-1',
  urgency: 'critical',
  impression: 'Large right pneumothorax <img src=x onerror=alert(1)>',
  findings: [
    {
      label: 'pneumothorax "tension"?',
      location: 'right <b>apex</b>',
      sizeMm: 31.26,
      laterality: 'right',
      severity: 'severe',
      confidencePct: 87,
      confidenceSource: 'probe-logprob',
      calibrated: true,
      grounded: true,
    },
    {
      label: 'nodule',
      confidencePct: 42,
      confidenceSource: 'model-stated',
      calibrated: false,
      grounded: false,
    },
  ],
  recommendations: ['Chest drain & <script>alert(1)</script>'],
  model: 'Qwen/Qwen3-VL-8B-Instruct',
  promptVersion: 'radiologist@1',
  image: { width: 1024, height: 768, tokens: 768 },
  downscaled: false,
  burnedInTextRedacted: true,
  isFollowUp: false,
  disclaimer: DISCLAIMER,
  ...over,
});

describe('console renderer', () => {
  it('escapes every model string so no markup survives', () => {
    const html = renderCard(card());
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>apex');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('Chest drain &amp; &lt;script&gt;');
    expect(html).toContain('pneumothorax &quot;tension&quot;?');
    expect(escapeHtml(`'\`"<>&`)).toBe('&#39;&#96;&quot;&lt;&gt;&amp;');
  });

  it('shows the urgency headline, confidence with its source, grounding and the model line', () => {
    const html = renderCard(card());
    expect(html).toContain('<span aria-hidden="true">🔴</span> CRITICAL');
    // Issue 18: band first, % second, the source in words with a tap-to-explain.
    expect(html).toContain('<span class="band">high</span> <span class="pct">87%</span>');
    expect(html).toContain('<summary>model probability · calibrated on local cases</summary>');
    expect(html).toContain('<span class="band">moderate</span> <span class="pct">42%</span>');
    expect(html).toContain('<summary>the model’s own estimate · not calibrated</summary>');
    expect(html).toMatch(/<details class="f-src">.*80% does not mean right 8 times in 10/);
    // The disclaimer comes before the findings (and so before the preview).
    expect(html.indexOf('class="disclaimer"')).toBeLessThan(html.indexOf('class="findings"'));
    expect(html.match(/not image-grounded/g)).toHaveLength(1);
    expect(html).toContain('31.3 mm');
    expect(html).toContain('Qwen/Qwen3-VL-8B-Instruct · prompt radiologist@1 · image 1024×768 (768 tokens)');
    expect(html).toContain(DISCLAIMER.replace('—', '—'));
    expect(html).toContain('blacked out');
    expect(html).toContain('data-action="ack"');
  });

  it('renders routine and urgent badges, follow-up tag, preview and acknowledgement', () => {
    const routine = renderCard(card({ urgency: 'routine', isFollowUp: true, findings: [] }));
    expect(routine).toContain('<span aria-hidden="true">🟢</span> ROUTINE');
    expect(routine).toContain('follow-up');
    expect(routine).toContain('No findings reported.');
    const urgent = renderCard(
      card({ urgency: 'urgent', acknowledgedBy: { userId: 'console:x', at: '2026-01-01T10:05:00Z' } }),
      {
        previewUrl: '/api/previews/p-1.png',
        previewCaption: 'De-identified preview — not for diagnostic use',
        acknowledgedByName: 'user-ab12',
        votes: { up: 2, down: 0 },
      },
    );
    expect(urgent).toContain('<span aria-hidden="true">🟠</span> URGENT');
    expect(urgent).toContain('src="/api/previews/p-1.png"');
    expect(urgent).toContain('not for diagnostic use');
    // UTC until the page rewrites it in the reader's zone (app.js, time.local).
    expect(urgent).toContain(
      'Acknowledged by user-ab12 at <time class="local" datetime="2026-01-01T10:05:00.000Z">10:05 UTC</time>',
    );
    expect(urgent).toContain('<span aria-hidden="true">👍</span> Helpful <span class="count">2</span>');
    expect(urgent).not.toContain('data-action="ack"');
    expect(urgent).not.toContain('console:x');
  });

  it('words statuses with position and ETA, and errors with their code', () => {
    expect(
      renderMessage({ kind: 'status', jobId: 'j', state: 'queued', position: 3, etaSec: 95 }).html,
    ).toContain('Queued #3 · about 2 min');
    const waiting = renderMessage({ kind: 'status', jobId: 'j', state: 'waiting-engine', position: 1 });
    expect(waiting.state).toBe('waiting-engine');
    expect(waiting.html).toContain('Waiting for the model server');
    const error = renderMessage({ kind: 'error', code: 'INPUT_CORRUPT', text: 'Damaged <file>' });
    expect(error.html).toContain('Damaged &lt;file&gt;');
    expect(error.html).toContain('INPUT_CORRUPT');
    expect(formatEta(4.2)).toBe('4 s');
  });

  it("never echoes the upload's file name in the user's message", () => {
    const html = renderUserMessage('Any <pneumothorax>?', { kind: 'DICOM', sizeBytes: 2_500_000 });
    expect(html).toContain('Any &lt;pneumothorax&gt;?');
    expect(html).toContain('DICOM · 2.4 MB');
  });

  it('shows each finding’s characteristics and the display window the model saw (issue 18)', () => {
    const html = renderCard(
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
        window: 'automatic window (C 50, W 300)',
      }),
    );
    expect(html).toContain('<div class="f-char">spiculated margins, solid</div>');
    expect(html).toContain('<p class="window">Display window: automatic window (C 50, W 300)</p>');
  });
});

describe('console render: findings left out', () => {
  it('says how many less confident findings the model listed beyond the maximum', () => {
    const { html } = renderMessage({ kind: 'read', card: card({ omittedFindings: 18 }) });
    expect(html).toContain('18 less confident findings were left out');
    expect(renderMessage({ kind: 'read', card: card() }).html).not.toContain('left out');
  });
});
