import { describe, expect, it } from 'vitest';
import type { InboundRequest } from '../../src/core/types.ts';
import { AppError } from '../../src/errors.ts';
import { captureLogger } from '../helpers/capture-log.ts';

const canaries = {
  question: 'CANARY-QUESTION does Jane Doe have a pneumothorax',
  fileName: 'CANARY-FILENAME_DOE^JANE_19450101.dcm',
  slackToken: 'xoxb-1234567890-CANARYTOKEN',
  appToken: 'xapp-1-A0-CANARYAPPTOKEN',
  bearer: 'CANARYBEARERSECRET',
  url: 'https://files.slack.com/files-pri/T1-F1/CANARY-URL.dcm',
  path: '/home/rad/cases/CANARY-PATH_Doe_Jane/ct.dcm',
};

describe('logger redaction', () => {
  it('keeps every canary out of every log line', () => {
    const { logger, lines } = captureLogger();
    const request: InboundRequest = {
      eventId: 'Ev1',
      messageKey: 'slack:C1:1.1',
      platform: 'slack',
      thread: { channelId: 'C1', threadId: '1.1' },
      userId: 'U1',
      question: canaries.question,
      attachments: [
        {
          platform: 'slack',
          fileId: 'F1',
          url: canaries.url,
          name: canaries.fileName,
          mimeType: 'application/dicom',
        },
      ],
      receivedAt: new Date().toISOString(),
      platformData: { token: canaries.slackToken },
    };
    logger.info({ request }, 'request received');
    logger.info({ headers: { authorization: `Bearer ${canaries.bearer}` } }, 'outgoing');
    logger.warn(
      { nested: { deeper: { fileName: canaries.fileName, botToken: canaries.slackToken } } },
      'nested',
    );
    logger.info({ path: canaries.path, outputDir: canaries.path, filePath: canaries.path }, 'prepared');
    logger.info(`free text mentioning ${canaries.appToken} and Bearer ${canaries.bearer}`);
    logger.error(
      { err: new AppError('DOWNLOAD_FAILED', `failed with ${canaries.slackToken}`) },
      'download failed',
    );
    const output = lines().join('\n');
    expect(lines().length).toBe(6);
    for (const canary of Object.values(canaries)) expect(output).not.toContain(canary);
    expect(output).not.toContain('CANARY');
    // Safe facts still arrive, or the logger would be useless.
    expect(output).toContain('Ev1');
    expect(output).toContain('DOWNLOAD_FAILED');
  });
});
