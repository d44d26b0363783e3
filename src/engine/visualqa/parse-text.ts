import type { ModelFinding, ModelRead } from '../output.ts';

/**
 * Best-effort structure from a free-text answer of a visual-QA service that ignored the JSON
 * instruction: sections headed "Findings:", "Impression:", "Urgency:", "Recommendations:" (English or
 * Chinese), numbered or bulleted lines as findings. Nothing is invented: a line that is not there stays
 * empty, and an answer with neither findings nor an impression is rejected by the caller.
 */

type Section = 'findings' | 'impression' | 'urgency' | 'recommendations' | 'none';

const HEADINGS: Array<[RegExp, Section]> = [
  [/^\s*(findings?|所见|影像所见|发现)\s*[:：]\s*/i, 'findings'],
  [/^\s*(impression|conclusion|summary|印象|结论|诊断意见)\s*[:：]\s*/i, 'impression'],
  [/^\s*(urgency|priority|紧急程度|紧急性)\s*[:：]\s*/i, 'urgency'],
  [/^\s*(recommendations?|suggestions?|建议)\s*[:：]\s*/i, 'recommendations'],
];

const BULLET = /^\s*(?:\d+[.)、]|[-*•·])\s*/;
const NONE = /^(none|no (acute )?(abnormalit(y|ies)|findings?)|nil|无|未见异常)\.?$/i;

function urgencyOf(text: string): ModelRead['urgency'] | undefined {
  if (/\bcritical\b|\bemergen|immediate|危急/i.test(text)) return 'critical';
  if (/\burgent\b|same[- ]day|紧急/i.test(text)) return 'urgent';
  if (/\broutine\b|non-?urgent|常规/i.test(text)) return 'routine';
  return undefined;
}

export function findingFromLine(line: string): ModelFinding {
  const text = line.replace(BULLET, '').trim().replace(/\.$/, '');
  const size = /(\d+(?:\.\d+)?)\s*(mm|cm|毫米|厘米)/i.exec(text);
  const location = /\b(?:in|at|of|within|involving) the ([^,.;]+)/i.exec(text);
  const lateral = /\bbilateral\b|双侧/i.test(text)
    ? 'bilateral'
    : /\bleft\b|左/i.test(text)
      ? 'left'
      : /\bright\b|右/i.test(text)
        ? 'right'
        : undefined;
  const label = (location ? text.slice(0, location.index) : text).replace(/[,;]\s*$/, '').trim() || text;
  const finding: ModelFinding = { label: label.slice(0, 300), location: location?.[1]?.trim() ?? '' };
  if (size) finding.sizeMm = Number(size[1]) * (/cm|厘米/i.test(size[2]!) ? 10 : 1);
  if (lateral) finding.laterality = lateral;
  return finding;
}

export function parseFreeText(response: string): ModelRead | undefined {
  const findings: ModelFinding[] = [];
  const impression: string[] = [];
  const recommendations: string[] = [];
  let urgency: ModelRead['urgency'] | undefined;
  let section: Section = 'none';
  for (const rawLine of response.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (line === '') continue;
    for (const [pattern, name] of HEADINGS) {
      if (pattern.test(line)) {
        section = name;
        line = line.replace(pattern, '').trim();
        break;
      }
    }
    if (line === '') continue;
    if (section === 'findings') {
      if (!NONE.test(line.replace(BULLET, ''))) findings.push(findingFromLine(line));
    } else if (section === 'impression' || section === 'none') {
      impression.push(line);
    } else if (section === 'urgency') {
      urgency = urgencyOf(line) ?? urgency;
    } else {
      recommendations.push(line.replace(BULLET, ''));
    }
  }
  const impressionText = impression.join(' ').trim();
  if (findings.length === 0 && impressionText === '') return undefined;
  return {
    findings,
    impression: impressionText || findings.map((f) => f.label).join('; '),
    // Only a stated urgency counts ("no critical findings" must not read as critical).
    urgency: urgency ?? 'routine',
    recommendations,
  };
}
