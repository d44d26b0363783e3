import type { PreparedImage, Turn } from '../../core/types.ts';
import { chooseGuidance, knownFacts } from '../facts.ts';
import { schemaForPrompt } from '../output.ts';
import { type PromptSet, renderPrompt } from '../prompts.ts';

/**
 * OpenAI chat messages for a read or a follow-up. The image rides in the first user turn as a base64
 * PNG data URL, built from the same bytes every time, and the system prompt comes first and never
 * changes within a thread: vLLM's encoder cache and automatic prefix cache then hit on follow-ups.
 */

export type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | ContentPart[];
}

/** Earlier turns are capped so a long thread cannot push the image out of max_model_len. */
export const HISTORY_TOKEN_BUDGET = 2048;

export const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

/** A rough token count: ~4 characters per token for Latin text, ~1 per CJK character. */
export function estimateTokens(text: string): number {
  const cjk = (text.match(/[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]/gu) ?? []).length;
  return Math.ceil((text.length - cjk) / 4) + cjk;
}

/** Keep the newest turns that fit the budget; the kept history starts with a user turn. */
export function boundHistory(history: readonly Turn[], budget = HISTORY_TOKEN_BUDGET): Turn[] {
  const kept: Turn[] = [];
  let used = 0;
  for (let i = history.length - 1; i >= 0; i--) {
    const turn = history[i]!;
    const cost = estimateTokens(turn.text) + 4;
    if (used + cost > budget) break;
    kept.unshift(turn);
    used += cost;
  }
  while (kept.length > 0 && kept[0]!.role !== 'user') kept.shift();
  return kept;
}

export function systemPrompt(prompts: PromptSet, image: PreparedImage, question: string): string {
  const guidance = chooseGuidance(image.meta, question);
  return renderPrompt(prompts, 'radiologist', {
    known_facts: knownFacts(image),
    modality_guidance: renderPrompt(prompts, guidance, {}),
    schema: schemaForPrompt(),
  });
}

export function readMessages(
  prompts: PromptSet,
  image: PreparedImage,
  question: string,
  history: readonly Turn[],
  system: string = systemPrompt(prompts, image, history.find((t) => t.role === 'user')?.text ?? question),
): ChatMessage[] {
  const imagePart: ContentPart = { type: 'image_url', image_url: { url: dataUrl(image.png) } };
  const kept = boundHistory(history);
  const messages: ChatMessage[] = [{ role: 'system', content: system }];
  if (kept.length === 0) {
    messages.push({
      role: 'user',
      content: [imagePart, { type: 'text', text: renderPrompt(prompts, 'read', { question }) }],
    });
    return messages;
  }
  kept.forEach((turn, index) => {
    if (index === 0) {
      const text = renderPrompt(prompts, 'read', { question: turn.text });
      messages.push({ role: 'user', content: [imagePart, { type: 'text', text }] });
    } else {
      messages.push({ role: turn.role, content: turn.text });
    }
  });
  messages.push({ role: 'user', content: renderPrompt(prompts, 'followup', { question }) });
  return messages;
}

export function probeMessages(prompts: PromptSet, png: Buffer, finding: string): ChatMessage[] {
  return [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: dataUrl(png) } },
        { type: 'text', text: renderPrompt(prompts, 'probe', { finding }) },
      ],
    },
  ];
}
