import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Which Bot Connector serves each conversation (an activity's `serviceUrl`, regional, e.g.
 * https://smba.trafficmanager.net/emea/). Replies must go back there, including replies the core posts
 * after a restart, so the map is kept in a small JSON file beside the store. Conversation ids and
 * service URLs identify no patient.
 */
export interface ServiceUrls {
  get(conversationId: string): string | undefined;
  remember(conversationId: string, serviceUrl: string): Promise<void>;
}

const MAX_ENTRIES = 20_000;

export async function openServiceUrls(file: string): Promise<ServiceUrls> {
  const map = new Map<string, string>();
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    for (const [id, url] of Object.entries(saved)) if (typeof url === 'string') map.set(id, url);
  } catch {
    // First start, or a damaged file: conversations are learnt again from the next activity.
  }
  let writing = Promise.resolve();
  const save = () => {
    const snapshot = JSON.stringify(Object.fromEntries(map));
    writing = writing.then(async () => {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, snapshot);
      await rename(`${file}.tmp`, file);
    });
    return writing;
  };
  return {
    get: (id) => map.get(id),
    async remember(id, url) {
      if (map.get(id) === url) return;
      map.delete(id);
      map.set(id, url);
      if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as string);
      await save();
    },
  };
}
