/**
 * De-identification by allow-list: the only header facts that leave ingest are the SafeImageMeta
 * fields (DESIGN §3), each validated against the shape its VR allows so free text cannot ride along.
 * Everything else — names, IDs, dates, institution, private tags, sequences, overlays, icon images —
 * is dropped and counted. (Contrast dcmjs's anonymizer, a deny-list that keeps private tags.)
 */
import type { DataSet } from 'dicom-parser';
import type { DeidReport, SafeImageMeta } from '../../core/types.js';
import { item } from './lut.js';

/** Elements whose presence (non-empty) means the header identifies a patient (PS3.15 E.1-1 subset). */
const identityTags = [
  'x00100010', // Patient's Name
  'x00100020', // Patient ID
  'x00100030', // Patient's Birth Date
  'x00101000', // Other Patient IDs
  'x00101001', // Other Patient Names
  'x00101002', // Other Patient IDs Sequence
  'x00101040', // Patient's Address
  'x00102154', // Patient's Telephone Numbers
  'x00101005', // Patient's Birth Name
  'x00101060', // Patient's Mother's Birth Name
  'x00380010', // Admission ID
  'x00080050', // Accession Number
];

const SECONDARY_CAPTURE = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.7(\.\d+)?$/;

function str(ds: DataSet, tag: string, index?: number): string | undefined {
  const v = ds.string(tag, index)?.replace(/\0/g, '').trim();
  return v ? v : undefined;
}

/** CS values: upper-case letters, digits, space and underscore, at most 16 characters (PS3.5 6.2). */
function codeString(ds: DataSet | undefined, tag: string): string | undefined {
  const v = ds && str(ds, tag);
  return v && /^[A-Z0-9 _]{1,16}$/.test(v) ? v : undefined;
}

function positive(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v > 0 && v < 1e4 ? v : undefined;
}

/** PatientAge is an AS: nnnD, nnnW, nnnM or nnnY (PS3.5 6.2). Ages 90+ are one band (HIPAA). */
export function ageBand(age: string | undefined): string | undefined {
  const m = age?.match(/^(\d{3})([DWMY])$/);
  if (!m) return undefined;
  const n = Number(m[1]);
  const years = m[2] === 'Y' ? n : m[2] === 'M' ? n / 12 : m[2] === 'W' ? n / 52 : n / 365;
  if (years >= 90) return '90+';
  const lo = Math.floor(years / 10) * 10;
  return `${lo}-${lo + 9}`;
}

export function safeMeta(ds: DataSet): SafeImageMeta {
  const meta: SafeImageMeta = {};
  const shared = item(ds, 'x52009229');
  const perFrame = item(ds, 'x52009230');
  const measures = item(shared, 'x00289110') ?? item(perFrame, 'x00289110');
  const modality = codeString(ds, 'x00080060');
  if (modality) meta.modality = modality;
  const bodyPart = codeString(ds, 'x00180015');
  if (bodyPart) meta.bodyPart = bodyPart;
  const view = codeString(ds, 'x00185101');
  if (view) meta.viewPosition = view;
  const laterality = codeString(ds, 'x00200060') ?? codeString(ds, 'x00200062');
  if (laterality && /^[LRBU]$/.test(laterality)) meta.laterality = laterality;
  for (const [source, tag] of [
    [ds, 'x00280030'],
    [measures, 'x00280030'],
    [ds, 'x00181164'],
  ] as const) {
    const row = positive(source?.floatString(tag, 0));
    const col = positive(source?.floatString(tag, 1));
    if (row !== undefined && col !== undefined) {
      meta.pixelSpacingMm = [row, col];
      break;
    }
  }
  const thickness = positive(ds.floatString('x00180050')) ?? positive(measures?.floatString('x00180050'));
  if (thickness !== undefined) meta.sliceThicknessMm = thickness;
  const band = ageBand(str(ds, 'x00101010'));
  if (band) meta.ageBand = band;
  const sex = str(ds, 'x00100040');
  if (sex === 'M' || sex === 'F' || sex === 'O') meta.sex = sex;
  return meta;
}

function countElements(ds: DataSet): number {
  let n = 0;
  for (const el of Object.values(ds.elements)) {
    n++;
    for (const child of el.items ?? []) if (child.dataSet) n += countElements(child.dataSet);
  }
  return n;
}

function hasIdentity(ds: DataSet, depth = 0): boolean {
  for (const tag of identityTags) {
    const el = ds.elements[tag];
    if (!el) continue;
    if (el.items && el.items.length > 0) return true;
    const v = el.length > 0 ? ds.string(tag) : undefined;
    // "^^^^" and blanks are empty person names.
    if (v && v.replace(/[\s^\0=]/g, '') !== '') return true;
  }
  if (depth > 8) return false;
  for (const el of Object.values(ds.elements)) {
    for (const child of el.items ?? [])
      if (child.dataSet && hasIdentity(child.dataSet, depth + 1)) return true;
  }
  return false;
}

export function deidReport(ds: DataSet, meta: SafeImageMeta): DeidReport {
  const kept = Object.keys(meta).length;
  const burned = str(ds, 'x00280301')?.toUpperCase();
  const sopClass = str(ds, 'x00080016') ?? str(ds, 'x00020002') ?? '';
  const burnedInAnnotation =
    burned === 'YES' || meta.modality === 'US' || (SECONDARY_CAPTURE.test(sopClass) && burned !== 'NO');
  return {
    removedTags: Math.max(0, countElements(ds) - kept),
    burnedInAnnotation,
    identityPresent: hasIdentity(ds),
  };
}
