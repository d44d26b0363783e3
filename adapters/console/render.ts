import {
  cardNotes,
  cardText,
  confidenceBand,
  confidenceExplanation,
  confidenceSourceWords,
  type OutboundMessage,
  omittedFindingsNote,
  type PageNotice,
  pageText,
  pageWords,
  type ReadCard,
  type ReadCardFinding,
  type StatusState,
  statusIcon,
  statusText,
  urgencyBadge,
} from '../../src/core/reply.ts';

/**
 * OutboundMessage → console HTML fragments (pure, no I/O). Every string that came from the model or a
 * user is untrusted: it is escaped here, once, and the page inserts the fragment as it is. The page is
 * also served with a Content-Security-Policy that forbids inline script, so a missed escape cannot run.
 */

const entities: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (char) => entities[char] ?? char);
}

/** What the server keeps beside a card: things that arrive after the card was posted. */
export interface CardExtras {
  previewUrl?: string;
  previewCaption?: string;
  /** The model saw the same image as an earlier card in this thread (a follow-up): not shown twice. */
  previewSameAsAbove?: boolean;
  votes?: { up: number; down: number };
  /** Pseudonym to show for the acknowledging user (never the raw id). */
  acknowledgedByName?: string;
}

export type ViewKind = 'status' | 'read' | 'error' | 'info' | 'user' | 'preview';

/** A message as the page draws it: `html` is already safe to insert. */
export interface MessageView {
  kind: ViewKind;
  html: string;
  jobId?: string;
  /** Status messages only: lets the page style "waiting for the engine" differently. */
  state?: StatusState;
}

