// Turns argv into a checked Command. Every malformed command line becomes a
// CliError('ERR_USAGE') whose message names the offending flag and whose usage
// is the help of the command being typed.
//
// util.parseArgs runs in non-strict mode with tokens so that we, not
// parseArgs, word the errors: its strict-mode messages name no command and
// suggest `--` tricks that do not apply here.

import { parseArgs } from 'node:util';
import { FUNCTION_NAME_PATTERN, KV_NAMESPACE_PATTERN, REGION_PATTERN, WORKER_FORMATS, type LimitName, type StickyKey, type WireLimits, type WorkerFormat } from '../wire.ts';
import { CliError } from './cli-error.ts';
import { COMMANDS, USAGE, type CommandName } from './usage.ts';

export const DEFAULT_API = 'http://127.0.0.1:8081';

export interface Connection {
  api: string;
  /** Undefined when neither --token nor EDGEFN_TOKEN is set; commands that call the API fail then. */
  token: string | undefined;
}

export type Command =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | {
      kind: 'deploy';
      connection: Connection;
      /** A worker file or a project directory. */
      path: string;
      /** Upload the project's files as a module set instead of one bundled script. */
      modules: boolean;
      name: string;
      format: WorkerFormat | undefined;
      vars: Record<string, string>;
      secrets: Record<string, string>;
      limits: WireLimits;
      /** Empty: every region. */
      regions: string[];
      /** --near: placement.near. */
      near: string | undefined;
      /** A gradual rollout: the new version's share of traffic in percent. */
      percent: number | undefined;
      sticky: StickyKey | undefined;
      /** Custom routes (`--route`, repeatable); absent: the function keeps the routes it has. */
      routes?: string[];
      /** `--compatibility-flag`, repeatable (e.g. nodejs_compat); checked by the node. */
      compatibilityFlags?: string[];
    }
  | { kind: 'versions'; connection: Connection; name: string }
  | { kind: 'rollback'; connection: Connection; name: string; to: number | undefined }
  | { kind: 'list'; connection: Connection }
  | { kind: 'regions'; connection: Connection }
  | { kind: 'delete'; connection: Connection; name: string }
  | { kind: 'logs'; connection: Connection; name: string }
  /** Follow the log live: human lines, or NDJSON with --format json. */
  | { kind: 'tail'; connection: Connection; name: string; format: 'text' | 'json'; since: string | undefined }
  | {
      kind: 'dev';
      /** A worker file or a project directory. */
      path: string;
      /** Data-plane port; 0 picks a free one. */
      port: number;
      /** Undefined: derived from the entry's file name. */
      name: string | undefined;
      format: WorkerFormat | undefined;
      vars: Record<string, string>;
      secrets: Record<string, string>;
      limits: WireLimits;
      noLimits: boolean;
      /** `--compatibility-flag`, repeatable. */
      compatibilityFlags?: string[];
    }
  | { kind: 'trigger'; connection: Connection; name: string; cron: string }
  | { kind: 'kv-get'; connection: Connection; namespace: string; key: string }
  | { kind: 'kv-put'; connection: Connection; namespace: string; key: string; value: string; expirationTtl: number | undefined; expiration: number | undefined; metadata: unknown }
  | { kind: 'kv-list'; connection: Connection; namespace: string; prefix: string | undefined; limit: number | undefined; cursor: string | undefined }
  | { kind: 'kv-delete'; connection: Connection; namespace: string; key: string };

const KV_ACTIONS = ['get', 'put', 'list', 'delete'] as const;
/** Positionals after the action, per kv action. */
const KV_POSITIONALS: Record<(typeof KV_ACTIONS)[number], readonly string[]> = { get: ['namespace', 'key'], put: ['namespace', 'key', 'value'], list: ['namespace'], delete: ['namespace', 'key'] };

export type Env = Readonly<Record<string, string | undefined>>;

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
}

