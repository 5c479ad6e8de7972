// Owner-defined tags of each function (`"tags": { "tenant": "acme" }` in a
// deploy), kept in the node's SQLite file and in memory. Usage is metered per
// `tenant` tag (router/usage.ts). A deploy without "tags" clears them.

import { DatabaseSync } from 'node:sqlite';
import { EdgefnError } from '../runtime/index.ts';
import { MAX_TAGS, TAG_NAME_PATTERN, TAG_VALUE_PATTERN } from '../sdk/wire.ts';

/** Validate a deploy's "tags" field; undefined is no tags. */
export function parseTags(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EdgefnError('ERR_INVALID_INPUT', '"tags" must be an object of string values, like { "tenant": "acme" }');
  const entries = Object.entries(value);
  if (entries.length > MAX_TAGS) throw new EdgefnError('ERR_INVALID_INPUT', `"tags" has ${entries.length} tags; at most ${MAX_TAGS} are allowed`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (!TAG_NAME_PATTERN.test(k)) throw new EdgefnError('ERR_INVALID_INPUT', `tag name "${k}" is not valid: 1 to 32 characters of a-z, 0-9, _ and -, starting with a letter`);
    if (typeof v !== 'string' || !TAG_VALUE_PATTERN.test(v)) throw new EdgefnError('ERR_INVALID_INPUT', `tags.${k} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'`);
    out[k] = v;
  }
  return out;
}

export class FunctionTags {
  readonly #db: DatabaseSync;
  readonly #tags = new Map<string, Record<string, string>>();
  #closed = false;

  constructor(dbPath: string) {
    this.#db = new DatabaseSync(dbPath);
    this.#db.exec('PRAGMA busy_timeout = 5000; CREATE TABLE IF NOT EXISTS function_tags (name TEXT PRIMARY KEY, tags TEXT NOT NULL);');
    for (const row of this.#db.prepare('SELECT name, tags FROM function_tags').all() as Array<{ name: string; tags: string }>) {
      this.#tags.set(row.name, JSON.parse(row.tags) as Record<string, string>);
    }
  }

  get(name: string): Record<string, string> | undefined {
    return this.#tags.get(name);
  }

  /** The `tenant` tag, or "" for none. */
  tenant(name: string): string {
    return this.#tags.get(name)?.['tenant'] ?? '';
  }

  set(name: string, tags: Record<string, string>): void {
    if (Object.keys(tags).length === 0) return this.delete(name);
    this.#db.prepare('INSERT INTO function_tags (name, tags) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET tags = excluded.tags').run(name, JSON.stringify(tags));
    this.#tags.set(name, tags);
  }

  delete(name: string): void {
    this.#db.prepare('DELETE FROM function_tags WHERE name = ?').run(name);
    this.#tags.delete(name);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
