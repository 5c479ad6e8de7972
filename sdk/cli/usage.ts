// Help text, one block per command. args.ts attaches the matching block to
// every usage error so a mistyped flag shows the flags that do exist.

export const COMMANDS = ['deploy', 'list', 'delete', 'logs', 'tail', 'regions', 'versions', 'rollback', 'dev', 'trigger', 'kv'] as const;
export type CommandName = (typeof COMMANDS)[number];

const CONNECTION = `Connection:
  --api <url>              control API address (env EDGEFN_API, default http://127.0.0.1:8081)
  --token <token>          API token (env EDGEFN_TOKEN; the node prints where its token
                           file is when it starts)
  -h, --help               show this help`;

export const USAGE: Record<CommandName | 'main', string> = {
  main: `Usage: edgefn <command> [options]

Commands:
  deploy <path> --name <name>   deploy a worker file or project directory; prints its URL
  list                          list deployed functions
  delete <name>                 delete a function
  logs <name>                   show a function's recent console output
  tail <name>                   follow a function's console output live
  regions                       list the cluster's regions, their health and distance
  versions <name>               list a function's stored versions and their traffic
  rollback <name> [--to <n>]    make an earlier version current again
  dev <path>                    run a worker on a local node, redeploying it on every save
  trigger <name> --cron <cron>  run a function's scheduled handler now
  kv get|put|list|delete <namespace> ...   read and write KV namespaces

Options:
  --version          print edgefn's version
  -h, --help         show this help

Run "edgefn <command> --help" for a command's options.`,

  deploy: `Usage: edgefn deploy <file-or-dir> --name <name> [--modules] [options]

Deploys a worker as function <name> and prints the URL it answers on.
<file-or-dir> is the worker's entry file, or a project directory whose entry is
package.json "main", else index.js, index.ts or src/index.ts.
TypeScript entries (.ts, .mts, .cts, .tsx) and entries that import other modules
are bundled with esbuild into one script first; others are sent as they are.
With --modules, every .js, .mjs, .wasm, .txt, .bin and .json file under the
project directory is uploaded as a module of a module set instead (node_modules
and dot-files skipped), and the node resolves imports between them:
a .wasm import is a WebAssembly.Module, .txt a string, .bin an ArrayBuffer,
.json the parsed value. The entry must then be JavaScript.

Options:
  --name <name>            function name: 1-63 of a-z, 0-9 and - (required)
  --var KEY=VALUE          a plain-text binding, visible as env.KEY (repeatable)
  --secret KEY=VALUE       a binding whose value the API never shows (repeatable);
  --secret KEY             ... or take the value from environment variable KEY,
                           which keeps it out of your shell history
  --format <format>        module (export default { fetch }, the default) or
                           service-worker (addEventListener('fetch', ...))
  --modules                upload the project's files as a module set (see above)
  --cpu-ms <n>             CPU time per request, in milliseconds
  --memory-mb <n>          isolate memory limit, in megabytes
  --wall-ms <n>            wall time per request, in milliseconds
  --concurrency <n>        requests running at once on a node (past it: 503 overloaded)
  --rps <n>                requests per second on a node (past it: 429 rate-limited)
  --websocket-wall-ms <n>  how long one WebSocket may stay open, in milliseconds
                           (past it: closed with 1011)
  --websocket-messages-per-second <n>
                           messages one WebSocket's client may send per second
                           (past it: closed with 1008)
  --region <region>        run only in this region (repeatable; default: every region
                           of the cluster, including ones added later)
  --near <url>             run in the one region, of those, measured nearest to this
                           backend (http(s) URLs timed by HEAD, others by TCP connect)
  --percent <n>            roll out gradually: the new version gets n % of requests,
                           the version current before keeps the rest (see
                           "edgefn versions"; undo with "edgefn rollback")
  --sticky-header <name>   with --percent: keep each value of this request header
                           on one version
  --sticky-cookie <name>   with --percent: the same, by the value of this cookie
  --route <pattern>        also answer on a host/path pattern such as api.example.com/*,
                           *.example.com/* or example.com/blog/* (repeatable; replaces
                           the function's routes; without --route they are kept)
  --compatibility-flag <flag>
                           a compatibility flag such as nodejs_compat (Node.js
                           built-in modules, Buffer and process; repeatable)

${CONNECTION}`,

  list: `Usage: edgefn list [options]

Lists deployed functions with their version, format and URL.

${CONNECTION}`,

  delete: `Usage: edgefn delete <name> [options]

Deletes function <name>; it stops answering at once.

${CONNECTION}`,

  regions: `Usage: edgefn regions [options]

Lists the regions of the cluster the node belongs to, as that node sees them:
its own region first, then the others nearest first, with each node's health
and the round-trip time the node measured to it.

${CONNECTION}`,

  versions: `Usage: edgefn versions <name> [options]

Lists function <name>'s stored versions (the last 100 deploys), newest first,
with the share of traffic each receives and which one is current.

${CONNECTION}`,

  rollback: `Usage: edgefn rollback <name> [--to <n>] [options]

Makes an earlier version of function <name> current again, with all of its
traffic (ending any gradual rollout). The code is not uploaded again.

Options:
  --to <n>                 the version to go to (default: the version that was
                           current before the current one)

${CONNECTION}`,

  tail: `Usage: edgefn tail <name> [--format text|json] [--since <cursor|time>] [options]

Follows function <name>'s console output and uncaught errors as they happen,
until interrupted (Ctrl-C). Each line shows its time, level, request id and
version. A dropped connection is re-opened where it left off.

Options:
  --format <format>        text (the default) or json: one JSON object a line
                           (NDJSON) with id, time, level, message, version, requestId
  --since <cursor|time>    also print the kept lines after this cursor (a line's
                           "id") or ISO 8601 time, then follow

${CONNECTION}`,

  dev: `Usage: edgefn dev <file-or-dir> [options]

Runs the worker locally on the same runtime as a node: starts a private node
(one isolate host, data in a temporary directory removed on exit), deploys the
worker to it and prints the URL to call. Every request to that address reaches
the worker, whatever its Host. The entry and every local file it imports are
watched: on each save the worker is rebundled and redeployed. Its console
output is printed here. Ctrl-C stops the node and exits.

Options:
  --port <n>               data-plane port (default 8787; 0 picks a free one)
  --name <name>            function name (default: from the file name)
  --var KEY=VALUE          a plain-text binding, visible as env.KEY (repeatable)
  --secret KEY=VALUE       a secret binding (repeatable); --secret KEY reads $KEY
  --format <format>        module (the default) or service-worker
  --cpu-ms <n>             CPU time per request, in milliseconds (default: the
                           node's, 50, as in production)
  --memory-mb <n>          isolate memory limit, in megabytes
  --wall-ms <n>            wall time per request, in milliseconds
  --no-limits              relax every budget to its maximum (for a debugger or
                           a slow first build); not combinable with the above
  --compatibility-flag <flag>
                           a compatibility flag such as nodejs_compat (repeatable)
  -h, --help               show this help`,


  trigger: `Usage: edgefn trigger <name> --cron <expression> [options]

Runs function <name>'s scheduled handler now, as cron <expression> (which must
be a valid cron expression; it need not be one of the function's triggers),
and prints the outcome. Exits 1 if the handler failed.

Options:
  --cron <expression>      e.g. "*/5 * * * *" (required)

${CONNECTION}`,

  kv: `Usage: edgefn kv <get|put|list|delete> <namespace> [key] [value] [options]

  kv get <namespace> <key>            print the value (exit 1 if there is none)
  kv put <namespace> <key> <value>    write a value (text)
  kv list <namespace>                 list keys in byte order, with expiration and metadata
  kv delete <namespace> <key>         delete a key

Options:
  --ttl <seconds>          put: expire after this many seconds (at least 60)
  --expiration <epoch-s>   put: expire at this time, in seconds since the epoch
  --metadata <json>        put: metadata stored with the key (at most 1024 bytes)
  --prefix <prefix>        list: only keys starting with <prefix>
  --limit <n>              list: at most n keys (1 to 1000, default 1000)
  --cursor <cursor>        list: continue after a previous page

${CONNECTION}`,

  logs: `Usage: edgefn logs <name> [options]

Prints function <name>'s recent console output and uncaught errors, oldest first.

${CONNECTION}`,
};
