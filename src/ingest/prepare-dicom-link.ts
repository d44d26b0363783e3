import { AppError } from '../errors.ts';
import type { DecodeOptions, DisplayImage } from './display.ts';

/** The DICOM decoder's entry (src/ingest/dicom/index.ts), loaded only when a DICOM arrives. */
export interface DicomModule {
  decodeDicom(bytes: Uint8Array, options?: DecodeOptions): Promise<DisplayImage>;
}

export async function loadDicom(): Promise<DicomModule> {
  const spec = './dicom/index.ts';
  try {
    return (await import(spec)) as DicomModule;
  } catch (error) {
    throw new AppError('NOT_IMPLEMENTED', 'DICOM decoder not available', {
      cause: error,
      userMessage: 'DICOM decoding is not available in this build; post a PNG or JPEG export.',
    });
  }
}
