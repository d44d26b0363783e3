import { readFile } from 'node:fs/promises';
import { parseDicomBytes } from '../ingest/dicom/parse.ts';
import { sniff } from '../ingest/sniff.ts';

/**
 * How many images a batch input holds, from its header alone: Number of Frames (0028,0008), PS3.3
 * C.7.6.6, for a DICOM file; 1 for anything else or anything unreadable (the read itself then says
 * what is wrong, and a multi-frame file the header hid is still expanded when it is opened).
 */
export async function countFrames(path: string): Promise<number> {
  try {
    const bytes = await readFile(path);
    if (sniff(bytes).kind !== 'dicom') return 1;
    const frames = parseDicomBytes(bytes).dataSet.intString('x00280008');
    return frames !== undefined && Number.isInteger(frames) && frames > 1 ? frames : 1;
  } catch {
    return 1;
  }
}
