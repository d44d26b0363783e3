/**
 * A minimal DICOM Part 10 writer for tests (explicit VR little endian, PS3.5 §7.1.2, PS3.10 §7.1):
 * enough to plant canary PHI in a real header and check that nothing of it leaves ingest.
 */
export type Element = [group: number, element: number, vr: string, value: string | Buffer];

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

function encodeElement([group, element, vr, value]: Element): Buffer {
  let body = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  if (body.length % 2 === 1) body = Buffer.concat([body, Buffer.from([vr === 'UI' ? 0 : 0x20])]);
  const long = LONG_VRS.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(body.length, 8);
  else head.writeUInt16LE(body.length, 6);
  return Buffer.concat([head, body]);
}

const us = (value: number): Buffer => {
  const out = Buffer.alloc(2);
  out.writeUInt16LE(value);
  return out;
};

export interface CtOptions {
  rows: number;
  columns: number;
  /** Stored values, row-major; 16-bit unsigned. */
  pixels: Uint16Array;
  extra?: Element[];
}

/** A single-frame CT Image Storage object (PS3.3 A.3) with rescale −1024 and any extra elements. */
export function buildCt({ rows, columns, pixels, extra = [] }: CtOptions): Buffer {
  const sopClass = '1.2.840.10008.5.1.4.1.1.2';
  const instance = '1.2.826.0.1.3680043.8.498.1';
  const metaBody = Buffer.concat(
    (
      [
        [0x0002, 0x0001, 'OB', Buffer.from([0, 1])],
        [0x0002, 0x0002, 'UI', sopClass],
        [0x0002, 0x0003, 'UI', instance],
        [0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'],
      ] as Element[]
    ).map(encodeElement),
  );
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length);
  const meta = Buffer.concat([encodeElement([0x0002, 0x0000, 'UL', groupLength]), metaBody]);
  const dataset: Element[] = [
    [0x0008, 0x0016, 'UI', sopClass],
    [0x0008, 0x0018, 'UI', instance],
    [0x0008, 0x0060, 'CS', 'CT'],
    [0x0028, 0x0002, 'US', us(1)],
    [0x0028, 0x0004, 'CS', 'MONOCHROME2'],
    [0x0028, 0x0010, 'US', us(rows)],
    [0x0028, 0x0011, 'US', us(columns)],
    [0x0028, 0x0100, 'US', us(16)],
    [0x0028, 0x0101, 'US', us(12)],
    [0x0028, 0x0102, 'US', us(11)],
    [0x0028, 0x0103, 'US', us(0)],
    [0x0028, 0x1052, 'DS', '-1024'],
    [0x0028, 0x1053, 'DS', '1'],
    [0x7fe0, 0x0010, 'OW', Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)],
    ...extra,
  ];
  dataset.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), meta, ...dataset.map(encodeElement)]);
}
