import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { allPageTargets, pageTargetForms } from './core/escalation/targets.ts';
import { parseEndpointList } from './engine/endpoints.ts';
import { AppError } from './errors.ts';

/**
 * The only reader of process.env (DESIGN §4). Everything else receives a parsed `Config`.
 * Problems are reported all at once and by variable name only: a value may be a secret.
 */

const splitList = (raw: string): string[] =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const list = z.string().default('').transform(splitList);

/** Who to page for critical reads (issue 19): each entry one of the forms in targets.ts. */
const pageTargets = list.refine(allPageTargets, { message: `must be a comma list of ${pageTargetForms}` });
/** A comma list of IP addresses (no names: a trusted proxy is recognised by the socket's address). */
const ipList = z
  .string()
  .default('')
  .transform(splitList)
  .refine((items) => items.every((item) => isIP(item) !== 0), {
    message: 'must be a comma list of IP addresses like 127.0.0.1',
  });

const flag = z
  .enum(['true', 'false'])
  .default('false')
  .transform((value) => value === 'true');

/** A shared secret typed by people: long enough that guessing it over HTTP is hopeless. */
const secret = z
  .string()
  .default('')
  .refine((value) => value === '' || value.length >= 24, { message: 'must be at least 24 characters' });

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/** An origin list: each entry must be scheme://host[:port] with nothing after it. */
const originList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitList)
    .refine(
      (items) =>
        items.every((item) => {
          try {
            const url = new URL(item);
            return (
              url.origin === item.replace(/\/$/, '') &&
              (url.protocol === 'https:' || url.protocol === 'http:')
            );
          } catch {
            return false;
          }
        }),
      { message: 'must be a comma list of origins like https://files.slack.com (no path)' },
    );

/**
 * A host allow-list: exact hosts (`smba.trafficmanager.net`, `127.0.0.1:8443`) or one leading wildcard
 * label (`*.botframework.com`, which matches subdomains only). No scheme, no path: tokens go over https.
 */
const hostList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform(splitList)
    .refine((items) => items.every((item) => /^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$/i.test(item)), {
      message: 'must be a comma list of hosts like smba.trafficmanager.net or *.botframework.com (no scheme)',
    });

const httpsUrl = z.string().refine(
  (value) => {
    try {
      return new URL(value).protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'must be an https URL' },
);

const httpUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'must be an http(s) URL' },
);

