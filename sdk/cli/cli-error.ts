// Failures the CLI itself detects. Control-API failures arrive as
// EdgefnApiError instead; run.ts turns both into a message and an exit code.

export const CLI_ERROR_CODES = [
  'ERR_USAGE', // the command line is malformed; exit 2 and show the command's usage
  'ERR_NO_TOKEN', // no --token and no EDGEFN_TOKEN
  'ERR_READ_ENTRY', // the worker file cannot be read
  'ERR_BUNDLE', // esbuild could not bundle the worker
  'ERR_DEV_NODE', // edgefn dev's local node could not start, or stopped under it
  'ERR_TRIGGER_FAILED', // `edgefn trigger`: the scheduled handler ran and failed
  'ERR_KV_NOT_FOUND', // `edgefn kv get`: the key does not exist
] as const;

export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

export class CliError extends Error {
  readonly code: CliErrorCode;
  /** For ERR_USAGE: the usage text of the command the user was typing. */
  readonly usage: string | undefined;
  /** The subcommand being run (`deploy`), for the `edgefn deploy: …` prefix. */
  readonly command: string | undefined;
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown; usage?: string; command?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
    this.usage = options?.usage;
    this.command = options?.command;
  }

  /** 2 for a malformed command line, 1 for everything else (the shell convention grep and curl follow). */
  get exitCode(): 1 | 2 {
    return this.code === 'ERR_USAGE' ? 2 : 1;
  }
}
