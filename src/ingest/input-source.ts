import { AppError } from '../errors.ts';

/**
 * Where the bytes of an input came from, so a refusal can say so: a web page in place of an image means
 * a missing permission when Slack sent it, a bad upload in the console, a saved sign-in page on disk.
 */
export type InputSource = 'slack' | 'discord' | 'console' | 'api' | 'file';

const htmlMessages: Record<InputSource, string> = {
  slack:
    'Slack returned a web page instead of the file — the app probably lacks the files:read scope. Ask an admin to add files:read and reinstall the app.',
  discord: 'Discord returned a web page instead of the file; post the image again.',
  console: 'The uploaded file is a web page (HTML), not an image. Upload the DICOM, PNG or JPEG itself.',
  api: 'The image sent is a web page (HTML), not an image. Send the DICOM, PNG or JPEG bytes themselves.',
  file: 'This file is a web page (HTML), not an image — often a download that saved a sign-in page. Use the DICOM, PNG or JPEG itself.',
};

/** The INPUT_HTML refusal for bytes from `source` (generic when the source is not known). */
export function htmlInputError(source: InputSource | undefined): AppError {
  return new AppError('INPUT_HTML', 'sniffed an HTML page', {
    details: { sniffed: 'html', ...(source ? { source } : {}) },
    ...(source ? { userMessage: htmlMessages[source] } : {}),
  });
}
