import type {
  Confidence,
  Engine,
  EngineHealth,
  InferenceInput,
  InferenceResult,
  PreparedImage,
  StudyImage,
} from '../../core/types.ts';
import { AppError, isAppError } from '../../errors.ts';
import { loadTables } from '../confidence/calibration.ts';
import { requestJson } from '../http.ts';
import { withImageLadder } from '../ladder.ts';
import type { EngineDeps, EngineEndpoint } from '../openai/index.ts';
import { boundHistory, systemPrompt } from '../openai/messages.ts';
import {
  keepMostConfident,
  type ModelRead,
  maxFindings,
  modelReadSchema,
  parseModelRead,
} from '../output.ts';
import { PROMPT_VERSION, renderPrompt } from '../prompts.ts';
import { buildResult, type CalibrationTables, clamp, logRead } from '../result.ts';
import { asMontage, studyText, summarizeStudy } from '../study.ts';
import { parseFreeText } from './parse-text.ts';

/**
 * The visual-QA engine: the original `:7860` service, `POST /v1/visualqa {image, question, temperature}`
 * → `{response, confidence}`. It takes one question string and no system prompt, so the instructions
 * travel inside the question. Its `response` is parsed as JSON when the service honoured that, else
 * as structured free text; its own `confidence` number is the finding confidence (source 'engine').
 * quickread's own serve-api answers `findings` too, which are used when present.
 */

export function visualQaUrl(engineUrl: string): string {
  const base = engineUrl.replace(/\/+$/, '');
  return base.endsWith('/v1') ? `${base}/visualqa` : `${base}/v1/visualqa`;
}

function historyText(input: InferenceInput): string {
  const kept = boundHistory(input.history);
  if (kept.length === 0) return '';
  const lines = kept.map((turn) => `${turn.role === 'user' ? 'Clinician' : 'You'}: ${turn.text}`);
  return `Earlier in this conversation:\n${lines.join('\n')}\n\n`;
}

export function parseVisualQaAnswer(body: unknown): ModelRead | undefined {
  const record = (body ?? {}) as Record<string, unknown>;
  if (Array.isArray(record.findings)) {
    const direct = modelReadSchema.safeParse({
      findings: record.findings,
      impression: record.impression ?? record.response,
      urgency: record.urgency ?? 'routine',
      recommendations: record.recommendations ?? [],
      imageQuality: record.imageQuality,
    });
    if (direct.success) return keepMostConfident(direct.data, maxFindings());
  }
  const response = typeof record.response === 'string' ? record.response : '';
  if (response.trim() === '') return undefined;
  const json = parseModelRead(response);
  if (json.ok) return json.read;
  return parseFreeText(response);
}

export function createVisualQaEngine(endpoint: EngineEndpoint, deps: EngineDeps): Engine {
  const url = visualQaUrl(endpoint.url);
  const healthUrl = `${url.replace(/\/v1\/visualqa$/, '')}/healthz`;
  let tables: Promise<CalibrationTables> | undefined;

  const ask = async (
    image: PreparedImage,
    input: InferenceInput,
    signal: AbortSignal,
    study?: StudyImage[],
  ) => {
    const firstQuestion = input.history.find((turn) => turn.role === 'user')?.text ?? input.question;
    const parts = study ? { images: study, tiled: true } : undefined;
    const system = systemPrompt(deps.prompts, image, firstQuestion, parts);
    const question = renderPrompt(deps.prompts, 'visualqa', {
      // The service takes one image: a study arrives as one labelled montage (issue 17).
      instructions: study ? `${system}\n\n${studyText(deps.prompts, study, true)}` : system,
      question: `${historyText(input)}${input.question}`,
    });
    const body = {
      image: image.png.toString('base64'),
      question,
      temperature: input.temperature ?? deps.temperature,
    };
    // One retry on an unusable answer: sampling may give a usable one; then a coded failure.
    for (let attempt = 0; attempt < 2; attempt++) {
      const json = await requestJson(deps, url, { method: 'POST', body, what: 'POST /v1/visualqa' }, signal);
      const read = parseVisualQaAnswer(json);
      if (read) {
        const raw = Number(json?.confidence);
        const model = typeof json?.model === 'string' && json.model !== '' ? json.model : endpoint.model;
        return { read, engineConfidence: Number.isFinite(raw) ? clamp(raw) : undefined, model };
      }
      deps.logger.warn({ attempt }, 'visualqa answer unusable');
    }
    throw new AppError('MODEL_OUTPUT_INVALID', 'visualqa response unusable after a retry');
  };

  return {
    id: 'visualqa',
    model: endpoint.model,
    async health(signal = AbortSignal.timeout(5000)): Promise<EngineHealth> {
      try {
        await requestJson(deps, healthUrl, { method: 'GET', what: 'GET /healthz' }, signal);
        return { ok: true, model: endpoint.model };
      } catch (error) {
        // A service without /healthz still answered: it is up.
        if (isAppError(error, 'ENGINE_ERROR') && error.details.status === 404) return { ok: true };
        const app = isAppError(error) ? error : undefined;
        return {
          ok: false,
          code: app?.code ?? 'ENGINE_UNAVAILABLE',
          detail: app?.userMessage ?? 'unreachable',
        };
      }
    },
    async infer(input: InferenceInput, signal: AbortSignal): Promise<InferenceResult> {
      const startedAt = deps.clock();
      tables ??= loadTables(deps.dataDir, endpoint.model, PROMPT_VERSION);
      const { input: single, images: study } = await asMontage(input, deps.maxSide ?? 1024);
      const outcome = await withImageLadder(single, (image) => ask(image, single, signal, study), {
        logger: deps.logger,
        signal,
        ...(deps.floorPx ? { floorPx: deps.floorPx } : {}),
      });
      const { read, engineConfidence, model } = outcome.value;
      const confidences = read.findings.map((): Confidence | undefined =>
        engineConfidence === undefined
          ? undefined
          : { value: engineConfidence, source: 'engine', calibrated: false },
      );
      const result = buildResult({
        read,
        confidences,
        tables: await tables,
        engineId: 'visualqa',
        model,
        promptVersion: PROMPT_VERSION,
        image: outcome.image,
        usage: { prompt: 0, completion: 0 },
        startedAt,
        now: deps.clock(),
        ...(outcome.downscaled ? { downscaled: outcome.downscaled } : {}),
      });
      return logRead(deps.logger, study ? { ...result, images: summarizeStudy(study) } : result);
    },
  };
}