const CONNECTION_OPTIONS = {
  api: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>;

const LIMIT_FLAGS = { 'cpu-ms': 'cpuMs', 'memory-mb': 'memoryMb', 'wall-ms': 'wallMs', concurrency: 'concurrency', rps: 'rps', 'websocket-wall-ms': 'websocketWallMs', 'websocket-messages-per-second': 'websocketMessagesPerSecond' } as const satisfies Record<string, LimitName>;

const SPECS: Record<CommandName, { options: Record<string, OptionSpec>; positionals: readonly string[] }> = {
  deploy: {
    options: {
      ...CONNECTION_OPTIONS,
      name: { type: 'string' },
      var: { type: 'string', multiple: true },
      secret: { type: 'string', multiple: true },
      format: { type: 'string' },
      modules: { type: 'boolean' },
      'cpu-ms': { type: 'string' },
      'memory-mb': { type: 'string' },
      'wall-ms': { type: 'string' },
      concurrency: { type: 'string' },
      rps: { type: 'string' },
      'websocket-wall-ms': { type: 'string' },
      'websocket-messages-per-second': { type: 'string' },
      region: { type: 'string', multiple: true },
      near: { type: 'string' },
      percent: { type: 'string' },
      'sticky-header': { type: 'string' },
      'sticky-cookie': { type: 'string' },
      route: { type: 'string', multiple: true },
      'compatibility-flag': { type: 'string', multiple: true },
    },
    positionals: ['path'],
  },
  versions: { options: CONNECTION_OPTIONS, positionals: ['name'] },
  rollback: { options: { ...CONNECTION_OPTIONS, to: { type: 'string' } }, positionals: ['name'] },
  list: { options: CONNECTION_OPTIONS, positionals: [] },
  regions: { options: CONNECTION_OPTIONS, positionals: [] },
  delete: { options: CONNECTION_OPTIONS, positionals: ['name'] },
  logs: { options: CONNECTION_OPTIONS, positionals: ['name'] },
  tail: { options: { ...CONNECTION_OPTIONS, format: { type: 'string' }, since: { type: 'string' } }, positionals: ['name'] },
  dev: {
    options: {
      help: { type: 'boolean', short: 'h' },
      port: { type: 'string' },
      name: { type: 'string' },
      var: { type: 'string', multiple: true },
      secret: { type: 'string', multiple: true },
      format: { type: 'string' },
      'cpu-ms': { type: 'string' },
      'memory-mb': { type: 'string' },
      'wall-ms': { type: 'string' },
      'no-limits': { type: 'boolean' },
      'compatibility-flag': { type: 'string', multiple: true },
    },
    positionals: ['path'],
  },
  trigger: { options: { ...CONNECTION_OPTIONS, cron: { type: 'string' } }, positionals: ['name'] },
  // Checked per action below: kv's positionals depend on its first one.
  kv: {
    options: { ...CONNECTION_OPTIONS, ttl: { type: 'string' }, expiration: { type: 'string' }, metadata: { type: 'string' }, prefix: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
    positionals: [],
  },
};

/** `edgefn dev`'s default port (what wrangler dev uses too). */
export const DEV_DEFAULT_PORT = 8787;

interface Parsed {
  /** Every value given for each string option, in order. */
  strings: Map<string, string[]>;
  booleans: Set<string>;
  positionals: string[];
}

export function parseCommandLine(argv: readonly string[], env: Env): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw new CliError('ERR_USAGE', 'no command given', { usage: USAGE.main });
  if (first === '--help' || first === '-h') return { kind: 'help', text: USAGE.main };
  if (first === '--version') return { kind: 'version' };
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { kind: 'help', text: USAGE.main };
    if (isCommand(topic)) return { kind: 'help', text: USAGE[topic] };
    throw new CliError('ERR_USAGE', `unknown command "${topic}"`, { usage: USAGE.main });
  }
  if (!isCommand(first)) {
    const what = first.startsWith('-') ? `option ${first} must follow a command` : `unknown command "${first}"`;
    throw new CliError('ERR_USAGE', what, { usage: USAGE.main });
  }

  const usage = USAGE[first];
  const fail = (message: string): CliError => new CliError('ERR_USAGE', message, { usage, command: first });
  const parsed = tokenize(rest, SPECS[first].options, fail);
  if (parsed.booleans.has('help')) return { kind: 'help', text: usage };

  const wanted = first === 'kv' ? ['action', ...(KV_POSITIONALS[parsed.positionals[0] as (typeof KV_ACTIONS)[number]] ?? [])] : SPECS[first].positionals;
  if (first === 'kv' && parsed.positionals[0] !== undefined && !(KV_ACTIONS as readonly string[]).includes(parsed.positionals[0])) {
    throw fail(`unknown kv action "${parsed.positionals[0]}": use ${KV_ACTIONS.join(', ')}`);
  }
  if (parsed.positionals.length > wanted.length) {
    throw fail(`unexpected argument "${parsed.positionals[wanted.length]}"`);
  }
  if (parsed.positionals.length < wanted.length) throw fail(`missing <${wanted[parsed.positionals.length]}>`);

  const single = (name: string): string | undefined => {
    const values = parsed.strings.get(name);
    if (values !== undefined && values.length > 1) throw fail(`--${name} given more than once`);
    return values?.[0];
  };
  if (first === 'dev') return devCommand(parsed, single, env, fail);
  const connection: Connection = {
    api: checkApi(single('api') ?? nonEmpty(env['EDGEFN_API']) ?? DEFAULT_API, fail),
    token: single('token') ?? nonEmpty(env['EDGEFN_TOKEN']),
  };

  switch (first) {
    case 'list':
    case 'regions':
      return { kind: first, connection };
    case 'delete':
    case 'logs':
    case 'versions':
      return { kind: first, connection, name: checkName(parsed.positionals[0] ?? '', fail) };
    case 'rollback': {
      const raw = single('to');
      const to = raw === undefined ? undefined : Number(raw);
      if (to !== undefined && (!/^\d+$/.test(raw!) || !Number.isSafeInteger(to) || to < 1)) throw fail(`--to must be a version number (an integer from 1), got "${raw}"`);
      return { kind: 'rollback', connection, name: checkName(parsed.positionals[0] ?? '', fail), to };
    }
    case 'tail': {
      const format = single('format') ?? 'text';
      if (format !== 'text' && format !== 'json') throw fail(`--format must be text or json, got "${format}"`);
      const since = single('since');
      if (since !== undefined && !/^\d{1,15}$/.test(since) && Number.isNaN(Date.parse(since))) throw fail(`--since must be a log cursor (a line's id) or an ISO time like 2026-12-01T22:00:00Z, got "${since}"`);
      return { kind: 'tail', connection, name: checkName(parsed.positionals[0] ?? '', fail), format, since };
    }
    case 'trigger': {
      const cron = single('cron');
      if (cron === undefined || cron.trim() === '') throw fail('missing --cron <expression>');
      return { kind: 'trigger', connection, name: checkName(parsed.positionals[0] ?? '', fail), cron };
    }
    case 'kv': {
      const [action, namespace = '', key = '', value = ''] = parsed.positionals as [string, string?, string?, string?];
      if (!KV_NAMESPACE_PATTERN.test(namespace)) throw fail(`invalid KV namespace "${namespace}": use 1 to 64 characters of A-Z, a-z, 0-9, _ and -`);
      const forAction = (flags: string[]) => {
        for (const f of ['ttl', 'expiration', 'metadata', 'prefix', 'limit', 'cursor']) if (!flags.includes(f) && parsed.strings.has(f)) throw fail(`--${f} does not apply to kv ${action}`);
      };
      switch (action) {
        case 'get':
        case 'delete':
          forAction([]);
          return { kind: action === 'get' ? 'kv-get' : 'kv-delete', connection, namespace, key };
        case 'put': {
          forAction(['ttl', 'expiration', 'metadata']);
          const ttl = single('ttl');
          const expiration = single('expiration');
          const meta = single('metadata');
          let metadata: unknown;
          if (meta !== undefined) {
            try {
              metadata = JSON.parse(meta);
            } catch {
              throw fail(`--metadata must be JSON, got ${JSON.stringify(meta)}`);
            }
          }
          return { kind: 'kv-put', connection, namespace, key, value, expirationTtl: ttl === undefined ? undefined : positiveNumber('ttl', ttl, fail), expiration: expiration === undefined ? undefined : positiveNumber('expiration', expiration, fail), metadata };
        }
        default: {
          forAction(['prefix', 'limit', 'cursor']);
          const limit = single('limit');
          return { kind: 'kv-list', connection, namespace, prefix: single('prefix'), limit: limit === undefined ? undefined : positiveNumber('limit', limit, fail), cursor: single('cursor') };
        }
      }
    }
    case 'deploy': {
      const name = single('name');
      if (name === undefined) throw fail('missing --name <name>');
      const format = single('format');
      if (format !== undefined && !isFormat(format)) {
        throw fail(`--format must be ${WORKER_FORMATS.join(' or ')}, got "${format}"`);
      }
      const modules = parsed.booleans.has('modules');
      if (modules && format === 'service-worker') throw fail('--modules uploads ES modules; it cannot be combined with --format service-worker');
      const vars = bindings('var', parsed.strings.get('var') ?? [], env, fail);
      const secrets = bindings('secret', parsed.strings.get('secret') ?? [], env, fail);
      for (const key of Object.keys(secrets)) {
        // One env namespace: the same key as both would silently shadow one of them.
        if (Object.hasOwn(vars, key)) throw fail(`${key} is given as both --var and --secret`);
      }
      const limits: WireLimits = {};
      for (const [flag, field] of Object.entries(LIMIT_FLAGS)) {
        const raw = single(flag);
        if (raw !== undefined) limits[field] = positiveNumber(flag, raw, fail);
      }
      const regions = parsed.strings.get('region') ?? [];
      for (const r of regions) if (!REGION_PATTERN.test(r)) throw fail(`--region "${r}" is not a region name: use 1 to 63 characters of a-z, 0-9 and -`);
      const rawPercent = single('percent');
      const percent = rawPercent === undefined ? undefined : Number(rawPercent);
      if (percent !== undefined && (rawPercent!.trim() === '' || !Number.isFinite(percent) || percent <= 0 || percent > 100)) throw fail(`--percent must be a number above 0 and at most 100, got "${rawPercent}"`);
      const stickyHeader = single('sticky-header');
      const stickyCookie = single('sticky-cookie');
      if (stickyHeader !== undefined && stickyCookie !== undefined) throw fail('give --sticky-header or --sticky-cookie, not both');
      const sticky: StickyKey | undefined = stickyHeader !== undefined ? { header: stickyHeader } : stickyCookie !== undefined ? { cookie: stickyCookie } : undefined;
      if (sticky !== undefined && percent === undefined) throw fail(`--sticky-${'header' in sticky ? 'header' : 'cookie'} keeps clients on one version of a split: it needs --percent`);
      // Patterns are checked by the node, which names what is wrong in its 400.
      const routes = parsed.strings.get('route');
      const flags = parsed.strings.get('compatibility-flag');
      return { kind: 'deploy', connection, path: parsed.positionals[0] ?? '', modules, name: checkName(name, fail), format, vars, secrets, limits, regions, near: single('near'), percent, sticky, ...(routes === undefined ? {} : { routes }), ...(flags === undefined ? {} : { compatibilityFlags: flags }) };
    }
  }
}

