/** De-identification by allow-list: canary PHI planted everywhere a header can hide it never leaves. */
import { describe, expect, it } from 'vitest';
import { ageBand } from '../../../../src/ingest/dicom/deid.js';
import { decodeDicom } from '../../../../src/ingest/dicom/index.js';
import { type Element, el, imageElements, writeDicom } from '../../../helpers/dicom-writer.js';

const CANARY = 'ZZCANARY';

function phiImage(extra: Element[] = []): Uint8Array {
  return writeDicom(
    imageElements({
      rows: 2,
      columns: 2,
      pixels: new Uint16Array([0, 100, 200, 300]),
      extra: [
        el(0x00080060, 'CS', 'CT'),
        el(0x00080080, 'LO', `${CANARY} General Hospital`),
        el(0x00080090, 'PN', `${CANARY}^Referrer`),
        el(0x00100010, 'PN', `${CANARY}^Patient`),
        el(0x00100020, 'LO', `${CANARY}-ID-123`),
        el(0x00100030, 'DA', '19510704'),
        el(0x00100040, 'CS', 'F'),
        el(0x00101010, 'AS', '067Y'),
        el(0x00180015, 'CS', 'CHEST'),
        el(0x00180050, 'DS', '1.25'),
        el(0x00280030, 'DS', '0.7\\0.8'),
        el(0x00185101, 'CS', 'PA'),
        el(0x00200060, 'CS', 'L'),
        // Free text where a code is expected must not ride along.
        el(0x00181030, 'LO', `${CANARY} protocol`),
        // Private creator and private element.
        el(0x00090010, 'LO', 'ACME 1.0'),
        el(0x00091001, 'LO', `${CANARY} private`),
        // Nested sequences, two levels deep.
        el(0x00081110, 'SQ', [
          [el(0x00081150, 'UI', '1.2.3'), el(0x00400275, 'SQ', [[el(0x00400007, 'LO', `${CANARY} nested`)]])],
        ]),
        ...extra,
      ],
    }),
  );
}

describe('allow-listed metadata', () => {
  it('keeps only SafeImageMeta fields and never a canary', async () => {
    const img = await decodeDicom(phiImage());
    expect(img.meta).toEqual({
      modality: 'CT',
      bodyPart: 'CHEST',
      viewPosition: 'PA',
      laterality: 'L',
      pixelSpacingMm: [0.7, 0.8],
      sliceThicknessMm: 1.25,
      ageBand: '60-69',
      sex: 'F',
    });
    const out = JSON.stringify({
      meta: img.meta,
      deid: img.deid,
      window: img.window,
      source: img.source,
      stats: img.stats,
    });
    expect(out).not.toContain(CANARY);
    expect(out).not.toContain('19510704');
    expect(img.deid.identityPresent).toBe(true);
    // Every element but the 8 kept facts was dropped, nested ones included.
    expect(img.deid.removedTags).toBeGreaterThanOrEqual(20);
  });

  it('drops a body part that is free text instead of a code string', async () => {
    const img = await decodeDicom(phiImage([el(0x00180015, 'CS', `chest of ${CANARY}`)]));
    expect(img.meta.bodyPart).toBeUndefined();
  });

  it('does not report identity for blank or placeholder-free headers', async () => {
    const bytes = writeDicom(
      imageElements({
        rows: 1,
        columns: 1,
        pixels: new Uint16Array([1]),
        extra: [el(0x00100010, 'PN', '^^^^'), el(0x00100020, 'LO', '')],
      }),
    );
    expect((await decodeDicom(bytes)).deid.identityPresent).toBe(false);
  });

  it('finds identity hidden in a nested sequence', async () => {
    const bytes = writeDicom(
      imageElements({
        rows: 1,
        columns: 1,
        pixels: new Uint16Array([1]),
        extra: [el(0x00081120, 'SQ', [[el(0x00100010, 'PN', 'Doe^Jane')]])],
      }),
    );
    expect((await decodeDicom(bytes)).deid.identityPresent).toBe(true);
  });
});

describe('burned-in annotation flag', () => {
  const flagFor = async (extra: Element[]) => {
    const bytes = writeDicom(imageElements({ rows: 1, columns: 1, pixels: new Uint16Array([1]), extra }));
    return (await decodeDicom(bytes)).deid.burnedInAnnotation;
  };
  const ct = el(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.2');

  it('is set by BurnedInAnnotation YES', async () => {
    expect(await flagFor([ct, el(0x00280301, 'CS', 'YES')])).toBe(true);
  });
  it('is set for ultrasound', async () => {
    expect(await flagFor([ct, el(0x00080060, 'CS', 'US')])).toBe(true);
  });
  it('is set for secondary capture unless it says NO', async () => {
    expect(await flagFor([])).toBe(true);
    expect(await flagFor([el(0x00280301, 'CS', 'NO')])).toBe(false);
  });
  it('is clear for a CT without the tag', async () => {
    expect(await flagFor([ct, el(0x00080060, 'CS', 'CT')])).toBe(false);
  });
});

describe('ageBand', () => {
  it.each([
    ['067Y', '60-69'],
    ['009Y', '0-9'],
    ['006M', '0-9'],
    ['003W', '0-9'],
    ['095Y', '90+'],
    ['abc', undefined],
    [undefined, undefined],
  ])('%s → %s', (age, band) => {
    expect(ageBand(age)).toBe(band);
  });
});
