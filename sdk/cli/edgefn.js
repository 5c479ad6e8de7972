#!/usr/bin/env node
// The `edgefn` bin. The CLI is TypeScript run by Node 24's type stripping, but
// `#!/usr/bin/env node` finds whatever node is first on PATH, often an older
// system one. So this file stays plain JavaScript that old Nodes can parse,
// and on Node < 24 re-runs itself with the Node 24 binary from the `node`
// npm package (a dependency of edgefn), same argv, same stdio, same exit code.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REQUIRED_MAJOR = 24;
// Set in the child so a binary that turns out to be old too cannot loop forever.
const REEXEC_MARK = 'EDGEFN_CLI_REEXEC';

const self = fileURLToPath(import.meta.url);
const major = Number(process.versions.node.split('.')[0]);

if (major >= REQUIRED_MAJOR) {
  import('./main.ts').catch((err) => {
    // Node refuses to strip types from files under node_modules, which is
    // where this file lives when edgefn is installed as a package.
    if (err && err.code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING') {
      console.error('edgefn: Node cannot run the CLI\'s TypeScript from node_modules; run it from an edgefn checkout (npx edgefn there) instead.');
    } else {
      console.error(err);
    }
    process.exitCode = 1;
  });
} else {
  reexec();
}

function findNode24() {
  const candidates = [];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node/bin/node'));
  } catch {
    // Not resolvable from here; fall back to the package root's .bin below.
  }
  candidates.push(join(dirname(self), '..', '..', 'node_modules', '.bin', 'node'));
  return candidates.find((path) => existsSync(path));
}

function reexec() {
  const node = process.env[REEXEC_MARK] === undefined ? findNode24() : undefined;
  if (node === undefined) {
    console.error(
      `edgefn needs Node.js ${REQUIRED_MAJOR} or newer; this is ${process.version}` +
        (process.env[REEXEC_MARK] === undefined
          ? ' and the `node` package (Node 24) is not installed next to edgefn. Run npm install in the edgefn directory, or install Node 24.'
          : ` even after switching to the \`node\` package's binary (${process.execPath}). Reinstall it with npm install.`),
    );
    process.exit(1);
  }
  const child = spawn(node, [self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [REEXEC_MARK]: '1' },
  });
  // The terminal sends Ctrl-C to the whole process group, child included; this
  // process must outlive the child to report its exit status, so it forwards
  // signals instead of dying on them.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of signals) process.on(signal, forward);
  child.on('error', (err) => {
    console.error(`edgefn: could not start ${node}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const s of signals) process.off(s, forward);
    if (signal !== null) {
      // Die of the same signal, so the shell sees what happened to the child.
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code === null ? 1 : code);
  });
}
