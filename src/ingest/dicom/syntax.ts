/** Transfer syntaxes (PS3.5 §10 and Annex A) and how their pixel data is decoded. */

export type PixelCodec =
  | 'native'
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-extended'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'j2k'
  | 'htj2k';

export interface TransferSyntaxInfo {
  uid: string;
  name: string;
  codec?: PixelCodec;
  bigEndian?: boolean;
  implicit?: boolean;
  deflated?: boolean;
  lossy?: boolean;
}

const list: TransferSyntaxInfo[] = [
  { uid: '1.2.840.10008.1.2', name: 'Implicit VR Little Endian', codec: 'native', implicit: true },
  { uid: '1.2.840.10008.1.2.1', name: 'Explicit VR Little Endian', codec: 'native' },
  {
    uid: '1.2.840.10008.1.2.1.99',
    name: 'Deflated Explicit VR Little Endian',
    codec: 'native',
    deflated: true,
  },
  { uid: '1.2.840.10008.1.2.2', name: 'Explicit VR Big Endian', codec: 'native', bigEndian: true },
  { uid: '1.2.840.10008.1.2.5', name: 'RLE Lossless', codec: 'rle' },
  { uid: '1.2.840.10008.1.2.4.50', name: 'JPEG Baseline (Process 1)', codec: 'jpeg-baseline', lossy: true },
  {
    uid: '1.2.840.10008.1.2.4.51',
    name: 'JPEG Extended (Process 2 & 4)',
    codec: 'jpeg-extended',
    lossy: true,
  },
  { uid: '1.2.840.10008.1.2.4.57', name: 'JPEG Lossless (Process 14)', codec: 'jpeg-lossless' },
  {
    uid: '1.2.840.10008.1.2.4.70',
    name: 'JPEG Lossless, First-Order Prediction (Process 14, SV1)',
    codec: 'jpeg-lossless',
  },
  { uid: '1.2.840.10008.1.2.4.80', name: 'JPEG-LS Lossless', codec: 'jpeg-ls' },
  { uid: '1.2.840.10008.1.2.4.81', name: 'JPEG-LS Near-Lossless', codec: 'jpeg-ls', lossy: true },
  { uid: '1.2.840.10008.1.2.4.90', name: 'JPEG 2000 (Lossless Only)', codec: 'j2k' },
  { uid: '1.2.840.10008.1.2.4.91', name: 'JPEG 2000', codec: 'j2k', lossy: true },
  { uid: '1.2.840.10008.1.2.4.201', name: 'HTJ2K (Lossless Only)', codec: 'htj2k' },
  { uid: '1.2.840.10008.1.2.4.202', name: 'HTJ2K with RPCL Options (Lossless Only)', codec: 'htj2k' },
  { uid: '1.2.840.10008.1.2.4.203', name: 'HTJ2K', codec: 'htj2k', lossy: true },
  // Known but not decodable here: named so the refusal can say what the file is.
  { uid: '1.2.840.10008.1.2.4.52', name: 'JPEG Extended (Process 3 & 5, retired)' },
  { uid: '1.2.840.10008.1.2.4.53', name: 'JPEG Spectral Selection (retired)' },
  { uid: '1.2.840.10008.1.2.4.55', name: 'JPEG Full Progression (retired)' },
  { uid: '1.2.840.10008.1.2.4.100', name: 'MPEG2 Main Profile / Main Level (video)' },
  { uid: '1.2.840.10008.1.2.4.101', name: 'MPEG2 Main Profile / High Level (video)' },
  { uid: '1.2.840.10008.1.2.4.102', name: 'MPEG-4 AVC/H.264 (video)' },
  { uid: '1.2.840.10008.1.2.4.103', name: 'MPEG-4 AVC/H.264 BD-compatible (video)' },
  { uid: '1.2.840.10008.1.2.4.104', name: 'MPEG-4 AVC/H.264 for 2D video' },
  { uid: '1.2.840.10008.1.2.4.107', name: 'HEVC/H.265 Main Profile (video)' },
  { uid: '1.2.840.10008.1.2.4.110', name: 'JPEG XL Lossless' },
  { uid: '1.2.840.10008.1.2.4.111', name: 'JPEG XL JPEG Recompression' },
  { uid: '1.2.840.10008.1.2.4.112', name: 'JPEG XL' },
  { uid: '1.2.840.10008.1.2.4.92', name: 'JPEG 2000 Part 2 Multi-component (Lossless Only)' },
  { uid: '1.2.840.10008.1.2.4.93', name: 'JPEG 2000 Part 2 Multi-component' },
  { uid: '1.2.840.10008.1.2.4.94', name: 'JPIP Referenced' },
  { uid: '1.2.840.10008.1.2.6.1', name: 'RFC 2557 MIME encapsulation (retired)' },
];

const byUid = new Map(list.map((t) => [t.uid, t]));

export function transferSyntaxInfo(uid: string): TransferSyntaxInfo {
  return byUid.get(uid) ?? { uid, name: 'unknown transfer syntax' };
}
