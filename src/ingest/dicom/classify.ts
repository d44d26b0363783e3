/**
 * DICOM objects that are not images (PS3.4 Annex B storage SOP classes, PS3.3 A.* IODs) get a refusal
 * that says what the object is, so the user knows to post an image instead.
 */
import type { DataSet } from 'dicom-parser';
import { AppError } from '../../errors.js';

interface NonImageKind {
  test: (sopClass: string, modality: string) => boolean;
  what: string;
  hint?: string;
}

const kinds: NonImageKind[] = [
  {
    test: (s) => s === '1.2.840.10008.1.3.10',
    what: 'a DICOMDIR (the index of a DICOM disc or folder)',
    hint: 'post one of the image files it lists instead',
  },
  {
    test: (s, m) => s === '1.2.840.10008.5.1.4.1.1.88.59' || m === 'KO',
    what: 'a Key Object Selection note',
  },
  {
    test: (s, m) => s.startsWith('1.2.840.10008.5.1.4.1.1.88.') || m === 'SR',
    what: 'a DICOM Structured Report',
  },
  { test: (s, m) => s === '1.2.840.10008.5.1.4.1.1.481.3' || m === 'RTSTRUCT', what: 'an RT Structure Set' },
  {
    test: (s, m) =>
      ['1.2.840.10008.5.1.4.1.1.481.5', '1.2.840.10008.5.1.4.1.1.481.8'].includes(s) || m === 'RTPLAN',
    what: 'an RT Plan',
  },
  { test: (s, m) => s === '1.2.840.10008.5.1.4.1.1.481.2' || m === 'RTDOSE', what: 'an RT Dose grid' },
  { test: (s) => s.startsWith('1.2.840.10008.5.1.4.1.1.481.'), what: 'a radiotherapy object' },
  {
    test: (s, m) => s.startsWith('1.2.840.10008.5.1.4.1.1.9.') || ['ECG', 'HD', 'EPS', 'RESP'].includes(m),
    what: 'a DICOM waveform (such as an ECG)',
  },
  { test: (s) => s.startsWith('1.2.840.10008.5.1.4.1.1.11.'), what: 'a DICOM presentation state' },
  { test: (s) => s === '1.2.840.10008.5.1.4.1.1.104.1', what: 'a PDF document wrapped in DICOM' },
  { test: (s) => s.startsWith('1.2.840.10008.5.1.4.1.1.104.'), what: 'a document wrapped in DICOM' },
  { test: (s, m) => s === '1.2.840.10008.5.1.4.1.1.66' || m === 'RAW', what: 'a DICOM raw data object' },
  {
    test: (s, m) => s === '1.2.840.10008.5.1.4.1.1.66.4' || m === 'SEG',
    what: 'a DICOM Segmentation (a mask, not an image)',
  },
  {
    test: (s) => s.startsWith('1.2.840.10008.5.1.4.1.1.66.'),
    what: 'a DICOM registration or spatial object',
  },
];

/** Throws INPUT_NOT_IMAGE for non-image objects and for any object without Pixel Data. */
export function refuseNonImage(dataSet: DataSet): void {
  const sopClass = clean(dataSet.string('x00080016') ?? dataSet.string('x00020002'));
  const modality = clean(dataSet.string('x00080060')).toUpperCase();
  const hasPixels =
    dataSet.elements.x7fe00010 !== undefined ||
    dataSet.elements.x7fe00008 !== undefined ||
    dataSet.elements.x7fe00009 !== undefined;
  const kind = kinds.find((k) => k.test(sopClass, modality));
  if (kind) {
    throw new AppError('INPUT_NOT_IMAGE', `non-image DICOM object (${sopClass || modality})`, {
      userMessage: `This is ${kind.what}, not an image; ${kind.hint ?? 'post an image (a CT, X-ray, MR… slice) instead'}.`,
      details: { sopClass, modality },
    });
  }
  if (!hasPixels) {
    throw new AppError('INPUT_NOT_IMAGE', 'no Pixel Data element', {
      userMessage: 'This DICOM file holds no image (it has no Pixel Data).',
      details: { sopClass, modality },
    });
  }
}

function clean(value: string | undefined): string {
  return (value ?? '').replace(/\0/g, '').trim();
}
