import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { Platform } from '../types.ts';
import { allPageTargets, type PageTarget, pageTargetForms, parsePageTarget } from './targets.ts';

/**
 * Who is on call for critical reads, per channel (issue 19). Three sources, most specific first:
 * CRITICAL_NOTIFY_<CHANNEL>/CRITICAL_BACKUP_<CHANNEL>, then the ESCALATION_FILE's `channels:` entry,
 * then CRITICAL_NOTIFY/CRITICAL_BACKUP (the `default:` of the file when those are unset).
 */
export interface Rota {
  onCall: PageTarget[];
  backup: PageTarget[];
}

export interface Rotas {
  /** The rota for a channel, only the targets of that platform; undefined when nobody is on call. */
  forChannel(platform: Platform, channelId: string): Rota | undefined;
  /** Every configured rota by where it applies ("default" or a channel id), for `doctor`. */
  describe(): Array<{ where: string; rota: Rota }>;
  /** Minutes between escalation steps. */
  afterMin: number;
  /** Urgent reads page too (ESCALATE_URGENT). */
  includeUrgent: boolean;
}

const targetList = z
  .array(z.string())
  .default([])
  .refine(allPageTargets, {
    message: `every entry must be one of ${pageTargetForms}`,
  });
const rotaEntry = z.object({ notify: targetList, backup: targetList }).strict();
/**
 * escalation.yaml:
 *   default: { notify: [U012AB3CD], backup: [S0ONCALL] }
 *   channels:
 *     C0123ABCD: { notify: [U045EF6GH], backup: [U078IJ9KL] }
 */
const fileSchema = z
  .object({ default: rotaEntry.optional(), channels: z.record(z.string(), rotaEntry).default({}) })
  .strict();

type Entries = { notify: string[]; backup: string[] };

function readRotaFile(path: string, readText: (path: string) => string): z.infer<typeof fileSchema> {
  const invalid = (why: string, cause?: unknown) =>
    new AppError('CONFIG_INVALID', `ESCALATION_FILE ${why}`, {
      ...(cause ? { cause } : {}),
      userMessage: `ESCALATION_FILE: ${why}. Fix the file (see README "Critical results") or unset ESCALATION_FILE.`,
      details: { variables: ['ESCALATION_FILE'] },
    });
  let text: string;
  try {
    text = readText(path);
  } catch (error) {
    throw invalid('cannot be read', error);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw invalid('is not valid YAML', error);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues.map((issue) => issue.path.join('.') || 'top level').join(', ');
    throw invalid(`has entries that are not valid (${where}): ids must be ${pageTargetForms}`);
  }
  return parsed.data;
}

const toRota = (entries: Entries): Rota => ({
  onCall: entries.notify.map((entry) => parsePageTarget(entry)!),
  backup: entries.backup.map((entry) => parsePageTarget(entry)!),
});

/**
 * Build the rotas once at start: a missing or malformed file stops the start with CONFIG_INVALID
 * naming ESCALATION_FILE (ids in variables were already checked by loadConfig).
 */
export function loadRotas(
  config: Config,
  readText: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): Rotas {
  const file = config.ESCALATION_FILE ? readRotaFile(config.ESCALATION_FILE, readText) : undefined;
  const fallback: Entries = {
    notify: config.CRITICAL_NOTIFY.length > 0 ? config.CRITICAL_NOTIFY : (file?.default?.notify ?? []),
    backup: config.CRITICAL_BACKUP.length > 0 ? config.CRITICAL_BACKUP : (file?.default?.backup ?? []),
  };
  const channels = new Map<string, Rota>();
  for (const [channel, entries] of Object.entries(file?.channels ?? {}))
    channels.set(channel, toRota(entries));
  for (const [channel, entries] of Object.entries(config.criticalChannels ?? {})) {
    const fromFile = channels.get(channel);
    channels.set(channel, {
      onCall: entries.notify.length > 0 ? toRota(entries).onCall : (fromFile?.onCall ?? []),
      backup: entries.backup.length > 0 ? toRota(entries).backup : (fromFile?.backup ?? []),
    });
  }
  const defaultRota = toRota(fallback);
  return {
    afterMin: config.ESCALATE_AFTER_MIN,
    includeUrgent: config.ESCALATE_URGENT,
    forChannel(platform, channelId) {
      const rota = channels.get(channelId) ?? defaultRota;
      const mine = (targets: PageTarget[]) => targets.filter((target) => target.platform === platform);
      const picked = { onCall: mine(rota.onCall), backup: mine(rota.backup) };
      return picked.onCall.length > 0 || picked.backup.length > 0 ? picked : undefined;
    },
    describe() {
      const all = [{ where: 'default', rota: defaultRota }];
      for (const [where, rota] of channels) all.push({ where, rota });
      return all.filter(({ rota }) => rota.onCall.length + rota.backup.length > 0);
    },
  };
}
