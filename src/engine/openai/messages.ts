import type { PreparedImage, StudyImage, Turn } from '../../core/types.ts';
import { chooseGuidance, knownFacts } from '../facts.ts';
import { schemaForPrompt } from '../output.ts';
import { type PromptSet, renderPrompt } from '../prompts.ts';
import { studyFacts, studyText } from '../study.ts';

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

/** A study read: its labelled images, sent as separate images or tiled into one (a montage). */
export interface StudyParts {
  images: readonly StudyImage[];
  tiled: boolean;
}

export function systemPrompt(
  prompts: PromptSet,
  image: PreparedImage,
  question: string,
  study?: StudyParts,
): string {
  const guidance = chooseGuidance(image.meta, question);
  return renderPrompt(prompts, 'radiologist', {
    known_facts: study ? studyFacts(study.images, study.tiled) : knownFacts(image),
    modality_guidance: renderPrompt(prompts, guidance, {}),
    schema: schemaForPrompt(),
  });
}

/**
 * What a read looks at: one prepared image; a study's labelled images, each sent as its label then
 * the image (Qwen3-VL takes several images in one user turn); or a study tiled into one montage for
 * a server or runtime that takes one image.
 */
export type ReadSubject =
  | PreparedImage
  | readonly StudyImage[]
  | { montage: PreparedImage; images: readonly StudyImage[] };

interface Subject {
  first: PreparedImage;
  images: ContentPart[];
  study?: StudyParts;
}

function subjectOf(subject: ReadSubject): Subject {
  const url = (png: Buffer): ContentPart => ({ type: 'image_url', image_url: { url: dataUrl(png) } });
  if (Array.isArray(subject)) {
    const images = subject as readonly StudyImage[];
    return {
      first: images[0]!,
      images: images.flatMap((one): ContentPart[] => [{ type: 'text', text: one.label }, url(one.png)]),
      study: { images, tiled: false },
    };
  }
  if ('montage' in subject) {
    return {
      first: subject.montage,
      images: [url(subject.montage.png)],
      study: { images: subject.images, tiled: true },
    };
  }
  const image = subject as PreparedImage;
  return { first: image, images: [url(image.png)] };
}

export function readMessages(
  prompts: PromptSet,
  subject: ReadSubject,
  question: string,
  history: readonly Turn[],
  system?: string,
): ChatMessage[] {
  const { first, images, study } = subjectOf(subject);
  const firstQuestion = history.find((t) => t.role === 'user')?.text ?? question;
  const systemText = system ?? systemPrompt(prompts, first, firstQuestion, study);
  const firstTurn = (text: string): ChatMessage => ({
    role: 'user',
    content: [
      ...images,
      {
        type: 'text',
        text: study
          ? `${studyText(prompts, study.images, study.tiled)}\n\n${renderPrompt(prompts, 'read', { question: text })}`
          : renderPrompt(prompts, 'read', { question: text }),
      },
    ],
  });
  const kept = boundHistory(history);
  const messages: ChatMessage[] = [{ role: 'system', content: systemText }];
  if (kept.length === 0) {
    messages.push(firstTurn(question));
    return messages;
  }
  kept.forEach((turn, index) => {
    if (index === 0) messages.push(firstTurn(turn.text));
    else messages.push({ role: turn.role, content: turn.text });
  });
  messages.push({ role: 'user', content: renderPrompt(prompts, 'followup', { question }) });
  return messages;
}

/** The yes/no probe: on one image, or on every image of a study (each after its label). */
export function probeMessages(
  prompts: PromptSet,
  png: Buffer | ReadonlyArray<{ png: Buffer; label: string }>,
  finding: string,
): ChatMessage[] {
  const imageParts: ContentPart[] = Buffer.isBuffer(png)
    ? [{ type: 'image_url', image_url: { url: dataUrl(png) } }]
    : png.flatMap((one): ContentPart[] => [
        { type: 'text', text: one.label },
        { type: 'image_url', image_url: { url: dataUrl(one.png) } },
      ]);
  return [
    {
      role: 'user',
      content: [...imageParts, { type: 'text', text: renderPrompt(prompts, 'probe', { finding }) }],
    },
  ];
}
