import type { PageTarget } from './escalation/targets.ts';
import type { ConfidenceSource, Platform, ReadCard, ThreadRef, Urgency } from './types.ts';

export type { ReadCard, ReadCardFinding } from './types.ts';
// Confidence and window wording (issue 18) belongs to the reply model too: adapters see it through here.
export * from './wording.ts';

/**
 * The platform-neutral reply model. Each adapter's pure `render.ts` maps these to Block Kit, Discord
 * embeds or console HTML, taking every fixed word from the reply catalogue below. Every string that
 * came from the model is untrusted text: renderers must escape it for their platform (no mentions,
 * no links).
 */

export type StatusState = 'received' | 'queued' | 'waiting-engine' | 'preparing' | 'reading';

export type OutboundMessage =
  | { kind: 'status'; jobId: string; state: StatusState; position?: number; etaSec?: number }
  | { kind: 'read'; card: ReadCard }
  /** A coded failure shown to the poster: `text` is the AppError's safe userMessage. */
  | { kind: 'error'; jobId?: string; code: string; text: string }
  /** Help, queue status, model card, notices: plain informative text written by quickread itself. */
  | { kind: 'info'; title: string; lines: string[] }
  /** A critical-result page (issue 19): the only message that mentions anyone, and only `page.mentions`. */
  | { kind: 'page'; page: PageNotice };

export type { PageTarget } from './escalation/targets.ts';

/**
 * One escalation message. `mentions` come from the operator's rota (validated ids), never from model
 * text; `impression` is the model's and is escaped like any model text.
 */
export interface PageNotice {
  jobId: string;
  /** 1: the on-call; 2: the backup; 3: the whole channel. */
  step: 1 | 2 | 3;
  /** In the read's thread, in a direct message, or at the top of the channel. */
  place: 'thread' | 'direct' | 'channel';
  urgency: Urgency;
  impression: string;
  mentions: PageTarget[];
  afterMin: number;
  /** A link to the read's thread, when the platform gives one. */
  link?: string;
}

/** A message the bot posted, so it can be edited in place later. */
export interface PostedRef {
  thread: ThreadRef;
  messageId: string;
}

export const urgencyBadge: Record<Urgency, { emoji: string; label: string; colour: number }> = {
  critical: { emoji: '🔴', label: 'critical', colour: 0xd32f2f },
  urgent: { emoji: '🟠', label: 'urgent', colour: 0xf57c00 },
  routine: { emoji: '🟢', label: 'routine', colour: 0x388e3c },
};

export const confidenceSourceLabel: Record<ConfidenceSource, string> = {
  'probe-logprob': 'yes/no probe',
  'token-logprob': 'token probability',
  engine: 'engine score',
  'model-stated': 'model-stated',
};

/**
 * The reply catalogue: every sentence quickread itself says in a chat, in one place, so Slack,
 * Discord and the console say the same thing in the same words (issue 14: the wording had drifted).
 * Renderers only lay these out; the core picks which one a person sees. Coded failures keep their
 * AppError userMessage (src/errors.ts), which is the same text on every platform by construction.
 */

export const DISCLAIMER =
  'AI-generated second look — not a diagnosis and not for diagnostic use. A qualified clinician must review the images.';

