// The edgefn command: parse, do, report. Everything it touches in the outside
// world comes in through CliIo, so tests run it in-process.

import { readFile } from 'node:fs/promises';
import { EdgefnClient } from '../api-client.ts';
import { EdgefnApiError } from '../api-error.ts';
import type { DeployRequest, FunctionInfo, RegionInfo, VersionsResponse } from '../wire.ts';
import { parseCommandLine, type Command, type Connection, type Env } from './args.ts';
import { prepareWorker } from './bundle.ts';
import { runDev } from './dev.ts';
import { collectModules, resolveProject } from './project.ts';
import { CliError } from './cli-error.ts';

export interface CliIo {
  env: Env;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Passed to the API client; default the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Ends long-running commands (tail); default: they run until the process is interrupted. */
  signal?: AbortSignal;
}

/** Runs one command line; resolves with the exit code (0 ok, 1 failure, 2 usage). */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command | undefined;
  try {
    command = parseCommandLine(argv, io.env);
    await execute(command, io);
    return 0;
  } catch (err) {
    io.stderr(`${describeFailure(err, command)}\n`);
    if (err instanceof CliError) return err.exitCode;
    return 1;
  }
}

async function execute(command: Command, io: CliIo): Promise<void> {
  switch (command.kind) {
    case 'help':
      io.stdout(`${command.text}\n`);
      return;
    case 'version':
      io.stdout(`${await version()}\n`);
      return;
    case 'deploy': {
      const client = connect(command.connection, io);
      const format = command.format ?? 'module';
      const project = await resolveProject(command.path);
      let body: DeployRequest;
      let how: string;
      if (command.modules) {
        const set = await collectModules(project);
        body = { modules: set.modules, main: set.main, format };
        how = ` (${set.modules.length} modules, main ${set.main})`;
      } else {
        const { script, bundled } = await prepareWorker(project.entry, format, command.compatibilityFlags);
        body = { script, format };
        how = bundled ? ' (bundled with esbuild)' : '';
      }
      if (Object.keys(command.vars).length > 0) body.vars = command.vars;
      if (Object.keys(command.secrets).length > 0) body.secrets = command.secrets;
      if (Object.keys(command.limits).length > 0) body.limits = command.limits;
      if (command.regions.length > 0) body.regions = command.regions;
      if (command.near !== undefined) body.placement = { near: command.near };
      if (command.percent !== undefined) body.percent = command.percent;
      if (command.sticky !== undefined) body.sticky = command.sticky;
      if (command.routes !== undefined) body.routes = command.routes;
      if (command.compatibilityFlags !== undefined) body.compatibilityFlags = command.compatibilityFlags;
      const result = await client.deploy(command.name, body);
      const share = command.percent === undefined || command.percent === 100 ? '' : `, on ${command.percent}% of traffic`;
      io.stderr(`${result.created ? 'Created' : 'Updated'} ${result.name}, version ${result.version}${how}${share}\n`);
      // The URL alone on stdout, so `url=$(edgefn deploy …)` works.
      io.stdout(`${result.url}\n`);
      return;
    }
    case 'list': {
      const functions = await connect(command.connection, io).list();
      io.stdout(functions.length === 0 ? 'No functions deployed.\n' : formatTable(functions));
      return;
    }
    case 'regions': {
      const { regions } = await connect(command.connection, io).regions();
      io.stdout(formatRegions(regions));
      return;
    }
    case 'delete': {
      const { deleted } = await connect(command.connection, io).delete(command.name);
      io.stdout(`Deleted ${deleted}\n`);
      return;
    }
    case 'versions': {
      io.stdout(formatVersions(await connect(command.connection, io).versions(command.name)));
      return;
    }
    case 'rollback': {
      const r = await connect(command.connection, io).rollback(command.name, command.to);
      io.stdout(`${r.name} is at version ${r.current}${r.previous === null ? '' : ` (was ${r.previous})`}\n`);
      return;
    }
    case 'tail': {
      const client = connect(command.connection, io);
      const lines = client.tail(command.name, {
        ...(io.signal ? { signal: io.signal } : {}),
        ...(command.since !== undefined ? { since: command.since } : {}),
        onConnect: ({ reconnect, error }) => {
          if (reconnect) io.stderr(`Reconnected to ${command.name}'s log (${error instanceof Error ? error.message : String(error)}).\n`);
          else io.stderr(`Following ${command.name}'s log; Ctrl-C to stop.\n`);
        },
      });
      for await (const entry of lines) {
        if (command.format === 'json') io.stdout(`${JSON.stringify(entry)}\n`);
        else io.stdout(`${entry.time} ${entry.level.padEnd(5)} ${entry.requestId ?? '-'} v${entry.version ?? '?'} ${entry.message}\n`);
      }
      return;
    }
    case 'dev':
      await runDev(command, io);
      return;
    case 'trigger': {
      const r = await connect(command.connection, io).trigger(command.name, command.cron);
      io.stdout(`${r.name} cron "${r.cron}" at ${new Date(r.scheduledTime).toISOString()}: ${r.outcome}${r.error === undefined ? '' : ` (${r.error})`}, ${r.cpuMs.toFixed(1)} ms CPU\n`);
      if (r.outcome !== 'ok') throw new CliError('ERR_TRIGGER_FAILED', `the scheduled handler of ${r.name} failed (${r.outcome}); see edgefn logs ${r.name}`);
      return;
    }
    case 'kv-get': {
      const value = await connect(command.connection, io).kvGet(command.namespace, command.key);
      if (value === undefined) throw new CliError('ERR_KV_NOT_FOUND', `no key ${JSON.stringify(command.key)} in KV namespace ${command.namespace}`);
      io.stdout(new TextDecoder().decode(value));
      return;
    }
    case 'kv-put': {
      await connect(command.connection, io).kvPut(command.namespace, command.key, command.value, {
        ...(command.expirationTtl === undefined ? {} : { expirationTtl: command.expirationTtl }),
        ...(command.expiration === undefined ? {} : { expiration: command.expiration }),
        ...(command.metadata === undefined ? {} : { metadata: command.metadata }),
      });
      io.stderr(`Wrote ${command.key} to ${command.namespace}\n`);
      return;
    }
    case 'kv-delete': {
      await connect(command.connection, io).kvDelete(command.namespace, command.key);
      io.stderr(`Deleted ${command.key} from ${command.namespace}\n`);
      return;
    }
    case 'kv-list': {
      const page = await connect(command.connection, io).kvList(command.namespace, {
        ...(command.prefix === undefined ? {} : { prefix: command.prefix }),
        ...(command.limit === undefined ? {} : { limit: command.limit }),
        ...(command.cursor === undefined ? {} : { cursor: command.cursor }),
      });
      if (page.keys.length > 0) io.stdout(table([['KEY', 'EXPIRATION', 'METADATA'], ...page.keys.map((k) => [k.name, k.expiration === undefined ? '-' : new Date(k.expiration * 1000).toISOString(), k.metadata === undefined ? '-' : JSON.stringify(k.metadata)])]));
      else io.stderr(`No keys in ${command.namespace}${command.prefix === undefined ? '' : ` with prefix ${JSON.stringify(command.prefix)}`}.\n`);
      if (!page.list_complete) io.stderr(`More keys: run again with --cursor ${page.cursor}\n`);
      return;
    }
    case 'logs': {
      const logs = await connect(command.connection, io).logs(command.name);
      for (const entry of logs) io.stdout(`${entry.time} ${entry.level.padEnd(5)} ${entry.message}\n`);
      if (logs.length === 0) io.stderr(`No logs for ${command.name} yet.\n`);
      return;
    }
  }
}

