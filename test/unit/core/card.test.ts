import { describe, expect, it } from 'vitest';
import { cardAsTurn, toReadCard } from '../../../src/core/card.ts';
import { cardText, DISCLAIMER } from '../../../src/core/reply.ts';
import { fakePrepare, resultFor } from '../../helpers/core-doubles.ts';

describe('InferenceResult → ReadCard', () => {
  it('rounds and clamps confidences, keeps their source, and reports the size actually sent', async () => {
    const image = await fakePrepare(
      Buffer.from('x'),
      {},
      {
        deid: {
          removedTags: 1,
          burnedInAnnotation: true,
          identityPresent: false,
          burnedInText: { regions: 2, redacted: 2, keptMarkers: 1 },
        },
      },
    );
    const result = resultFor(
      { image, question: 'q', history: [] },
      {
        findings: [
          {
            label: 'a',
            confidence: { value: 0.996, source: 'token-logprob', calibrated: true, calibratedOn: 240 },
          },
          {
            label: 'b',
            confidence: { value: 1.7, source: 'model-stated', calibrated: false, grounded: false },
          },
        ],
        downscaled: { width: 640, height: 640, tokens: 400 },
        urgency: 'critical',
      },
    );
    const card = toReadCard('job-1', result, image, true);
    expect(card.findings.map((f) => [f.confidencePct, f.confidenceSource, f.calibrated, f.grounded])).toEqual(
      [
        [100, 'token-logprob', true, undefined],
        [100, 'model-stated', false, false],
      ],
    );
    // Every renderer words calibration from the catalogue, with the table's size when it is known.
    expect(card.findings.map((f) => cardText.calibrated(f.calibrated, f.calibratedOn))).toEqual([
      'calibrated on 240 cases',
      'uncalibrated',
    ]);
    expect(cardText.calibrated(true)).toBe('calibrated');
    expect(card).toMatchObject({
      jobId: 'job-1',
      urgency: 'critical',
      downscaled: true,
      image: { width: 640, height: 640, tokens: 400 },
      burnedInTextRedacted: true,
      isFollowUp: true,
      disclaimer: DISCLAIMER,
    });
  });

  it('says nothing was redacted when OCR found no text, and sends the prepared size when not downscaled', async () => {
    const image = await fakePrepare(Buffer.from('y'));
    const card = toReadCard('j', resultFor({ image, question: 'q', history: [] }), image, false);
    expect(card.burnedInTextRedacted).toBe(false);
    expect(card.downscaled).toBe(false);
    expect(card.image).toEqual({ width: 512, height: 512, tokens: 256 });
    expect(cardAsTurn(card).text).toMatch(
      /^Impression: .*\nUrgency: routine\nFindings:\n- nodule \(right upper lobe\), 8 mm, confidence 83%/,
    );
  });
});
