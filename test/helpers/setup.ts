// Fails a test file that leaves an edgefn node running, and says which.
import { afterAll } from 'vitest';
import { liveNodes } from './node.ts';

afterAll(async () => {
  const leaked = [...liveNodes];
  await Promise.all(leaked.map((n) => n.close()));
  if (leaked.length > 0) throw new Error(`${leaked.length} edgefn node(s) were not closed by this test file (data dirs: ${leaked.map((n) => n.dataDir).join(', ')})`);
});