function connect(connection: Connection, io: CliIo): EdgefnClient {
  if (connection.token === undefined) {
    throw new CliError('ERR_NO_TOKEN', 'no API token: pass --token or set EDGEFN_TOKEN (the node prints where its token file is when it starts)');
  }
  return new EdgefnClient({ api: connection.api, token: connection.token, ...(io.fetch ? { fetch: io.fetch } : {}) });
}

/** What to tell the user: what went wrong and what to do about it. */
export function describeFailure(err: unknown, command: Command | undefined): string {
  if (err instanceof CliError) {
    const message = `edgefn${err.command === undefined ? '' : ` ${err.command}`}: ${err.message}`;
    return err.usage === undefined ? message : `${message}\n\n${err.usage}`;
  }
  if (err instanceof EdgefnApiError) {
    const api = command !== undefined && 'connection' in command ? command.connection.api : 'the configured address';
    switch (err.code) {
      case 'ERR_API_UNREACHABLE':
        return `cannot reach the edgefn control API at ${api}: is the node running (npm start)?\n  (${err.message})`;
      case 'ERR_API_TIMEOUT':
        return `the edgefn control API at ${api} did not answer in time: ${err.message}`;
    }
    // A 400 is the server telling the user what to fix in their input
    // (a compile error, a bad limit); its message is written for them.
    if (err.status === 400) return err.message;
    if (err.status === 401) {
      return `the control API at ${api} refused the token (401): check --token or EDGEFN_TOKEN against the node's token file\n  (${err.message})`;
    }
    if (err.status === 0) return `edgefn: ${err.message}`;
    return `${err.message} (${err.code}, HTTP ${err.status})`;
  }
  // Anything else is a bug in edgefn: keep the stack for the report.
  return `edgefn: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

function formatTable(functions: FunctionInfo[]): string {
  return table([['NAME', 'VERSION', 'FORMAT', 'URL', 'UPDATED'], ...functions.map((f) => [f.name, String(f.version), f.format, f.url, f.updatedAt])]);
}

/** Newest first; the traffic column shows the split during a rollout. */
function formatVersions(v: VersionsResponse): string {
  const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`);
  const rows = [['VERSION', 'TRAFFIC', 'CREATED', 'FORMAT', 'SIZE']];
  for (const x of v.versions) rows.push([`${x.version}${x.current ? ' (current)' : ''}`, x.percent > 0 ? `${x.percent}%` : '-', x.createdAt, x.format, size(x.size)]);
  const sticky = v.sticky === null ? '' : `Sticky by ${'header' in v.sticky ? `header ${v.sticky.header}` : `cookie ${v.sticky.cookie}`}.\n`;
  return table(rows) + sticky;
}

/** One line per node, grouped by region as the node answering sees them. */
function formatRegions(regions: RegionInfo[]): string {
  const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);
  const rows = [['REGION', 'RTT', 'NODE', 'URL', 'STATE']];
  for (const r of regions) {
    for (const n of r.nodes) rows.push([r.self ? `${r.name} (this node's)` : r.name, ms(n.self ? 0 : n.rttMs), n.id, n.url, n.self ? 'this node' : n.healthy ? 'healthy' : `down${n.error === undefined ? '' : ` (${n.error})`}`]);
    if (r.nodes.length === 0) rows.push([r.name, ms(r.rttMs), '-', '-', 'no nodes']);
  }
  return table(rows);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join('  ')).join('\n') + '\n';
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}
