// `npm start`: one whole node on its embedded defaults.

import { loadConfig } from './config.ts';
import { EdgeNode } from './node.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const node = new EdgeNode(config);
  const a = await node.start();
  process.stdout.write(
    [
      `edgefn node ready (${config.hosts} isolate host${config.hosts === 1 ? '' : 's'}, snapshot path: ${node.supervisor.snapshotPath})`,
      `  data plane:  ${a.dataUrl}   (function <name> answers at http://<name>.${config.baseDomain}:${new URL(a.dataUrl).port}/)`,
      `  control API: ${a.apiUrl}`,
      `  admin token: ${a.tokenFile ?? 'from EDGEFN_TOKEN'}`,
      `  data:        ${config.dataDir}`,
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`edgefn: ${signal}, shutting down\n`);
    node.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Started by another process with an IPC channel (edgefn dev): the node
  // does not outlive it, even one that was killed outright.
  if (process.connected) process.once('disconnect', () => stop('parent gone'));
}

main().catch((err: unknown) => {
  process.stderr.write(`edgefn failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
