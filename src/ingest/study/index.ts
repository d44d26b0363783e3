import type { PreparedImage, StudyImage } from '../../core/types.ts';
import { AppError, toAppError } from '../../errors.ts';
import { shrinkPrepared } from '../fit-png.ts';
import { decodePool, type PrepareOptions, prepareImage } from '../index.ts';
import { sniff } from '../sniff.ts';
import type { DecodePool } from '../worker/pool.ts';
import { studySide } from './budget.ts';
import { readSliceHeader, type SliceHeader } from './header.ts';
import { imageLabel, type StudyRole } from './labels.ts';
import { describeSlices, isSlice, orderSlices, pickKeySlices, sameStack, sliceRequest } from './series.ts';
import { CHEST_CT_WINDOWS, chestWindow, wantsChestWindows } from './windows.ts';
import { DEFAULT_ZIP_LIMITS, isZip, unzipFiles, type ZipLimits } from './zip.ts';

/**
 * A study: everything one message posted (several views, a zipped series, a multi-frame file, a prior
 * from the thread) prepared as one ordered, labelled list of images within one image limit and one
 * token budget (issue 17). Nothing posted is dropped without a note saying so.
 */

export { imageLabel } from './labels.ts';
export { composeMontage, type Montage } from './montage.ts';
export { DEFAULT_ZIP_LIMITS, isZip, unzipFiles, type ZipLimits } from './zip.ts';

/** A posted file, or an image prepared earlier (a prior from the thread: already de-identified and fitted). */
export type StudyFile =
  | { bytes: Uint8Array; role?: StudyRole }
  | { prepared: PreparedImage; role?: StudyRole };

export interface StudyOptions extends Omit<PrepareOptions, 'frame' | 'maxSide'> {
  /** STUDY_MAX_IMAGES (default 4). */
  maxImages?: number;
  /** STUDY_MAX_TOKENS: visual tokens of all images together (default 2048). */
  maxTokens?: number;
  /** Longest side of any one image (MAX_IMAGE_SIZE, default 1024). */
  maxSide?: number;
  /** Key slices of a series or multi-frame file when the question names none (default 4). */
  keySlices?: number;
  zipLimits?: ZipLimits;
}

export interface PreparedStudy {
  images: StudyImage[];
  /** What the reply must say: slices read, images not sent and why. Never names a file. */
  notes: string[];
}

export const DEFAULT_STUDY_MAX_IMAGES = 4;
export const DEFAULT_STUDY_MAX_TOKENS = 2048;
export const DEFAULT_KEY_SLICES = 4;

/** One thing the clinician posted: a file (a view), or a stack of slices (a series or a multi-frame file). */
interface Unit {
  role?: StudyRole;
  /** Slices in anatomical order: the file and, for a multi-frame file, the 1-based frame. */
  slices: Array<{ bytes: Uint8Array; frame?: number; header?: SliceHeader; prepared?: PreparedImage }>;
  header?: SliceHeader;
  word: 'slice' | 'frame';
}

/** One image to prepare. */
interface Planned {
  unit: number;
  bytes: Uint8Array;
  prepared?: PreparedImage;
  frame?: number;
  position?: string;
  chest?: (typeof CHEST_CT_WINDOWS)[number];
}

export async function prepareStudy(
  files: readonly StudyFile[],
  options: StudyOptions = {},
  pool: DecodePool = decodePool(),
): Promise<PreparedStudy> {
  const maxImages = options.maxImages ?? DEFAULT_STUDY_MAX_IMAGES;
  const maxTokens = options.maxTokens ?? DEFAULT_STUDY_MAX_TOKENS;
  const maxSide = options.maxSide ?? 1024;
  const question = options.question ?? '';
  const notes: string[] = [];
  const { units, skipped } = expand(files, options.zipLimits ?? DEFAULT_ZIP_LIMITS);
  if (skipped > 0)
    notes.push(
      `${skipped} file${skipped === 1 ? '' : 's'} in the zip ${skipped === 1 ? 'was' : 'were'} not an image and ${skipped === 1 ? 'was' : 'were'} skipped`,
    );
  const kept = units.slice(0, maxImages);
  const plan = planImages(kept, {
    maxImages,
    keySlices: options.keySlices ?? DEFAULT_KEY_SLICES,
    question,
    options,
    notes,
  });

  const settled = await Promise.allSettled(
    plan.map((planned) =>
      planned.prepared
        ? Promise.resolve(planned.prepared)
        : prepareImage(
            planned.bytes,
            {
              ...options,
              maxSide,
              ...(planned.frame === undefined ? {} : { frame: planned.frame }),
              ...(planned.chest ? { window: planned.chest } : {}),
            },
            pool,
          ),
    ),
  );
  const failedUnits = new Map<number, AppError>();
  const prepared: Array<{ image: PreparedImage; planned: Planned }> = [];
  settled.forEach((outcome, i) => {
    const planned = plan[i]!;
    if (outcome.status === 'fulfilled') {
      const image = planned.chest ? { ...outcome.value, window: chestWindow(planned.chest) } : outcome.value;
      prepared.push({ image, planned });
    } else if (!failedUnits.has(planned.unit)) {
      failedUnits.set(planned.unit, toAppError(outcome.reason));
    }
  });
  if (prepared.length === 0) throw failedUnits.values().next().value ?? emptyStudy();

  const read = new Set(prepared.map((p) => p.planned.unit)).size;
  if (read < units.length) {
    const reasons: string[] = [];
    if (units.length > kept.length) reasons.push(`over the ${maxImages}-image limit`);
    for (const [unit, error] of failedUnits)
      reasons.push(`image ${unit + 1} could not be read (${error.userMessage})`);
    notes.unshift(`${read} of ${units.length} images read; the others were not sent: ${reasons.join('; ')}`);
  }

  const side = studySide(
    prepared.map((p) => p.image),
    maxTokens,
    maxSide,
  );
  const fitted = await Promise.all(prepared.map((p) => shrinkPrepared(p.image, side)));
  const showWindows = prepared.some((p) => p.planned.chest);
  const images = fitted.map((image, i): StudyImage => {
    const { planned } = prepared[i]!;
    const role = kept[planned.unit]!.role;
    const label = imageLabel(i, fitted.length, {
      meta: image.meta,
      window: image.window,
      ...(planned.position ? { position: planned.position } : {}),
      ...(role ? { role } : {}),
      nameWindow: showWindows,
    });
    return { ...image, label, ...(role ? { role } : {}) };
  });
  return { images, notes };
}