function devCommand(parsed: Parsed, single: (name: string) => string | undefined, env: Env, fail: (message: string) => CliError): Command {
  const rawPort = single('port');
  let port = DEV_DEFAULT_PORT;
  if (rawPort !== undefined) {
    port = Number(rawPort);
    if (rawPort.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw fail(`--port must be an integer from 0 to 65535, got "${rawPort}"`);
  }
  const name = single('name');
  const format = single('format');
  if (format !== undefined && !isFormat(format)) throw fail(`--format must be ${WORKER_FORMATS.join(' or ')}, got "${format}"`);
  const vars = bindings('var', parsed.strings.get('var') ?? [], env, fail);
  const secrets = bindings('secret', parsed.strings.get('secret') ?? [], env, fail);
  for (const key of Object.keys(secrets)) if (Object.hasOwn(vars, key)) throw fail(`${key} is given as both --var and --secret`);
  const limits: WireLimits = {};
  for (const [flag, field] of Object.entries(LIMIT_FLAGS)) {
    const raw = single(flag);
    if (raw !== undefined) limits[field] = positiveNumber(flag, raw, fail);
  }
  const noLimits = parsed.booleans.has('no-limits');
  if (noLimits && Object.keys(limits).length > 0) throw fail('--no-limits relaxes every budget; it cannot be combined with --cpu-ms, --memory-mb or --wall-ms');
  const flags = parsed.strings.get('compatibility-flag');
  return { kind: 'dev', path: parsed.positionals[0] ?? '', port, name: name === undefined ? undefined : checkName(name, fail), format, vars, secrets, limits, noLimits, ...(flags === undefined ? {} : { compatibilityFlags: flags }) };
}

function tokenize(args: string[], options: Record<string, OptionSpec>, fail: (message: string) => CliError): Parsed {
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const out: Parsed = { strings: new Map(), booleans: new Set(), positionals: [] };
  // --help wins over every other problem on the line: someone asking for help
  // while typing a broken command wants the help, not the complaint.
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help' && t.value === undefined)) {
    out.booleans.add('help');
    return out;
  }
  for (const token of tokens) {
    if (token.kind === 'positional') {
      out.positionals.push(token.value);
    } else if (token.kind === 'option') {
      const spec = options[token.name];
      if (spec === undefined) throw fail(`unknown option ${token.rawName}`);
      if (spec.type === 'boolean') {
        if (token.value !== undefined) throw fail(`${token.rawName} takes no value`);
        out.booleans.add(token.name);
        continue;
      }
      // Non-strict parseArgs lets `--name --var X` take "--var" as the name;
      // a value that looks like a flag is almost always a forgotten value.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-'))) {
        throw fail(`${token.rawName} needs a value`);
      }
      const list = out.strings.get(token.name) ?? [];
      list.push(token.value);
      out.strings.set(token.name, list);
    }
  }
  return out;
}