export const configSchema = z.object({
  DATA_DIR: z.string().min(1).default('./data'),
  ENGINE: z.enum(['openai', 'visualqa', 'onnx']).default('openai'),
  ENGINE_URL: httpUrl.default('http://127.0.0.1:8000/v1'),
  /** Several model servers, comma-separated, each optionally `#model=…&concurrency=N`; replaces ENGINE_URL. */
  ENGINE_URLS: z
    .string()
    .default('')
    .superRefine((value, context) => {
      try {
        parseEndpointList(value, { url: 'http://127.0.0.1/v1', model: 'm', concurrency: 1 });
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
  ENGINE_MODEL: z.string().min(1).default('Qwen/Qwen3-VL-8B-Instruct'),
  ENGINE_API_KEY: z.string().default(''),
  ENGINE_CONCURRENCY: positiveInt.max(256).default(1),
  ENGINE_TIMEOUT_MS: positiveInt.default(120_000),
  MODEL_DIR: z.string().default(''),
  ONNX_DEVICE: z.enum(['cuda', 'cpu']).default('cuda'),
  ONNX_DTYPE: z.enum(['q8', 'q4f16', 'fp16', 'fp32']).default('q8'),
  MAX_IMAGE_SIZE: z.coerce.number().int().min(64).max(8192).default(1024),
  STUDY_MAX_IMAGES: positiveInt.max(16).default(4),
  STUDY_MAX_TOKENS: z.coerce.number().int().min(64).max(65_536).default(2048),
  MAX_UPLOAD_MB: positiveInt.max(2048).default(100),
  TEMPERATURE: z.coerce.number().min(0).max(2).default(0.3),
  SLACK_BOT_TOKEN: z.string().default(''),
  SLACK_APP_TOKEN: z.string().default(''),
  SLACK_SIGNING_SECRET: z.string().default(''),
  SLACK_MODE: z.enum(['socket', 'http']).default('socket'),
  SLACK_PORT: port.default(3000),
  SLACK_API_URL: httpUrl.default('https://slack.com/api/'),
  SLACK_FILE_HOSTS: originList('https://files.slack.com'),
  DISCORD_TOKEN: z.string().default(''),
  DISCORD_APP_ID: z.string().default(''),
  DISCORD_API_URL: httpUrl.default('https://discord.com/api'),
  DISCORD_CDN_HOSTS: originList('https://cdn.discordapp.com,https://media.discordapp.net'),
  DISCORD_PHI: z.enum(['refuse', 'allow']).default('refuse'),
  TEAMS_APP_ID: z.string().default(''),
  TEAMS_APP_PASSWORD: z.string().default(''),
  TEAMS_TENANT_ID: z.string().default(''),
  TEAMS_PORT: port.default(3978),
  TEAMS_AUTHORITY: httpsUrl.default('https://login.microsoftonline.com'),
  TEAMS_SERVICE_HOSTS: hostList(
    'smba.trafficmanager.net,*.botframework.com,smba.infra.gcc.teams.microsoft.com,smba.infra.gov.teams.microsoft.us',
  ),
  TEAMS_FILE_HOSTS: hostList('*.sharepoint.com,*.sharepoint.us,*.blob.core.windows.net'),
  CONSOLE_PORT: port.default(8787),
  CONSOLE_HOST: z.string().min(1).default('127.0.0.1'),
  CONSOLE_AUTH: z.enum(['none', 'token', 'proxy']).default('none'),
  CONSOLE_TOKEN: secret,
  CONSOLE_SESSION_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(12),
  CONSOLE_PROXY_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, { message: 'must be an HTTP header name like X-Forwarded-User' })
    .default('X-Forwarded-User'),
  CONSOLE_TRUSTED_PROXY: ipList,
  SERVER_NAMES: list,
  API_PORT: port.default(7860),
  API_TOKEN: secret,
  METRICS_PUBLIC: flag,
  API_WAIT_S: positiveInt.max(3600).default(30),
  ALLOWED_CHANNELS: list,
  ALLOWED_USERS: list,
  STAT_CHANNELS: list,
  USER_RATE_PER_MIN: positiveInt.max(10_000).default(6),
  QUEUE_MAX: positiveInt.max(100_000).default(200),
  /** Where state lives: file (DATA_DIR, one process) or redis (REDIS_URL, shared by several processes). */
  STORE: z.enum(['file', 'redis']).default('file'),
  REDIS_URL: z
    .string()
    .default('')
    .refine((value) => value === '' || /^rediss?:\/\/[^\s]+$/.test(value), {
      message: 'must be a redis:// or rediss:// URL',
    }),
  RETENTION_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 365)
    .default(24),
  CRITICAL_NOTIFY: pageTargets,
  CRITICAL_BACKUP: pageTargets,
  ESCALATION_FILE: z.string().default(''),
  ESCALATE_AFTER_MIN: z.coerce
    .number()
    .positive()
    .max(24 * 60)
    .default(10),
  ESCALATE_URGENT: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  /** Seconds a stop (SIGTERM/SIGINT) lets in-flight reads finish; what is left is resumed on the next start. */
  STOP_TIMEOUT_S: positiveInt.max(3600).default(20),
  BURNED_IN_TEXT: z.enum(['redact', 'flag', 'refuse']).default('redact'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * Per-channel rotas from CRITICAL_NOTIFY_<CHANNEL> / CRITICAL_BACKUP_<CHANNEL> (issue 19), keyed by the
 * channel id as written. Present only when at least one such variable is set.
 */
export interface ChannelRotaEnv {
  notify: string[];
  backup: string[];
}

export type Config = z.infer<typeof configSchema> & { criticalChannels?: Record<string, ChannelRotaEnv> };
export type ConfigKey = keyof z.infer<typeof configSchema>;
export const configKeys = Object.keys(configSchema.shape) as ConfigKey[];

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parse the configuration from an injectable environment. Empty strings count as unset so that
 * a `.env` line like `ENGINE_API_KEY=` keeps the default.
 */
export function loadConfig(env: Env): Config {
  const picked: Record<string, string> = {};
  for (const key of configKeys) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') picked[key] = value.trim();
  }
  const parsed = configSchema.safeParse(picked);
  const channels = channelRotas(env);
  // ENGINE=onnx runs the model inside this process: one read at a time, whatever ENGINE_CONCURRENCY says.
  if (parsed.success && channels.problems.length === 0) {
    const config: Config =
      parsed.data.ENGINE === 'onnx' ? { ...parsed.data, ENGINE_CONCURRENCY: 1 } : parsed.data;
    return channels.rotas ? { ...config, criticalChannels: channels.rotas } : config;
  }
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues).map((issue) => {
      const name = String(issue.path[0] ?? 'configuration');
      return { name, problem: describeIssue(issue) };
    }),
    ...channels.problems,
  ];
  const lines = problems.map((p) => `${p.name}: ${p.problem}`);
  throw new AppError('CONFIG_INVALID', `invalid configuration: ${problems.map((p) => p.name).join(', ')}`, {
    userMessage: `Configuration problems:\n  ${lines.join('\n  ')}\nFix them in the environment or in .env (see .env.example).`,
    details: { variables: problems.map((p) => p.name) },
  });
}

/** CRITICAL_NOTIFY_<CHANNEL> and CRITICAL_BACKUP_<CHANNEL>: a rota for one channel (issue 19). */
function channelRotas(env: Env): {
  rotas?: Record<string, ChannelRotaEnv>;
  problems: Array<{ name: string; problem: string }>;
} {
  const rotas: Record<string, ChannelRotaEnv> = {};
  const problems: Array<{ name: string; problem: string }> = [];
  for (const [name, value] of Object.entries(env)) {
    const match = /^CRITICAL_(NOTIFY|BACKUP)_([A-Za-z0-9]+)$/.exec(name);
    if (!match || value === undefined || value.trim() === '') continue;
    const entries = splitList(value);
    if (!allPageTargets(entries)) {
      problems.push({ name, problem: `must be a comma list of ${pageTargetForms}` });
      continue;
    }
    const channel = match[2]!;
    rotas[channel] ??= { notify: [], backup: [] };
    rotas[channel][match[1] === 'NOTIFY' ? 'notify' : 'backup'] = entries;
  }
  return Object.keys(rotas).length > 0 ? { rotas, problems } : { problems };
}

/** zod's messages can quote the received value; rebuild them from the issue kind instead. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_type':
      return `must be a ${issue.expected}`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    case 'custom':
      return issue.message;
    default:
      return 'is not valid';
  }
}

/** Which chat platforms are switched on by their credentials (DESIGN §4). */
export function enabledPlatforms(config: Config): {
  slack: boolean;
  discord: boolean;
  teams: boolean;
  console: boolean;
} {
  return {
    slack: config.SLACK_BOT_TOKEN !== '',
    discord: config.DISCORD_TOKEN !== '',
    teams: config.TEAMS_APP_ID !== '',
    console: config.CONSOLE_PORT !== 0,
  };
}

/**
 * The process environment merged over `./.env` (when present): a variable already set in the
 * environment wins, so a test or a service manager can always override the file (DESIGN §4).
 */
export function readProcessEnv(cwd: string = process.cwd()): Env {
  const fromFile: Record<string, string> = {};
  const path = `${cwd}/.env`;
  if (existsSync(path)) Object.assign(fromFile, parseEnv(readFileSync(path, 'utf8')));
  return { ...fromFile, ...process.env };
}