function emptyStudy(): AppError {
  return new AppError('ARCHIVE_EMPTY', 'study has no images', {
    userMessage:
      'Nothing in what was posted is an image quickread can read (DICOM, PNG, JPEG, WebP or TIFF).',
  });
}

/** Unzip, read headers, and group consecutive slices of one stack into a series. */
function expand(files: readonly StudyFile[], zipLimits: ZipLimits): { units: Unit[]; skipped: number } {
  const units: Unit[] = [];
  let skipped = 0;
  for (const file of files) {
    if ('prepared' in file) {
      const { meta, source } = file.prepared;
      units.push({
        ...(file.role ? { role: file.role } : {}),
        word: 'slice',
        slices: [{ bytes: file.prepared.png, prepared: file.prepared }],
        header: { meta, rows: source.rows, columns: source.columns, frames: 1 },
      });
      continue;
    }
    let members: Uint8Array[] = [file.bytes];
    if (isZip(file.bytes)) {
      const all = unzipFiles(file.bytes, zipLimits);
      members = all.filter(isImage);
      skipped += all.length - members.length;
      if (members.length === 0) throw emptyStudy();
    }
    const role = file.role ? { role: file.role } : {};
    for (const bytes of members) {
      const header = readSliceHeader(bytes);
      const last = units.at(-1);
      if (header && header.frames > 1) {
        units.push({ ...role, header, word: 'frame', slices: frameSlices(bytes, header.frames) });
      } else if (header && isSlice(header) && last?.role === file.role && continuesStack(last, header)) {
        last!.slices.push({ bytes, header });
      } else {
        units.push({
          ...role,
          ...(header ? { header } : {}),
          word: 'slice',
          slices: [{ bytes, ...(header ? { header } : {}) }],
        });
      }
    }
  }
  for (const unit of units) {
    if (unit.word === 'slice' && unit.slices.length > 1) {
      const order = orderSlices(unit.slices.map((slice) => slice.header!));
      unit.slices = order.map((i) => unit.slices[i]!);
    }
  }
  return { units, skipped };
}

const continuesStack = (unit: Unit | undefined, header: SliceHeader): boolean =>
  unit !== undefined &&
  unit.word === 'slice' &&
  !unit.slices[0]!.prepared &&
  isSlice(unit.header) &&
  sameStack(unit.header!, header);

const isImage = (bytes: Uint8Array): boolean => {
  try {
    sniff(bytes);
    return true;
  } catch {
    return false;
  }
};

const frameSlices = (bytes: Uint8Array, frames: number) =>
  Array.from({ length: frames }, (_, i) => ({ bytes, frame: i + 1 }));

/**
 * Give every unit one image, then the spare places to stacks (key slices, default 4), then a second
 * window to chest CT images while places remain.
 */
function planImages(
  units: readonly Unit[],
  input: { maxImages: number; keySlices: number; question: string; options: StudyOptions; notes: string[] },
): Planned[] {
  let spare = input.maxImages - units.length;
  const request = sliceRequest(input.question);
  const picks = units.map((unit) => {
    const total = unit.slices.length;
    if (total === 1) return [1];
    const wanted = request?.kind === 'one' ? 1 : Math.min(input.keySlices, total);
    const count = Math.max(1, Math.min(wanted, 1 + spare));
    spare -= count - 1;
    const key = pickKeySlices(total, count, request);
    if (key.outOfRange) input.notes.push(key.outOfRange);
    input.notes.push(`${describeSlices(key.picked, total, unit.word)} read`);
    return key.picked;
  });
  const plan: Planned[] = [];
  units.forEach((unit, index) => {
    const picked = picks[index]!;
    const chest =
      unit.header !== undefined &&
      !unit.slices[0]!.prepared &&
      wantsChestWindows(unit.header.meta, input.question, input.options.window) &&
      spare >= picked.length;
    if (chest) spare -= picked.length;
    for (const slice of picked) {
      const { bytes, frame, prepared } = unit.slices[slice - 1]!;
      const position = unit.slices.length > 1 ? `${unit.word} ${slice} of ${unit.slices.length}` : undefined;
      const base: Planned = {
        unit: index,
        bytes,
        ...(prepared ? { prepared } : {}),
        ...(frame === undefined ? {} : { frame }),
        ...(position ? { position } : {}),
      };
      if (chest) for (const preset of CHEST_CT_WINDOWS) plan.push({ ...base, chest: preset });
      else plan.push(base);
    }
  });
  return plan;
}
