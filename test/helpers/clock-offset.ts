// Preloaded into a node under test (NODE_OPTIONS=--import) to step its wall
// clock: Date.now() returns the real time plus the offset (ms) written in the
// file named by EDGEFN_TEST_CLOCK_FILE, read every 50 ms. Test harness only:
// the product has no such hook. Forked isolate hosts inherit NODE_OPTIONS, so
// every process of the node steps together, as they would on a real clock
// step.
import { readFileSync } from 'node:fs';

const file = process.env['EDGEFN_TEST_CLOCK_FILE'];
if (file !== undefined) {
  let offset = 0;
  const read = () => {
    try {
      offset = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      offset = 0;
    }
  };
  read();
  setInterval(read, 50).unref();
  const real = Date.now.bind(Date);
  Date.now = () => real() + offset;
}
