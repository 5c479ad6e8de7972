import { describe, expect, it } from 'vitest';
import { DEFAULT_API, parseCommandLine, type Command, type Env } from '../../../sdk/cli/args.ts';
import { CliError } from '../../../sdk/cli/cli-error.ts';
import { USAGE } from '../../../sdk/cli/usage.ts';

const ENV: Env = { EDGEFN_TOKEN: 'env-token' };

function usageError(argv: string[], env: Env = ENV): CliError {
  try {
    parseCommandLine(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).code).toBe('ERR_USAGE');
    expect((err as CliError).exitCode).toBe(2);
    return err as CliError;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

function deploy(argv: string[], env: Env = ENV): Extract<Command, { kind: 'deploy' }> {
  const command = parseCommandLine(['deploy', ...argv], env);
  if (command.kind !== 'deploy') throw new Error(`parsed as ${command.kind}`);
  return command;
}

describe('parseCommandLine', () => {
  it('parses the admission limits of a deploy', () => {
    expect(deploy(['w.ts', '--name', 'a', '--concurrency', '4', '--rps=100']).limits).toEqual({ concurrency: 4, rps: 100 });
    expect(deploy(['w.ts', '--name', 'a', '--websocket-wall-ms', '60000', '--websocket-messages-per-second=20']).limits).toEqual({ websocketWallMs: 60_000, websocketMessagesPerSecond: 20 });
  });

  it('parses a full deploy command line', () => {
    const c = deploy(['src/w.ts', '--name', 'hello', '--var', 'A=1', '--var=B=x=y', '--secret', 'K=s', '--format', 'service-worker', '--cpu-ms', '20', '--memory-mb=64', '--wall-ms', '1500']);
    expect(c).toEqual({
      kind: 'deploy',
      connection: { api: DEFAULT_API, token: 'env-token' },
      path: 'src/w.ts',
      modules: false,
      name: 'hello',
      format: 'service-worker',
      vars: { A: '1', B: 'x=y' },
      secrets: { K: 's' },
      limits: { cpuMs: 20, memoryMb: 64, wallMs: 1500 },
      regions: [],
      near: undefined,
    });
  });

  it('takes --api and --token over EDGEFN_API and EDGEFN_TOKEN, which beat the default', () => {
    const env = { EDGEFN_API: 'http://10.0.0.1:9000', EDGEFN_TOKEN: 'from-env' };
    expect(parseCommandLine(['list'], env)).toEqual({ kind: 'list', connection: { api: 'http://10.0.0.1:9000', token: 'from-env' } });
    expect(parseCommandLine(['list', '--api', 'https://edge.example', '--token', 'flag'], env)).toEqual({
      kind: 'list',
      connection: { api: 'https://edge.example', token: 'flag' },
    });
    expect(parseCommandLine(['list'], { EDGEFN_TOKEN: '' })).toEqual({ kind: 'list', connection: { api: DEFAULT_API, token: undefined } });
  });

  it('takes --compatibility-flag more than once, for deploy and dev', () => {
    expect(deploy(['w.js', '--name', 'a', '--compatibility-flag', 'nodejs_compat', '--compatibility-flag=nodejs_compat_do_not_populate_process_env']).compatibilityFlags).toEqual(['nodejs_compat', 'nodejs_compat_do_not_populate_process_env']);
    expect(deploy(['w.js', '--name', 'a']).compatibilityFlags).toBeUndefined();
    const dev = parseCommandLine(['dev', 'w.js', '--compatibility-flag', 'nodejs_compat'], ENV);
    expect(dev.kind === 'dev' ? dev.compatibilityFlags : undefined).toEqual(['nodejs_compat']);
  });

  it('takes --region more than once, and names a bad region', () => {
    expect(deploy(['w.js', '--name', 'a', '--region', 'eu-west', '--region', 'us-east']).regions).toEqual(['eu-west', 'us-east']);
    expect(usageError(['deploy', 'w.js', '--name', 'a', '--region', 'EU West']).message).toBe('--region "EU West" is not a region name: use 1 to 63 characters of a-z, 0-9 and -');
    expect(parseCommandLine(['regions'], ENV)).toEqual({ kind: 'regions', connection: { api: DEFAULT_API, token: 'env-token' } });
  });

  it('reads a bare --secret KEY from the environment variable KEY', () => {
    expect(deploy(['w.js', '--name', 'a', '--secret', 'API_KEY'], { ...ENV, API_KEY: 'hunter2' }).secrets).toEqual({ API_KEY: 'hunter2' });
    expect(usageError(['deploy', 'w.js', '--name', 'a', '--secret', 'API_KEY']).message).toBe(
      '--secret API_KEY: no "=" and no environment variable API_KEY to take the value from',
    );
  });

  it('parses delete and logs with their name', () => {
    expect(parseCommandLine(['delete', 'hello'], ENV)).toMatchObject({ kind: 'delete', name: 'hello' });
    expect(parseCommandLine(['logs', 'hello'], ENV)).toMatchObject({ kind: 'logs', name: 'hello' });
  });

  it('answers --help, -h and help <cmd> with the right usage, even on a broken line', () => {
    expect(parseCommandLine(['--help'], {})).toEqual({ kind: 'help', text: USAGE.main });
    expect(parseCommandLine(['-h'], {})).toEqual({ kind: 'help', text: USAGE.main });
    expect(parseCommandLine(['help'], {})).toEqual({ kind: 'help', text: USAGE.main });
    expect(parseCommandLine(['help', 'logs'], {})).toEqual({ kind: 'help', text: USAGE.logs });
    expect(parseCommandLine(['deploy', '--help'], {})).toEqual({ kind: 'help', text: USAGE.deploy });
    expect(parseCommandLine(['deploy', '--nme', 'x', '-h'], {})).toEqual({ kind: 'help', text: USAGE.deploy });
    expect(parseCommandLine(['--version'], {})).toEqual({ kind: 'version' });
  });

  it('rejects an unknown flag, naming it and attaching the command usage', () => {
    const err = usageError(['deploy', 'w.ts', '--nme', 'hello']);
    expect(err.message).toBe('unknown option --nme');
    expect(err.command).toBe('deploy');
    expect(err.usage).toBe(USAGE.deploy);
    expect(usageError(['list', '-x']).message).toBe('unknown option -x');
    expect(usageError(['list', '--name', 'a']).message).toBe('unknown option --name');
  });

  it.each([
    [[], 'no command given'],
    [['deplyo'], 'unknown command "deplyo"'],
    [['--token', 't', 'list'], 'option --token must follow a command'],
    [['help', 'nope'], 'unknown command "nope"'],
    [['deploy', '--name', 'a'], 'missing <path>'],
    [['deploy', 'w.ts'], 'missing --name <name>'],
    [['deploy', 'w.ts', '--name'], '--name needs a value'],
    [['deploy', 'w.ts', '--name', '--var', 'A=1'], '--name needs a value'],
    [['deploy', 'w.ts', 'x.ts', '--name', 'a'], 'unexpected argument "x.ts"'],
    [['deploy', 'w.ts', '--name', 'a', '--name', 'b'], '--name given more than once'],
    [['deploy', 'w.ts', '--name', 'Hello'], 'invalid function name "Hello": use 1 to 63 lowercase letters, digits and hyphens'],
    [['deploy', 'w.ts', '--name', 'a', '--format', 'cjs'], '--format must be module or service-worker, got "cjs"'],
    [['deploy', 'w.ts', '--name', 'a', '--var', 'A'], '--var needs KEY=VALUE, got "A"'],
    [['deploy', 'w.ts', '--name', 'a', '--var', '=1'], '--var needs KEY=VALUE with a non-empty KEY, got "=1"'],
    [['deploy', 'w.ts', '--name', 'a', '--var', 'A=1', '--var', 'A=2'], '--var A given more than once'],
    [['deploy', 'w.ts', '--name', 'a', '--var', 'A=1', '--secret', 'A=2'], 'A is given as both --var and --secret'],
    [['deploy', 'w.ts', '--name', 'a', '--cpu-ms', 'fast'], '--cpu-ms must be a positive number, got "fast"'],
    [['deploy', 'w.ts', '--name', 'a', '--wall-ms', '0'], '--wall-ms must be a positive number, got "0"'],
    [['deploy', 'w.ts', '--name', 'a', '--memory-mb='], '--memory-mb must be a positive number, got ""'],
    [['deploy', 'w.ts', '--name', 'a', '--help=yes'], '--help takes no value'],
    [['delete'], 'missing <name>'],
    [['logs', 'a', 'b'], 'unexpected argument "b"'],
    [['list', '--api', 'localhost:8081'], 'the API address must be an http(s) URL like http://127.0.0.1:8081, got "localhost:8081"'],
  ])('rejects %j with "%s"', (argv, message) => {
    expect(usageError(argv).message).toBe(message);
  });
});