/** `KEY=VALUE` pairs; for secrets, a bare `KEY` reads the value from the environment. */
function bindings(flag: 'var' | 'secret', raw: string[], env: Env, fail: (message: string) => CliError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of raw) {
    const eq = item.indexOf('=');
    let key: string;
    let value: string;
    if (eq === -1) {
      if (flag === 'var') throw fail(`--var needs KEY=VALUE, got "${item}"`);
      const fromEnv = env[item];
      if (fromEnv === undefined) throw fail(`--secret ${item}: no "=" and no environment variable ${item} to take the value from`);
      key = item;
      value = fromEnv;
    } else {
      key = item.slice(0, eq);
      value = item.slice(eq + 1);
    }
    if (key === '') throw fail(`--${flag} needs KEY=VALUE with a non-empty KEY, got "${item}"`);
    if (Object.hasOwn(out, key)) throw fail(`--${flag} ${key} given more than once`);
    out[key] = value;
  }
  return out;
}

function positiveNumber(flag: string, raw: string, fail: (message: string) => CliError): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw fail(`--${flag} must be a positive number, got "${raw}"`);
  return n;
}

function checkName(name: string, fail: (message: string) => CliError): string {
  if (!FUNCTION_NAME_PATTERN.test(name)) {
    throw fail(`invalid function name "${name}": use 1 to 63 lowercase letters, digits and hyphens`);
  }
  return name;
}

function checkApi(api: string, fail: (message: string) => CliError): string {
  const url = URL.parse(api);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw fail(`the API address must be an http(s) URL like ${DEFAULT_API}, got "${api}"`);
  }
  return api;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

function isCommand(s: string): s is CommandName {
  return (COMMANDS as readonly string[]).includes(s);
}

function isFormat(s: string): s is WorkerFormat {
  return (WORKER_FORMATS as readonly string[]).includes(s);
}
