// Cluster settings from the environment: defaults, and a message naming the
// variable for each bad value.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../router/config.ts';

describe('loadConfig: cluster settings', () => {
  it('defaults to a standalone node in region local', () => {
    expect(loadConfig({})).toMatchObject({ region: 'local', databaseUrl: undefined, advertiseUrl: undefined });
  });

  it('reads region, database and advertise URL', () => {
    expect(loadConfig({ EDGEFN_REGION: 'eu-west', EDGEFN_DATABASE_URL: 'postgres://u@db:5432/edgefn', EDGEFN_ADVERTISE_URL: 'http://10.0.1.5:8080/' })).toMatchObject({
      region: 'eu-west',
      databaseUrl: 'postgres://u@db:5432/edgefn',
      advertiseUrl: 'http://10.0.1.5:8080',
    });
  });

  it.each([
    [{ EDGEFN_REGION: 'EU West' }, /^EDGEFN_REGION must be 1 to 63 characters of a-z, 0-9 and -, got "EU West"$/],
    [{ EDGEFN_DATABASE_URL: 'mysql://db/x' }, /^EDGEFN_DATABASE_URL must be a postgres: or postgresql: URL/],
    [{ EDGEFN_DATABASE_URL: 'not a url' }, /^EDGEFN_DATABASE_URL must be a URL, got "not a url"$/],
    [{ EDGEFN_ADVERTISE_URL: 'https://x:8080' }, /^EDGEFN_ADVERTISE_URL must be a http: URL/],
    [{ EDGEFN_DATABASE_URL: 'postgres://db/x', EDGEFN_LISTEN: '0.0.0.0' }, /^EDGEFN_ADVERTISE_URL is required in a cluster when EDGEFN_LISTEN is 0\.0\.0\.0/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('loadConfig: admission limits', () => {
  it('defaults to no per-function limits and 512 connections per client', () => {
    const config = loadConfig({});
    expect(config.limits).toMatchObject({ concurrency: 0, rps: 0 });
    expect(config.maxConnectionsPerClient).toBe(512);
  });

  it('reads the node defaults for functions and the per-client connection cap', () => {
    const config = loadConfig({ EDGEFN_FUNCTION_CONCURRENCY: '100', EDGEFN_FUNCTION_RPS: '1000', EDGEFN_MAX_CONNECTIONS_PER_CLIENT: '0' });
    expect(config.limits).toMatchObject({ concurrency: 100, rps: 1000, cpuMs: 50 });
    expect(config.maxConnectionsPerClient).toBe(0);
  });

  it.each([
    [{ EDGEFN_FUNCTION_CONCURRENCY: '-1' }, /^EDGEFN_FUNCTION_CONCURRENCY must be an integer from 0 to 10000, got "-1"$/],
    [{ EDGEFN_FUNCTION_RPS: '2.5' }, /^EDGEFN_FUNCTION_RPS must be an integer from 0 to 100000, got "2\.5"$/],
    [{ EDGEFN_MAX_CONNECTIONS_PER_CLIENT: 'lots' }, /^EDGEFN_MAX_CONNECTIONS_PER_CLIENT must be an integer from 0 to 1000000, got "lots"$/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('loadConfig: WebSockets', () => {
  it('defaults to an hour per socket, 1 MiB messages and 4 MiB unsent', () => {
    expect(loadConfig({}).webSocket).toEqual({ wallMs: 3_600_000, maxMessageBytes: 1024 * 1024, maxBufferedBytes: 4 * 1024 * 1024 });
  });

  it('reads the three settings', () => {
    expect(loadConfig({ EDGEFN_WEBSOCKET_WALL_MS: '60000', EDGEFN_WEBSOCKET_MAX_MESSAGE_BYTES: '65536', EDGEFN_WEBSOCKET_BUFFER_BYTES: '1048576' }).webSocket).toEqual({ wallMs: 60_000, maxMessageBytes: 65_536, maxBufferedBytes: 1_048_576 });
  });

  it('makes the wall time and the message rate the node defaults of limits.websocketWallMs and limits.websocketMessagesPerSecond', () => {
    expect(loadConfig({}).limits).toMatchObject({ websocketWallMs: 3_600_000, websocketMessagesPerSecond: 0 });
    expect(loadConfig({ EDGEFN_WEBSOCKET_WALL_MS: '60000', EDGEFN_WEBSOCKET_MESSAGES_PER_SECOND: '200' }).limits).toMatchObject({ websocketWallMs: 60_000, websocketMessagesPerSecond: 200 });
  });

  it.each([
    [{ EDGEFN_WEBSOCKET_MESSAGES_PER_SECOND: '-1' }, /^EDGEFN_WEBSOCKET_MESSAGES_PER_SECOND must be an integer from 0 to 100000, got "-1"$/],
    [{ EDGEFN_WEBSOCKET_WALL_MS: '10' }, /^EDGEFN_WEBSOCKET_WALL_MS must be an integer from 1000 to/],
    [{ EDGEFN_WEBSOCKET_MAX_MESSAGE_BYTES: '1.5' }, /^EDGEFN_WEBSOCKET_MAX_MESSAGE_BYTES must be an integer/],
    [{ EDGEFN_WEBSOCKET_BUFFER_BYTES: 'lots' }, /^EDGEFN_WEBSOCKET_BUFFER_BYTES must be an integer/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
