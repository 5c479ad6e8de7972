// What the platform hands a nodejs_compat worker's bundle (runtime/webapi/node-compat.ts):
// taken once, by the first of these modules to load, and removed from the global scope.

interface NodeHost {
  env: Record<string, string>;
  callSync(op: string, payload: unknown): unknown;
}

const slot = globalThis as { __edgefn_node?: NodeHost };
const given = slot.__edgefn_node;
delete slot.__edgefn_node;

/** Text bindings (vars and secrets) for process.env; empty when the platform gave none. */
export const bindings: Record<string, string> = given?.env ?? {};

/** A synchronous host operation for these modules (node:crypto's hashes). */
export function callSync(op: string, payload: unknown): unknown {
  if (given === undefined) throw new Error('edgefn: Node.js compatibility host operations are unavailable (the function was not deployed with the nodejs_compat flag)');
  return given.callSync(op, payload);
}
