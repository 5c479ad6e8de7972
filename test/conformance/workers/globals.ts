// Lists the global scope's properties (own and inherited), so the suite can diff edgefn's
// globals against workerd's.
export default {
  fetch(): Response {
    // workerd keeps most globals on the global scope's prototype chain
    // (ServiceWorkerGlobalScope.prototype…), so walk it like `name in globalThis` would.
    const seen = new Set<string>();
    for (let o: object | null = globalThis; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const n of Object.getOwnPropertyNames(o)) if (n !== 'constructor') seen.add(n);
    }
    const names = [...seen].sort();
    const kinds: Record<string, string> = {};
    for (const n of names) kinds[n] = typeof (globalThis as unknown as Record<string, unknown>)[n];
    return Response.json({ names, kinds });
  },
};
