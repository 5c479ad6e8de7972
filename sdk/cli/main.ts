// Entry point of the edgefn command, loaded by edgefn.js once it runs on Node 24+.

import { run } from './run.ts';

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
