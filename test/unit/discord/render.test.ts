import { describe, expect, it } from 'vitest';
import {
  chunkText,
  forCreate,
  forEdit,
  LIMITS,
  neutralise,
  previewBody,
  renderOutbound,
} from '../../../adapters/discord/render.ts';
import { DISCLAIMER, type ReadCard, type ReadCardFinding } from '../../../src/core/reply.ts';

const finding = (over: Partial<ReadCardFinding> = {}): ReadCardFinding => ({
  label: 'Pleural effusion',
  location: 'left base',
  laterality: 'left',
  severity: 'mild',
  confidencePct: 72,
  confidenceSource: 'token-logprob',
  calibrated: true,
  ...over,
});

const card = (over: Partial<ReadCard> = {}): ReadCard => ({
  jobId: 'job-42',
  urgency: 'critical',
  impression: 'Small left effusion.',
  findings: [finding()],
  recommendations: ['Clinical correlation'],
  model: 'Qwen/Qwen3-VL-8B-Instruct',
  promptVersion: 'radiologist@2',
  image: { width: 1024, height: 768, tokens: 768 },
  downscaled: false,
  burnedInTextRedacted: false,
  isFollowUp: false,
  disclaimer: DISCLAIMER,
  ...over,
});

function embedChars(body: ReturnType<typeof renderOutbound>[number]): number {
  let total = 0;
  for (const embed of body.embeds ?? []) {
    total += (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0);
    for (const field of embed.fields ?? []) total += field.name.length + field.value.length;
  }
  return total;
}