export function renderMessage(message: OutboundMessage, extras: CardExtras = {}): MessageView {
  switch (message.kind) {
    case 'status':
      return {
        kind: 'status',
        jobId: message.jobId,
        state: message.state,
        html: `<p class="status status-${message.state}"><span class="spin" aria-hidden="true">${statusIcon[message.state]}</span> ${escapeHtml(statusText(message.state, message.position, message.etaSec))}</p>`,
      };
    case 'read':
      return { kind: 'read', jobId: message.card.jobId, html: renderCard(message.card, extras) };
    case 'error':
      return {
        kind: 'error',
        ...(message.jobId ? { jobId: message.jobId } : {}),
        html: `<p class="error-msg">⚠️ ${escapeHtml(message.text)} <code>${escapeHtml(message.code)}</code></p>`,
      };
    case 'info':
      return {
        kind: 'info',
        html: `<div class="info"><strong>${escapeHtml(message.title)}</strong>${message.lines.length ? `<ul>${message.lines.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>` : ''}</div>`,
      };
    case 'page':
      return { kind: 'info', jobId: message.page.jobId, html: renderPageBanner(message.page) };
  }
}

/**
 * A critical-result page as a banner (issue 19): role="alert" so a screen reader announces it, and no
 * sound — a console on a reading-room screen must not beep. Named console users are shown by name.
 */
export function renderPageBanner(page: PageNotice): string {
  const { headline } = pageText(page);
  const who = page.mentions.filter((t) => t.platform === 'console').map((t) => escapeHtml(t.id));
  return [
    `<div class="info page-banner urgency-${page.urgency}" role="alert" data-job="${escapeHtml(page.jobId)}">`,
    `<strong>${escapeHtml(headline)}</strong>`,
    who.length ? `<p>For: ${who.join(', ')}</p>` : '',
    `<p>${pageWords.impression}: ${escapeHtml(page.impression)}</p>`,
    `<p class="note">${escapeHtml(pageWords.note)}</p>`,
    `<button type="button" class="btn ack" data-action="ack" data-job="${escapeHtml(page.jobId)}">${cardText.acknowledge}</button>`,
    '</div>',
  ].join('');
}

function findingMeta(finding: ReadCardFinding): string {
  const parts: string[] = [];
  if (finding.location) parts.push(finding.location);
  if (finding.sizeMm !== undefined) parts.push(`${Math.round(finding.sizeMm * 10) / 10} mm`);
  if (finding.laterality && finding.laterality !== 'none') parts.push(finding.laterality);
  if (finding.severity) parts.push(finding.severity);
  return parts.map(escapeHtml).join(' · ');
}

function renderFinding(finding: ReadCardFinding): string {
  const pct = Math.max(0, Math.min(100, Math.round(finding.confidencePct)));
  const band = confidenceBand(pct / 100);
  const meta = findingMeta(finding);
  const ungrounded =
    finding.grounded === false
      ? `<span class="ungrounded" title="A blank-image probe gave the same answer: the image may not support this">${cardText.notGrounded}</span>`
      : '';
  // Issue 18: the band is what a glance takes in; the % is secondary and always with its source, and
  // a tap on the source explains what the number is (a <details>, so it works without script).
  return [
    '<li class="finding">',
    `<div class="f-head"><span class="f-label">${escapeHtml(finding.label)}</span>`,
    `<span class="conf band-${band}"><span class="band">${band}</span> <span class="pct">${pct}%</span></span></div>`,
    `<meter class="bar" min="0" max="100" value="${pct}" aria-hidden="true"></meter>`,
    meta ? `<div class="f-meta">${meta}</div>` : '',
    finding.characteristics ? `<div class="f-char">${escapeHtml(finding.characteristics)}</div>` : '',
    `<details class="f-src"><summary>${escapeHtml(confidenceSourceWords(finding.confidenceSource, finding.calibrated, finding.calibratedOn))}</summary>`,
    `<p>${escapeHtml(confidenceExplanation(finding.confidenceSource, finding.calibrated))}</p></details>`,
    ungrounded,
    '</li>',
  ].join('');
}

export function renderCard(card: ReadCard, extras: CardExtras = {}): string {
  const badge = urgencyBadge[card.urgency];
  const job = escapeHtml(card.jobId);
  const findings = card.findings.length
    ? `<ul class="findings">${card.findings.map(renderFinding).join('')}</ul>`
    : `<p class="muted">${cardText.noFindings}</p>`;
  const omitted = omittedFindingsNote(card.omittedFindings);
  const recs = card.recommendations.length
    ? `<section><h4>${cardText.recommendations}</h4><ul class="recs">${card.recommendations.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul></section>`
    : '';
  const notes = cardNotes(card).map(escapeHtml);
  const modelLine = [
    escapeHtml(card.model),
    `prompt ${escapeHtml(card.promptVersion)}`,
    `image ${card.image.width}×${card.image.height} (${card.image.tokens} tokens)`,
  ].join(' · ');
  const windowLine = card.window ? `<p class="window">Display window: ${escapeHtml(card.window)}</p>` : '';
  const preview = extras.previewSameAsAbove
    ? '<p class="note muted">The model saw the same de-identified image as above.</p>'
    : extras.previewUrl
      ? `<figure class="preview"><img src="${escapeHtml(extras.previewUrl)}" alt="De-identified preview the model saw" loading="lazy"><figcaption>${escapeHtml(extras.previewCaption ?? 'De-identified preview — not for diagnostic use')}</figcaption></figure>`
      : '';
  const ack = card.acknowledgedBy
    ? // The catalogue's words hold no markup; the name is escaped and the time is our own element.
      `<span class="acked">✓ ${cardText.acknowledgedBy(escapeHtml(extras.acknowledgedByName ?? 'a colleague'), timeElement(card.acknowledgedBy.at))}</span>`
    : `<button type="button" class="btn ack" data-action="ack" data-job="${job}">${cardText.acknowledge}</button>`;
  const votes = extras.votes ?? { up: 0, down: 0 };
  return [
    `<article class="card urgency-${card.urgency}" data-job="${job}">`,
    // The emoji is decoration: the urgency is in words (and there is no emoji font everywhere).
    `<header class="headline"><span class="badge"><span aria-hidden="true">${badge.emoji}</span> ${escapeHtml(card.urgency.toUpperCase())}</span>`,
    card.isFollowUp ? `<span class="tag">${cardText.followUp}</span>` : '',
    `<p class="impression">${escapeHtml(card.impression)}</p></header>`,
    // Issue 18: the disclaimer sits above the findings and the full-width preview, in view on a phone.
    `<p class="disclaimer">${escapeHtml(card.disclaimer)}</p>`,
    `<section><h4>${cardText.findings}</h4>${findings}${omitted ? `<p class="muted">${escapeHtml(omitted)}</p>` : ''}</section>`,
    recs,
    notes.map((note) => `<p class="note">${note}</p>`).join(''),
    windowLine,
    preview,
    `<p class="model">${modelLine}</p>`,
    '<footer class="actions">',
    ack,
    `<button type="button" class="btn vote" data-action="up" data-job="${job}"><span aria-hidden="true">👍</span> Helpful <span class="count">${votes.up || ''}</span></button>`,
    `<button type="button" class="btn vote" data-action="down" data-job="${job}"><span aria-hidden="true">👎</span> Not helpful <span class="count">${votes.down || ''}</span></button>`,
    '</footer></article>',
  ].join('');
}

/** The user's own message: the question, and what kind of file came with it — never the file name. */
export function renderUserMessage(
  question: string,
  attachment?: { kind: string; sizeBytes: number },
): string {
  const file = attachment
    ? `<p class="attach"><span aria-hidden="true">📎</span> Attached: ${escapeHtml(attachment.kind)} · ${formatBytes(attachment.sizeBytes)}</p>`
    : '';
  const text = question.trim() ? `<p class="text">${escapeHtml(question)}</p>` : '';
  return `${text}${file}`;
}

export function renderPreviewMessage(url: string, caption: string): MessageView {
  return {
    kind: 'preview',
    html: `<figure class="preview"><img src="${escapeHtml(url)}" alt="De-identified preview the model saw" loading="lazy"><figcaption>${escapeHtml(caption)}</figcaption></figure>`,
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * A time the page shows in the reader's own time zone (app.js rewrites `time.local`); the server does
 * not know that zone, so the text it writes first is UTC and says so.
 */
function timeElement(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const utc = `${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')} UTC`;
  return `<time class="local" datetime="${escapeHtml(date.toISOString())}">${utc}</time>`;
}
