import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleAdapter, createConsoleAdapter } from '../../../adapters/console/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../fakes/openai-server.ts';
import { createTestBot, type TestBot } from '../../helpers/test-bot.ts';
import { chromiumPath, hasChromium, launchChromium } from './browser.ts';

const artifacts = fileURLToPath(new URL('../../../test-results/', import.meta.url));
const engineCommand = 'vllm serve Qwen/Qwen3-VL-8B-Instruct --port 8000';

/** A synthetic radiograph-like PNG: dark field with two bright "lungs" and a small dense "nodule". */
async function syntheticScan(path: string): Promise<void> {
  const lung = await sharp({
    create: { width: 90, height: 180, channels: 3, background: { r: 70, g: 70, b: 70 } },
  })
    .png()
    .toBuffer();
  const nodule = await sharp({
    create: { width: 14, height: 14, channels: 3, background: { r: 230, g: 230, b: 230 } },
  })
    .png()
    .toBuffer();
  const png = await sharp({
    create: { width: 320, height: 320, channels: 3, background: { r: 15, g: 15, b: 15 } },
  })
    .composite([
      { input: lung, left: 50, top: 60 },
      { input: lung, left: 180, top: 60 },
      { input: nodule, left: 90, top: 100 },
    ])
    .png()
    .toBuffer();
  await writeFile(path, png);
}

async function ask(page: Page, file: string, question: string): Promise<void> {
  await page.setInputFiles('#file', file);
  await page.fill('#question', question);
  await page.click('#send');
}

const readRequests = (fake: FakeOpenAI) => fake.requests.filter((r) => r.kind === 'read');

