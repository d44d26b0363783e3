import type { ConfidenceSource, Severity, ThreadRef, Urgency } from './types.ts';

/**
 * The platform-neutral reply model. Each adapter's pure `render.ts` maps these to Block Kit, Discord
 * embeds or console HTML, taking every fixed word from the reply catalogue (replies.ts, re-exported
 * here so adapters see one seam). Every string that came from the model is untrusted text: renderers
 * must escape it for their platform (no mentions, no links).
 */

export * from './replies.ts';

export interface ReadCardFinding {
  label: string;
  location?: string;
  sizeMm?: number;
  laterality?: string;
  severity?: Severity;
  /** 0..100, rounded */
  confidencePct: number;
  confidenceSource: ConfidenceSource;
  calibrated: boolean;
  /** false → show "not image-grounded" */
  grounded?: boolean;
}

export interface ReadCard {
  jobId: string;
  urgency: Urgency;
  impression: string;
  findings: ReadCardFinding[];
  recommendations: string[];
  imageQuality?: string;
  model: string;
  promptVersion: string;
  image: { width: number; height: number; tokens: number };
  downscaled: boolean;
  /** Text found in the pixels was blacked out before the model saw the image. */
  burnedInTextRedacted: boolean;
  isFollowUp: boolean;
  /** A study read: the label of every image the model saw, in order (issue 17). */
  images?: string[];
  /** What the study left out and why, and which slices were read: never silent. */
  studyNotes?: string[];
  acknowledgedBy?: { userId: string; at: string };
  disclaimer: string;
}

export type StatusState = 'received' | 'queued' | 'waiting-engine' | 'preparing' | 'reading';

export type OutboundMessage =
  | { kind: 'status'; jobId: string; state: StatusState; position?: number; etaSec?: number }
  | { kind: 'read'; card: ReadCard }
  /** A coded failure shown to the poster: `text` is the AppError's safe userMessage. */
  | { kind: 'error'; jobId?: string; code: string; text: string }
  /** Help, queue status, model card, notices: plain informative text written by quickread itself. */
  | { kind: 'info'; title: string; lines: string[] };

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
