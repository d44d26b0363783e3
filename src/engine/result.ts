import type { Confidence, Finding, InferenceResult, PreparedImage } from '../core/types.ts';
import type { Logger } from '../log.ts';
import { applyTable, type CalibrationTable } from './confidence/calibration.ts';
import type { ModelFinding, ModelRead } from './output.ts';

/**
 * Turn a validated model answer plus per-finding confidences into an InferenceResult. Confidence
 * sources in order of preference (DESIGN §3): probe log-probability, the engine's own number, the
 * model's stated number — each labelled, and calibrated only when a table for exactly that source,
 * model and prompt version applies.
 */

export type CalibrationTables = Partial<Record<Confidence['source'], CalibrationTable>>;

export function calibrate(confidence: Confidence, tables: CalibrationTables): Confidence {
  const table = tables[confidence.source];
  if (!table) return confidence;
  return {
    ...confidence,
    value: clamp(applyTable(table, confidence.value)),
    calibrated: true,
    calibratedOn: table.n,
  };
}

export const clamp = (value: number) => Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0));

/** The model's own stated number, or 0.5 ("no idea") when it gave none — labelled model-stated either way. */
export function statedConfidence(finding: ModelFinding): Confidence {
  return { value: clamp(finding.confidence ?? 0.5), source: 'model-stated', calibrated: false };
}

/**
 * `sizesKnown`: a size in millimetres is only meaningful when the image carries its pixel spacing
 * (PS3.3 C.7.6.2.1.1); without it the prompt asks for none, and a number the model states anyway is a
 * guess that must not reach a clinician as a measurement.
 */
export function toFinding(finding: ModelFinding, confidence: Confidence, sizesKnown = true): Finding {
  const out: Finding = { label: finding.label, confidence };
  if (finding.location) out.location = finding.location;
  if (sizesKnown && typeof finding.sizeMm === 'number' && finding.sizeMm > 0) out.sizeMm = finding.sizeMm;
  if (finding.laterality) out.laterality = finding.laterality;
  if (finding.severity) out.severity = finding.severity;
  const characteristics = finding.characteristics?.trim();
  if (characteristics) out.characteristics = characteristics;
  return out;
}

export function buildResult(input: {
  read: ModelRead;
  confidences: ReadonlyArray<Confidence | undefined>;
  tables: CalibrationTables;
  engineId: string;
  model: string;
  promptVersion: string;
  image: PreparedImage;
  usage: { prompt: number; completion: number };
  startedAt: number;
  now: number;
  downscaled?: { width: number; height: number; tokens: number };
}): InferenceResult {
  const sizesKnown = input.image.meta.pixelSpacingMm !== undefined;
  const result: InferenceResult = {
    findings: input.read.findings.map((finding, i) =>
      toFinding(
        finding,
        calibrate(input.confidences[i] ?? statedConfidence(finding), input.tables),
        sizesKnown,
      ),
    ),
    impression: input.read.impression,
    urgency: input.read.urgency,
    recommendations: input.read.recommendations.filter((line) => line.length > 0),
    engineId: input.engineId,
    model: input.model,
    promptVersion: input.promptVersion,
    tokens: { prompt: input.usage.prompt, completion: input.usage.completion, image: input.image.tokens },
    latencyMs: Math.max(0, input.now - input.startedAt),
  };
  if (input.read.imageQuality) result.imageQuality = input.read.imageQuality;
  if (input.downscaled) result.downscaled = input.downscaled;
  if (input.read.omittedFindings) result.omittedFindings = input.read.omittedFindings;
  return result;
}

/** The one log line every engine writes per read: counts and timings, never text or findings. */
export function logRead(logger: Logger, result: InferenceResult): InferenceResult {
  logger.info(
    {
      engine: result.engineId,
      findings: result.findings.length,
      urgency: result.urgency,
      latencyMs: result.latencyMs,
      downscaled: Boolean(result.downscaled),
    },
    'read done',
  );
  return result;
}
