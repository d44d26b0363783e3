import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Severity, Urgency } from '../core/types.ts';
import { PROMPTS_DIR } from './prompts.ts';

/**
 * The model's structured answer. The JSON Schema in prompts/findings.schema.json is what the server's
 * guided decoding enforces (vLLM/SGLang `response_format: json_schema`); this zod schema is what we
 * trust. It is a little more forgiving than the JSON Schema (case, missing optional fields) because
 * servers without guided decoding (or with it switched off) still produce near-misses worth keeping.
 */

const lower = (value: unknown) => (typeof value === 'string' ? value.trim().toLowerCase() : value);

const laterality = z.preprocess(lower, z.enum(['left', 'right', 'bilateral', 'midline', 'none']));
const severity = z.preprocess(lower, z.enum(['normal', 'mild', 'moderate', 'severe', 'critical']));

export const modelFindingSchema = z.object({
  label: z.string().trim().min(1).max(300),
  location: z.string().trim().max(300).optional().default(''),
  sizeMm: z.number().min(0).max(1000).nullable().optional(),
  laterality: laterality.optional().catch(undefined),
  severity: severity.optional().catch(undefined),
  characteristics: z.string().max(600).optional(),
  confidence: z.number().min(0).max(1).optional(),
});

export const modelReadSchema = z.object({
  // No upper bound here: a server that ignores response_format may list 30 findings, and that must not
  // fail the read. keepMostConfident() trims to the schema's maxItems afterwards and counts the rest.
  findings: z.array(modelFindingSchema),
  impression: z.string().trim().min(1).max(4000),
  urgency: z.preprocess(lower, z.enum(['routine', 'urgent', 'critical'])),
  recommendations: z.array(z.string().trim().max(600)).max(12).default([]),
  imageQuality: z
    .preprocess(lower, z.enum(['diagnostic', 'limited', 'non-diagnostic']))
    .optional()
    .catch(undefined),
});

export type ModelFinding = z.infer<typeof modelFindingSchema>;
export type ModelRead = z.infer<typeof modelReadSchema> & {
  /** Findings beyond the schema's maxItems that were left out (the least confident ones). */
  omittedFindings?: number;
};

let jsonSchema: Record<string, unknown> | undefined;
/** prompts/findings.schema.json, sent as `response_format.json_schema.schema`. */
export function findingsJsonSchema(): Record<string, unknown> {
  jsonSchema ??= JSON.parse(readFileSync(join(PROMPTS_DIR, 'findings.schema.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return jsonSchema;
}

/** The schema without `$schema`/`title`, compact, for the system prompt of servers that ignore response_format. */
export function schemaForPrompt(): string {
  const { $schema: _ignored, title: _title, ...rest } = findingsJsonSchema();
  return JSON.stringify(rest);
}

export type ParseOutcome = { ok: true; read: ModelRead } | { ok: false; problem: string };

/**
 * Parse a model reply. Code fences and prose around one JSON object are tolerated (some servers add
 * them without guided decoding); anything else is a problem described in words safe to send back to
 * the model in the repair turn — never to a user.
 */
export function parseModelRead(text: string): ParseOutcome {
  const json = extractJsonObject(text);
  if (json === undefined) return { ok: false, problem: 'the reply contained no JSON object' };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, problem: 'the JSON object was malformed or cut off' };
  }
  const parsed = modelReadSchema.safeParse(value);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || 'root'))];
    return { ok: false, problem: `these fields were missing or invalid: ${fields.slice(0, 8).join(', ')}` };
  }
  return { ok: true, read: keepMostConfident(parsed.data, maxFindings()) };
}

/** prompts/findings.schema.json's `findings.maxItems` (12): what guided decoding would have allowed. */
export function maxFindings(): number {
  const findings = (findingsJsonSchema().properties as Record<string, { maxItems?: number }> | undefined)
    ?.findings;
  return findings?.maxItems ?? 12;
}

/**
 * Keep the `max` most confident findings (model-stated confidence; none stated counts as 0.5, as in
 * statedConfidence), in the model's own order, and count the rest. Ties keep the earlier finding: the
 * model tends to list the most important first.
 */
export function keepMostConfident(read: ModelRead, max: number): ModelRead {
  if (read.findings.length <= max) return read;
  const ranked = read.findings
    .map((finding, index) => ({ index, confidence: finding.confidence ?? 0.5 }))
    .sort((a, b) => b.confidence - a.confidence || a.index - b.index)
    .slice(0, max)
    .map((entry) => entry.index)
    .sort((a, b) => a - b);
  return {
    ...read,
    findings: ranked.map((index) => read.findings[index]!),
    omittedFindings: read.findings.length - max,
  };
}

export function extractJsonObject(text: string): string | undefined {
  const unfenced = text.replace(/```(?:json)?/gi, '');
  const start = unfenced.indexOf('{');
  const end = unfenced.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  return unfenced.slice(start, end + 1);
}

export type { Severity, Urgency };
