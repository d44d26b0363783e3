import type { Config } from '../config.ts';
import type { QueueSnapshot } from './adapter.ts';
import { DISCLAIMER, type OutboundMessage } from './reply.ts';
import type { Platform } from './types.ts';

const minutes = (seconds: number): string =>
  seconds < 90 ? `about ${seconds} s` : `about ${Math.round(seconds / 60)} min`;

/** Help, queue status and the model card, worded for clinicians (DESIGN §6: every reply says what it is). */
export function helpMessage(platform: Platform, config: Config, queue: QueueSnapshot): OutboundMessage {
  const side = config.MAX_IMAGE_SIZE;
  const tokens = Math.round((side / 32) * (side / 32));
  const lines = [
    'Post a CT slice, X-ray or DICOM with a question (mention the bot), e.g. "any pneumothorax?".',
    'Ask follow-up questions in the same thread: the same image is reused, earlier answers are remembered.',
    'Say "stat" or "urgent" in the question to jump the queue; reply "cancel" to withdraw a request.',
    `Queue: ${queue.queued} waiting, ${queue.running} being read; a new request is answered in ${minutes(queue.etaSec)}.${queue.engineUp ? '' : ' The model server is unavailable right now: requests wait and resume by themselves.'}`,
    `Model: ${queue.model} · prompt ${queue.promptVersion} · image budget ${side} px longest side (≈${tokens} visual tokens).`,
    'Each finding shows a confidence and where it came from (yes/no probe, token probability, engine score or model-stated).',
    DISCLAIMER,
  ];
  if (platform === 'discord') {
    lines.push(
      'Discord has no business associate agreement (BAA): post de-identified or teaching images only, never patient data.',
    );
  }
  return { kind: 'info', title: 'quickread — a fast second look', lines };
}
