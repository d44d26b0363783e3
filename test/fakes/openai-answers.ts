import type { ImageFacts } from './image-facts.ts';
import type { FakeFinding, FakeOpenAIOptions } from './openai-server.ts';

/**
 * What the fake OpenAI-compatible server answers, derived only from the request: findings JSON for a
 * read (none for a blank image), and a yes/no first-token distribution for a probe.
 */

const DEFAULT_FINDINGS: FakeFinding[] = [
  {
    label: 'Pulmonary nodule',
    location: 'right upper lobe',
    sizeMm: 8,
    laterality: 'right',
    severity: 'mild',
    characteristics: 'solid, smooth margins',
    confidence: 0.7,
  },
];

export interface ChatBody {
  model?: string;
  messages: Array<{ role: string; content: unknown }>;
  max_tokens?: number;
  logprobs?: boolean;
  top_logprobs?: number;
}

/** Every image_url of the request, in order (a study sends several in one user turn). */
export function imageUrls(messages: ChatBody['messages']): string[] {
  const found: string[] = [];
  for (const message of messages) {
    if (!Array.isArray(message.content)) continue;
    for (const part of message.content as Array<{ type?: string; image_url?: { url?: string } }>) {
      if (part.type === 'image_url' && typeof part.image_url?.url === 'string')
        found.push(part.image_url.url);
    }
  }
  return found;
}

export function lastImageUrl(messages: ChatBody['messages']): string | undefined {
  return imageUrls(messages).at(-1);
}

export function lastUserText(messages: ChatBody['messages']): string {
  const user = [...messages].reverse().find((message) => message.role === 'user');
  if (!user) return '';
  if (typeof user.content === 'string') return user.content;
  if (!Array.isArray(user.content)) return '';
  return (user.content as Array<{ type?: string; text?: string }>)
    .filter((part) => part.type === 'text')
    .map((part) => part.text ?? '')
    .join('\n');
}

export function readAnswer(image: ImageFacts | undefined, options: FakeOpenAIOptions) {
  if (!image || image.blank) {
    return {
      findings: [],
      impression: 'The image is uniform: no anatomy is visible to assess.',
      urgency: 'routine',
      recommendations: ['Send an image that shows the anatomy in question.'],
      imageQuality: 'non-diagnostic',
    };
  }
  const findings = (options.findings ?? DEFAULT_FINDINGS).map((finding) => ({
    label: finding.label,
    location: finding.location,
    sizeMm: finding.sizeMm ?? null,
    laterality: finding.laterality ?? 'none',
    severity: finding.severity ?? 'mild',
    characteristics: finding.characteristics ?? '',
    confidence: finding.confidence ?? 0.6,
  }));
  return {
    findings,
    impression: options.impression ?? (findings.length > 0 ? `${findings[0]!.label}.` : 'No acute findings.'),
    urgency: options.urgency ?? 'routine',
    recommendations: ['Compare with prior imaging if available.'],
    imageQuality: 'diagnostic',
  };
}

/** The yes/no probe: P(yes) for the finding whose label the probe text names. */
export function probeCompletion(
  model: string,
  request: ChatBody,
  image: ImageFacts | undefined,
  promptTokens: number,
  options: FakeOpenAIOptions,
) {
  const text = lastUserText(request.messages).toLowerCase();
  const findings = options.findings ?? DEFAULT_FINDINGS;
  const named = findings.find((finding) => text.includes(finding.label.toLowerCase()));
  const blank = image?.blank ?? true;
  let pYes = 0.05;
  const fromImage = image && !blank ? options.probeYesFor?.(image, text) : undefined;
  if (fromImage !== undefined) pYes = fromImage;
  else if (named) {
    const sees = !blank || (options.ungrounded ?? []).includes(named.label);
    pYes = sees ? (options.probeYes ?? 0.9) : (options.blankProbeYes ?? 0.1);
  }
  const tokens = probeTokenMasses(pYes, options.probeTokens ?? 'mixed');
  const top = tokens
    .sort((a, b) => b.p - a.p)
    .slice(0, Math.max(1, request.top_logprobs ?? 1))
    .map((t) => ({ token: t.token, logprob: Math.log(t.p), bytes: [...Buffer.from(t.token, 'utf8')] }));
  const chosen = top[0]!;
  const choice = completion(model, chosen.token, 'length', promptTokens, 1);
  const logprobs = options.logprobs === false ? null : { content: [{ ...chosen, top_logprobs: top }] };
  choice.choices[0]!.logprobs = logprobs;
  return choice;
}

/** Spreads P(yes)/P(no) over answer tokens of several spellings, plus filler mass the engine must ignore. */
function probeTokenMasses(pYes: number, style: 'en' | 'zh' | 'mixed'): Array<{ token: string; p: number }> {
  const filler = 0.04;
  const answer = 1 - filler;
  const yes = pYes * answer;
  const no = (1 - pYes) * answer;
  const spread: Record<typeof style, Array<[string, string, number]>> = {
    en: [
      ['Yes', 'No', 0.8],
      ['yes', 'no', 0.2],
    ],
    zh: [
      ['是', '否', 0.7],
      ['有', '没有', 0.3],
    ],
    mixed: [
      ['Yes', 'No', 0.6],
      [' yes', ' no', 0.1],
      ['YES', 'NO', 0.1],
      ['是', '否', 0.2],
    ],
  };
  const out: Array<{ token: string; p: number }> = [{ token: 'The', p: filler }];
  for (const [y, n, share] of spread[style]) {
    out.push({ token: y, p: Math.max(1e-9, yes * share) }, { token: n, p: Math.max(1e-9, no * share) });
  }
  return out;
}

export function completion(
  model: string,
  content: string,
  finish: string,
  prompt: number,
  completionTokens: number,
) {
  return {
    id: `chatcmpl-${Math.random().toString(16).slice(2)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, tool_calls: [] as unknown[] },
        logprobs: null as unknown,
        finish_reason: finish,
        stop_reason: null,
      },
    ],
    usage: {
      prompt_tokens: prompt,
      total_tokens: prompt + completionTokens,
      completion_tokens: completionTokens,
    },
  };
}