if (!hasChromium) {
  describe('console in headless Chromium', () => {
    it.skip(`skipped: ${chromiumPath} is missing (apt-get install chromium; .ci/run installs it)`, () => {});
  });
} else {
  describe('console in headless Chromium, through the real bot core', () => {
    let fake: FakeOpenAI;
    let bot: TestBot;
    let adapter: ConsoleAdapter;
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    let page: Page;
    let dir: string;
    let scan: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'qr-console-'));
      scan = join(dir, 'chest.png');
      await syntheticScan(scan);
      fake = await startFakeOpenAI();
      bot = await createTestBot({
        engineUrl: fake.url,
        dataDir: join(dir, 'data'),
        config: { BURNED_IN_TEXT: 'flag' },
      });
      adapter = createConsoleAdapter(bot.config, {
        logger: silentLogger,
        port: 0,
        engineCommand,
        bannerIntervalMs: 100,
      });
      bot.core.attach(adapter);
      await adapter.start(bot.core);
      await bot.core.start();
      browser = await launchChromium({ width: 375, height: 812 });
      page = await browser.context.newPage();
      await page.goto(adapter.url!);
      await page.waitForSelector('body[data-ready="true"]');
    });

    afterAll(async () => {
      await browser?.close();
      await adapter?.stop();
      await bot?.close();
      await fake?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('reads an uploaded image into a card, answers a follow-up in the thread, and takes an acknowledgement', async () => {
      await ask(page, scan, 'Any nodule in the right lung?');
      const card = page.locator('.thread').first().locator('.card').first();
      await card.waitFor({ timeout: 20_000 });
      expect(await card.locator('.badge').textContent()).toMatch(/ROUTINE|URGENT|CRITICAL/);
      expect(await card.locator('.impression').textContent()).not.toBe('');
      // Issue 18: a band first and the % second, never a bare percentage.
      expect(await card.locator('.conf').first().textContent()).toMatch(/^(low|moderate|high) \d{1,3}%$/);
      expect(await card.locator('.f-label').first().textContent()).toMatch(/nodule/i);
      expect(await card.locator('.model').textContent()).toContain('Qwen/Qwen3-VL-8B-Instruct');
      expect(await card.locator('.disclaimer').textContent()).toMatch(/not a diagnosis/);
      await card.locator('.preview img').waitFor({ timeout: 10_000 });
      expect(await card.locator('.preview figcaption').textContent()).toMatch(/not for diagnostic use/i);
      // 320 px fits the 1024-px budget untouched: the caption does not claim it was downsized.
      expect(await card.locator('.preview figcaption').textContent()).not.toMatch(/downsized/);

      // Issue 18 at phone width: characteristics, window, confidence in words, disclaimer in view.
      expect(await card.locator('.f-char').first().textContent()).toBe('solid, smooth margins');
      expect(await card.locator('.window').textContent()).toMatch(/^Display window: shown as stored/);
      const source = card.locator('.f-src').first();
      expect(await source.locator('summary').textContent()).toBe('model probability · not calibrated');
      expect(await source.locator('p').isVisible()).toBe(false);
      await source.locator('summary').click();
      expect(await source.locator('p').isVisible()).toBe(true);
      expect(await source.locator('p').textContent()).toMatch(/80% does not mean right 8 times in 10/);
      await card.evaluate((node) => (node as unknown as { scrollIntoView(): void }).scrollIntoView());
      const viewport = page.viewportSize()!;
      const disclaimer = (await card.locator('.disclaimer').boundingBox())!;
      const preview = (await card.locator('.preview img').boundingBox())!;
      expect(disclaimer.y + disclaimer.height).toBeLessThanOrEqual(viewport.height);
      expect(disclaimer.y).toBeLessThan(preview.y);
      // Every control has a name in words, emoji font or not.
      expect(await card.getByRole('button', { name: 'Helpful', exact: true }).count()).toBe(1);
      expect(await card.getByRole('button', { name: 'Not helpful', exact: true }).count()).toBe(1);
      expect(await page.getByLabel('Attach image').getAttribute('type')).toBe('file');
      expect(await page.locator('.msg.user .attach').first().textContent()).toMatch(/^📎 Attached: /);
      // The user's message shows what was attached but never the file's name.
      expect(await page.locator('.msg.user').first().textContent()).not.toContain('chest.png');
      await expect.poll(() => page.locator('.msg.user .reaction').first().textContent()).toBe('✅');
      expect(await page.getByRole('img', { name: 'answered' }).count()).toBeGreaterThan(0);
      expect(readRequests(fake)).toHaveLength(1);

      await page.fill('form.reply input', 'Is there anything on the left side?');
      await page.click('form.reply button');
      const followUp = page.locator('.thread').first().locator('.card').nth(1);
      await followUp.waitFor({ timeout: 20_000 });
      expect(await followUp.locator('.tag').textContent()).toBe('follow-up');
      // The same de-identified picture is not repeated under the follow-up.
      await followUp.locator('text=same de-identified image as above').waitFor({ timeout: 10_000 });
      expect(await followUp.locator('.preview img').count()).toBe(0);
      expect(readRequests(fake)).toHaveLength(2);
      // The follow-up went to the model with the thread's earlier turn as history.
      const messages = JSON.stringify(readRequests(fake)[1]!.body.messages);
      expect(messages).toContain('Any nodule in the right lung?');

      await card.locator('button[data-action="ack"]').click();
      await card.locator('.acked').waitFor();
      expect(await card.locator('.acked').textContent()).toMatch(/Acknowledged by user-[0-9a-f]{4}/);
      // In the reader's own time, like every other time on the page — not "… UTC".
      expect(await card.locator('.acked time').textContent()).toMatch(/^\d{1,2}:\d{2}/);
      expect(await card.locator('.acked').textContent()).not.toContain('UTC');
      await card.locator('button[data-action="up"]').click();
      await expect.poll(() => card.locator('button[data-action="up"] .count').textContent()).toBe('1');

      // The artifact: the card at phone width (the viewport is tall enough to hold all of it).
      await page.setViewportSize({ width: 375, height: 2400 });
      await mkdir(artifacts, { recursive: true });
      await card.screenshot({ path: join(artifacts, 'console-card-phone.png') });
      await page.screenshot({ path: join(artifacts, 'console-thread-phone.png') });
      await page.setViewportSize({ width: 375, height: 812 });
      const overflow = await page.evaluate(() => {
        // Runs in the page (no DOM types in this project's tsconfig).
        const page = globalThis as unknown as {
          innerWidth: number;
          document: { documentElement: { scrollWidth: number } };
        };
        return page.document.documentElement.scrollWidth - page.innerWidth;
      });
      expect(overflow).toBeLessThanOrEqual(0);
    });

    it('shows the engine-down banner with the start command, and the queued read completes when it is back', async () => {
      await fake.setMode('down');
      await page.click('a.chan[href="#radiology"]');
      await ask(page, scan, 'Pneumothorax?');
      await page.locator('#banner').waitFor({ state: 'visible', timeout: 20_000 });
      expect(await page.locator('#banner-cmd').textContent()).toBe(engineCommand);
      await page.locator('.msg.state-waiting-engine').waitFor({ timeout: 20_000 });
      expect(await page.locator('.thread .card').count()).toBe(0);
      await page.screenshot({ path: join(artifacts, 'console-engine-down-phone.png') });

      const readsBefore = readRequests(fake).length;
      await fake.setMode('ok');
      const card = page.locator('.thread').first().locator('.card').first();
      await card.waitFor({ timeout: 20_000 });
      await page.locator('#banner').waitFor({ state: 'hidden', timeout: 10_000 });
      expect(await card.locator('.conf').first().textContent()).toMatch(/^(low|moderate|high) \d{1,3}%$/);
      expect(readRequests(fake).length).toBeGreaterThan(readsBefore);
    });

    it('attaches several files (the count has a name), sends them in one message, and reads them as one study', async () => {
      const lateral = join(dir, 'lateral.png');
      await writeFile(
        lateral,
        await sharp({ create: { width: 192, height: 224, channels: 3, background: { r: 60, g: 60, b: 60 } } })
          .png()
          .toBuffer(),
      );
      await page.click('a.chan[href="#teaching"]');
      expect(await page.locator('#file').getAttribute('multiple')).not.toBeNull();
      await page.setInputFiles('#file', [scan, lateral]);
      await page.getByRole('img', { name: '2 files attached' }).waitFor();
      expect(await page.locator('#chosen-name').textContent()).toMatch(/^Attached: 2 files · \d+ KB$/);
      expect(await page.getByRole('button', { name: 'Remove attachments' }).count()).toBe(1);
      const readsBefore = readRequests(fake).length;
      await page.fill('#question', 'PA and lateral: any effusion?');
      await page.click('#send');
      const card = page.locator('.thread').first().locator('.card').first();
      await card.waitFor({ timeout: 20_000 });
      expect(await card.textContent()).toContain('2 images read together: Image 1 of 2; Image 2 of 2');
      expect(await page.locator('#chosen').isHidden()).toBe(true);
      const fresh = readRequests(fake).slice(readsBefore);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]!.images.map((facts) => [facts.width, facts.height])).toEqual([
        [320, 320],
        [192, 224],
      ]);
    });
  });
}