/** "about 12 s", "about 3 min", "about 1 h 5 min" (queue places and help). */
export function formatEta(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const statusIcon: Record<StatusState, string> = {
  received: '👀',
  queued: '⏳',
  'waiting-engine': '⏸️',
  preparing: '🛠️',
  reading: '🔎',
};

/** The status message's words, without its icon (the console draws the icon apart). */
export function statusText(state: StatusState, position?: number, etaSec?: number): string {
  switch (state) {
    case 'received':
      return 'Received — getting the image ready.';
    case 'queued':
      return `Queued${position ? ` #${position}` : ''}${etaSec !== undefined ? ` · about ${formatEta(etaSec)}` : ''}`;
    case 'waiting-engine':
      return `Waiting for the model server${position ? ` · queued #${position}` : ''} — your request stays in the queue.`;
    case 'preparing':
      return 'Preparing the image (decode, window, de-identify)…';
    case 'reading':
      return 'Reading…';
  }
}

/** One line for a status message: icon and words. */
export function statusLine(message: Extract<OutboundMessage, { kind: 'status' }>): string {
  return `${statusIcon[message.state]} ${statusText(message.state, message.position, message.etaSec)}`;
}

/** The fixed words on a read card; the model's own words come from the card. */
export const cardText = {
  findings: 'Findings',
  noFindings: 'No findings reported.',
  noImpression: 'No impression given.',
  recommendations: 'Recommendations',
  followUp: 'follow-up',
  acknowledge: 'Acknowledge',
  acknowledgedBy: (who: string, when: string) => `Acknowledged by ${who} at ${when}`,
  notCritical: 'Not critical',
  notGrounded: 'not image-grounded',
  /** With the table's size when known: "calibrated on 240 cases" (quickread calibrate / eval --write-calibration). */
  calibrated: (yes: boolean, cases?: number) =>
    !yes ? 'uncalibrated' : cases === undefined ? 'calibrated' : `calibrated on ${cases} cases`,
  previewAlt: 'De-identified preview the model saw',
  /** "downsized" only when the image the model saw is smaller than the one posted (issue 18). */
  previewCaption: (resized: boolean) =>
    resized
      ? 'What the model saw: de-identified, downsized — not for diagnostic use.'
      : 'What the model saw: de-identified, at its original size — not for diagnostic use.',
} as const;

/** Notes under a read card: image quality, redacted pixel text, a downscaled image. */
export function cardNotes(card: ReadCard): string[] {
  const notes: string[] = [];
  if (card.images && card.images.length > 1) {
    notes.push(`${card.images.length} images read together: ${card.images.join('; ')}.`);
  }
  for (const note of card.studyNotes ?? []) notes.push(`${note.charAt(0).toUpperCase()}${note.slice(1)}.`);
  if (card.imageQuality) notes.push(`Image quality: ${card.imageQuality}`);
  if (card.burnedInTextRedacted) notes.push('Text found in the image pixels was blacked out before reading.');
  if (card.downscaled) notes.push('The image was downscaled to fit the model server’s memory.');
  return notes;
}

/** The line every renderer shows when findings were left out (issue 16: say so, never fail the read). */
export function omittedFindingsNote(count: number | undefined): string | undefined {
  if (!count) return undefined;
  return `${count} less confident finding${count === 1 ? ' was' : 's were'} left out (the model listed more than quickread shows).`;
}

/** Words of a read too long for one message (Slack's compact card and its continuations). */
export const longReadText = {
  topFindings: (shown: number, total: number) => `Top findings (${shown} of ${total}, most confident first)`,
  continuesBelow: (messages: number) =>
    `↓ The whole read follows in ${messages} ${messages === 1 ? 'message' : 'messages'} in this thread.`,
  continued: (jobId: string, part: number, parts: number) => `Read ${jobId}, continued (${part}/${parts})`,
  impressionInFull: 'Impression (in full)',
  allFindings: (count: number) => `All findings (${count})`,
  refused: (platform: string, reason: string, jobId: string) =>
    `The read is done but ${platform} refused to show it (${reason}). An administrator can find job ${jobId} in the log; asking again in this thread may help.`,
} as const;

const info = (title: string, ...lines: string[]): OutboundMessage => ({ kind: 'info', title, lines });
const error = (code: string, text: string): OutboundMessage => ({ kind: 'error', code, text });

/** How to start a read, in each place's own terms (answer to a mention that carried no image). */
const howTo: Partial<Record<Platform, string[]>> = {
  slack: [
    'Attach a scan (PNG, JPEG, TIFF or DICOM) to the message that mentions me,',
    'or use the message menu → "Read this scan" on a message that holds one.',
  ],
  discord: [
    'Mention me in a message with an image or DICOM file attached, or use the /read command.',
    'Discord has no business associate agreement: post de-identified or teaching images only.',
  ],
  teams: [
    'Mention me in a channel message with the image pasted in, or send me the image or DICOM file in a personal chat.',
    'Replies in that thread are follow-up questions about the same image.',
  ],
  console: [
    'Drop a DICOM, PNG or JPEG here (or tap Attach) and type your question.',
    'Questions typed as a reply under a read are follow-ups about the same image.',
  ],
  api: ['Send an image with the question.'],
  batch: ['Give the command an image file or folder.'],
  cli: ['Give the command an image file.'],
};

/**
 * The words of a page, without its mentions (each renderer writes those first, in its own syntax) and
 * without the impression and link, which renderers lay out (escaping the impression: it is model text).
 * A page in the thread sits under the card, so it says only what happened.
 */
export function pageText(page: PageNotice): { headline: string; withDetails: boolean } {
  const badge = urgencyBadge[page.urgency];
  switch (page.place) {
    case 'direct':
      return {
        headline: `${badge.emoji} A ${badge.label} quickread result needs your review${page.step === 2 ? ` (the on-call did not acknowledge in ${page.afterMin} min)` : ''}.`,
        withDetails: true,
      };
    case 'thread':
      return {
        headline:
          page.step === 1
            ? `${badge.emoji} ${capitalise(badge.label)} read — paging the on-call. Please look and acknowledge.`
            : `Not acknowledged in ${page.afterMin} min; paged the backup.`,
        withDetails: false,
      };
    case 'channel':
      return {
        headline: `${badge.emoji} A ${badge.label} read has not been acknowledged in ${page.afterMin * 2} min (on-call and backup paged). Can someone look?`,
        withDetails: true,
      };
  }
}

/** Fixed words around a page's details. */
export const pageWords = {
  impression: 'Impression',
  openThread: 'Open the thread',
  note: 'An AI “critical” is a prompt to look, not a diagnosis. Acknowledge once you have looked.',
} as const;

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Notes the core hands back for an adapter to show the person who acted. */
export const notes = {
  attachAnImage: (platform: Platform) =>
    info(
      'Attach an image to start a read',
      ...(howTo[platform] ?? ['Mention me in a message with an image or DICOM file attached.']),
    ),
  alreadyReading: info('Already on it', 'This scan is already being read (or was read) — see its thread.'),
  voteRecorded: (vote: 'up' | 'down') =>
    info(`Thanks — your ${vote === 'up' ? '👍' : '👎'} was recorded for this read.`),
  cancelled: info('Cancelled', 'Your pending request in this thread was withdrawn.'),
  previewTooLarge: info(
    'Preview not shown',
    'The chat refused the read card with the de-identified preview in it (message too large), so the card above is shown without it. The read itself is complete.',
  ),
  nothingToCancel: info(
    'Nothing to cancel',
    'Your requests in this thread are finished (read, failed or already withdrawn): there is nothing left to cancel.',
  ),
  /** What a status message becomes when its answer had to be posted as a new message below it. */
  answerBelow: (what: 'read' | 'answer') => info(`The ${what} is below.`),
  criticalAcknowledged: (minutes: number) =>
    info(
      'Your critical read was acknowledged',
      `Someone acknowledged it ${minutes < 1 ? 'within a minute' : `after ${Math.round(minutes)} min`}; the card shows who and when.`,
    ),
  notCriticalRecorded: info(
    'Recorded: not critical',
    'Thank you — your disagreement is kept for calibration, and the read counts as acknowledged.',
  ),
  burnedInTextFlagged: (regions: number) =>
    info(
      'Text found in the image pixels',
      `quickread found ${regions} text region(s) burned into the image you posted; they were not removed (BURNED_IN_TEXT=flag).`,
      'If they show a name, date or ID, delete the post and share a de-identified image instead.',
    ),
} as const;

/** Refusals and failures, with their AppError code. */
export const refusals = {
  readGone: error('USAGE', 'That read is no longer kept.'),
  cannotAcknowledge: error('USAGE', 'That read can no longer be acknowledged.'),
  notAllowedToAct:
    'You are not on the list of people who may acknowledge or rate quickread reads here.' as string,
  externalFile: 'That file is hosted outside the chat platform (e.g. Google Drive); upload the image itself.',
  notTakenNow: error(
    'INTERNAL',
    'quickread could not take this request just now; please try again in a minute.',
  ),
  cancelledByRequester: 'Cancelled at your request.',
  interruptedTooOften: 'This request could not be completed after several restarts; please post it again.',
  threadImageGone: 'The image of this thread is no longer kept (retention period). Please post it again.',
  identifiedDicomOnDiscord:
    'This DICOM still carries patient identity in its header, and Discord has no business associate agreement. Delete the post and share a de-identified image instead.',
} as const;

/** The engine and queue as a person sees them (help, status, model card). */
export interface QueueView {
  queued: number;
  running: number;
  engineUp: boolean;
  etaSec: number;
  model: string;
  promptVersion: string;
}

const modelLine = (queue: QueueView, maxImageSide: number) =>
  `Model: ${queue.model} · prompt ${queue.promptVersion} · image budget ${maxImageSide} px longest side (≈${Math.round((maxImageSide / 32) ** 2)} visual tokens).`;

export function queueStatus(queue: QueueView): OutboundMessage {
  return info(
    'quickread queue',
    `${queue.queued} waiting · ${queue.running} being read · a new request is answered in about ${formatEta(queue.etaSec)}`,
    queue.engineUp ? 'Model server: up' : 'Model server: unreachable — requests wait in the queue',
    `Model ${queue.model} · prompt ${queue.promptVersion}`,
  );
}

export function modelCard(queue: QueueView, maxImageSide: number): OutboundMessage {
  return info(
    'quickread model card',
    modelLine(queue, maxImageSide),
    'Each finding shows a confidence and where it came from (yes/no probe, token probability, engine score or model-stated).',
    DISCLAIMER,
  );
}

/** Help, queue status and the model card, worded for clinicians (DESIGN §6: every reply says what it is). */
export function help(platform: Platform, queue: QueueView, maxImageSide: number): OutboundMessage {
  const lines = [
    'Post a CT slice, X-ray or DICOM with a question (mention the bot), e.g. "any pneumothorax?".',
    'Ask follow-up questions in the same thread: the same image is reused, earlier answers are remembered.',
    'Say "stat" or "urgent" in the question to jump the queue; reply "cancel" to withdraw a request.',
    `Queue: ${queue.queued} waiting, ${queue.running} being read; a new request is answered in about ${formatEta(queue.etaSec)}.${queue.engineUp ? '' : ' The model server is unavailable right now: requests wait and resume by themselves.'}`,
    modelLine(queue, maxImageSide),
    'Each finding shows a confidence and where it came from (yes/no probe, token probability, engine score or model-stated).',
    DISCLAIMER,
  ];
  if (platform === 'discord') {
    lines.push(
      'Discord has no business associate agreement (BAA): post de-identified or teaching images only, never patient data.',
    );
  }
  return info('quickread — a fast second look', ...lines);
}

/** A message as plain text, for places that take only text (Discord ephemeral notes, logs of tests). */
export function plainText(message: OutboundMessage): string {
  switch (message.kind) {
    case 'status':
      return statusLine(message);
    case 'read':
      return message.card.impression;
    case 'error':
      return message.text;
    case 'info':
      return [message.title, ...message.lines].join('\n');
    case 'page': {
      const { headline, withDetails } = pageText(message.page);
      return withDetails
        ? [headline, `${pageWords.impression}: ${message.page.impression}`, pageWords.note].join('\n')
        : headline;
    }
  }
}