describe('neutralise (model text made inert for Discord)', () => {
  it('breaks @everyone, @here and user, role, channel and command mentions', () => {
    const out = neutralise('@everyone @HERE <@123> <@!456> <@&789> <#101> </read:1>');
    expect(out).not.toMatch(/@everyone|@here/i);
    expect(out).not.toMatch(/<@!?\d+>|<@&\d+>|<#\d+>|<\/read:1>/);
    expect(out).toContain('@\u200beveryone');
  });

  it('stops links and markdown structure', () => {
    const out = neutralise('[click](https://evil.example) see http://x.example\n# Heading\n- item');
    expect(out).not.toContain('https://');
    expect(out).not.toContain('http://');
    expect(out).toContain('\\[click\\]');
    expect(out).toContain('\\# Heading');
  });

  it('leaves ordinary clinical text readable', () => {
    expect(neutralise('8 mm nodule, right upper lobe')).toBe('8 mm nodule, right upper lobe');
  });
});

describe('renderOutbound', () => {
  it('renders the read as an embed: urgency colour, findings with confidence and source, footer facts', () => {
    const [body, ...rest] = renderOutbound({ kind: 'read', card: card() });
    expect(rest).toHaveLength(0);
    const embed = body!.embeds![0]!;
    expect(embed.title).toBe('🔴 CRITICAL — quickread read');
    expect(embed.color).toBe(0xd32f2f);
    expect(embed.description).toContain('Small left effusion.');
    expect(embed.fields![0]).toEqual({
      name: '1. Pleural effusion',
      value: 'Confidence: high (72%)\nleft base · left · mild',
    });
    expect(embed.fields![1]).toEqual({ name: 'Recommendations', value: '• Clinical correlation' });
    // Issue 18: what the percentages are, in the footer.
    expect(embed.footer!.text).toContain('Confidence: model probability · calibrated on local cases');
    expect(embed.footer!.text).toContain('Qwen/Qwen3-VL-8B-Instruct');
    expect(embed.footer!.text).toContain('radiologist@2');
    expect(embed.footer!.text).toContain('1024×768 px, 768 visual tokens');
    expect(embed.footer!.text).toContain('not for diagnostic use');
    expect(body!.allowed_mentions).toEqual({ parse: [], replied_user: false });
    const buttons = body!.components![0]!.components;
    expect(buttons.map((button) => ('label' in button ? button.label : undefined))).toEqual([
      'Acknowledge',
      'Helpful',
      'Not helpful',
    ]);
    expect(buttons.map((button) => ('custom_id' in button ? button.custom_id : ''))).toEqual([
      'qr:ack:job-42',
      'qr:up:job-42',
      'qr:down:job-42',
    ]);
  });

  it('marks findings that are not image-grounded and notes downscaling and redaction', () => {
    const [body] = renderOutbound({
      kind: 'read',
      card: card({ findings: [finding({ grounded: false })], downscaled: true, burnedInTextRedacted: true }),
    });
    const fields = body!.embeds![0]!.fields!;
    expect(fields[0]!.value).toContain('not image-grounded');
    const notes = fields.find((field) => field.name === 'Notes')!.value;
    expect(notes).toContain('downscaled');
    expect(notes).toContain('blacked out');
  });

  it('shows who acknowledged and disables the button', () => {
    const [body] = renderOutbound({
      kind: 'read',
      card: card({ acknowledgedBy: { userId: '42', at: '2026-11-25T10:00:00.000Z' } }),
    });
    const ack = body!.embeds![0]!.fields!.find((field) => field.name === 'Acknowledged');
    expect(ack?.value).toBe(`by <@42> <t:${Date.parse('2026-11-25T10:00:00.000Z') / 1000}:f>`);
    expect(body!.components![0]!.components[0]).toMatchObject({ disabled: true, label: 'Acknowledged' });
  });

  it('splits a read that exceeds Discord limits into several messages, each within the limits', () => {
    const many = Array.from({ length: 60 }, (_, i) =>
      finding({ label: `Finding ${i} ${'x'.repeat(300)}`, location: 'y'.repeat(2000) }),
    );
    const bodies = renderOutbound({
      kind: 'read',
      card: card({ findings: many, impression: 'z '.repeat(6000), recommendations: ['r'.repeat(3000)] }),
    });
    expect(bodies.length).toBeGreaterThan(3);
    const fieldNames = bodies.flatMap((body) =>
      body.embeds!.flatMap((embed) => embed.fields!.map((f) => f.name)),
    );
    expect(fieldNames.filter((name) => name.startsWith('1. Finding 0'))).toHaveLength(1);
    expect(fieldNames.filter((name) => /^\d+\. Finding/.test(name))).toHaveLength(60);
    for (const body of bodies) {
      expect(body.embeds).toHaveLength(1);
      const embed = body.embeds![0]!;
      expect(embedChars(body)).toBeLessThanOrEqual(LIMITS.embedTotal);
      expect(embed.fields!.length).toBeLessThanOrEqual(LIMITS.fields);
      expect(embed.title!.length).toBeLessThanOrEqual(LIMITS.title);
      expect(embed.description?.length ?? 0).toBeLessThanOrEqual(LIMITS.description);
      for (const field of embed.fields!) {
        expect(field.name.length).toBeLessThanOrEqual(LIMITS.fieldName);
        expect(field.value.length).toBeLessThanOrEqual(LIMITS.fieldValue);
      }
      expect(embed.footer!.text).toContain('not for diagnostic use');
      expect(body.allowed_mentions.parse).toEqual([]);
    }
    expect(bodies[0]!.components).toHaveLength(1);
    expect(bodies.slice(1).every((body) => body.components!.length === 0)).toBe(true);
  });

  it('renders status lines for each state', () => {
    const text = (state: Parameters<typeof renderOutbound>[0]) => renderOutbound(state)[0]!.content;
    expect(text({ kind: 'status', jobId: 'j', state: 'queued', position: 3, etaSec: 130 })).toBe(
      '⏳ Queued #3 · about 2 min',
    );
    expect(text({ kind: 'status', jobId: 'j', state: 'reading' })).toBe('🔎 Reading…');
    expect(text({ kind: 'status', jobId: 'j', state: 'waiting-engine' })).toMatch(/model server/);
  });

  it('renders a PHI refusal with the reason Discord is refused', () => {
    const [body] = renderOutbound({ kind: 'error', code: 'PHI_PRESENT', text: 'Identity in header.' });
    const embed = body!.embeds![0]!;
    expect(embed.title).toContain('patient identity');
    expect(embed.description).toContain('no business associate agreement');
    expect(embed.footer!.text).toBe('PHI_PRESENT');
    const [other] = renderOutbound({
      kind: 'error',
      code: 'ENGINE_TIMEOUT',
      text: 'Too slow @here',
      jobId: 'j1',
    });
    expect(other!.embeds![0]!.title).toBe('⚠️ Not read');
    expect(other!.embeds![0]!.description).not.toContain('@here');
    expect(other!.embeds![0]!.footer!.text).toBe('ENGINE_TIMEOUT · job j1');
  });

  it('chunks long info text', () => {
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${'w'.repeat(20)}`);
    const bodies = renderOutbound({ kind: 'info', title: 'Help', lines });
    expect(bodies.length).toBeGreaterThan(1);
    for (const body of bodies)
      expect(body.embeds![0]!.description!.length).toBeLessThanOrEqual(LIMITS.description);
  });
});

describe('message bodies', () => {
  it('edits clear leftovers; creates drop empty content', () => {
    const [status] = renderOutbound({ kind: 'status', jobId: 'j', state: 'reading' });
    const [read] = renderOutbound({ kind: 'read', card: card() });
    expect(forEdit(read!).content).toBe('');
    expect(forEdit(status!).components).toEqual([]);
    expect('content' in forCreate(read!)).toBe(false);
    expect(forCreate(status!).content).toBe('🔎 Reading…');
  });

  it('labels the preview as de-identified and non-diagnostic, with mentions off', () => {
    const body = previewBody('Preview @everyone');
    expect(body.content).not.toContain('@everyone');
    expect(body.attachments[0]!.description).toContain('not for diagnostic use');
    expect(body.allowed_mentions.parse).toEqual([]);
  });

  it('chunkText never exceeds the limit and keeps every character but the split whitespace', () => {
    const text = Array.from({ length: 500 }, (_, i) => `word${i}`).join(' ');
    const chunks = chunkText(text, 100);
    expect(chunks.every((chunk) => chunk.length <= 100)).toBe(true);
    expect(chunks.join(' ')).toBe(text);
    expect(chunkText('x'.repeat(250), 100).map((c) => c.length)).toEqual([100, 100, 50]);
  });

  describe('the clinician’s read (issue 18)', () => {
    it('shows each finding’s characteristics and the display window in the footer', () => {
      const [body] = renderOutbound({
        kind: 'read',
        card: card({
          findings: [
            {
              label: 'Nodule',
              characteristics: 'spiculated margins, solid',
              confidencePct: 55,
              confidenceSource: 'probe-logprob',
              calibrated: false,
            },
          ],
          window: 'the file’s own window (C 40, W 400)',
        }),
      });
      const embed = body!.embeds![0]!;
      expect(embed.fields![0]!.value).toContain('*spiculated margins, solid*');
      expect(embed.footer!.text).toContain('Display window: the file’s own window (C 40, W 400)');
      expect(embed.footer!.text).toContain('Confidence: model probability · not calibrated');
    });
  });
});
