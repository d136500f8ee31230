'use strict';

// Redis' cost of a benchmark phase, read from the server itself on a connection of its
// own: CONFIG RESETSTAT and INFO cpu when the phase starts, INFO commandstats and INFO
// cpu when it ends. The texts go back to the Rust side, which works out the script time
// and CPU per job (examples/bench_cost.rs) as it does for its own phases.

const Redis = require('ioredis');

/** Resets Redis' statistics; `finish()` returns {before, after}, the INFO texts. */
async function startMeter(connection) {
  const admin = new Redis(connection);
  await admin.config('RESETSTAT');
  const before = await admin.info('cpu');
  return {
    async finish() {
      const after = (await admin.info('commandstats')) + (await admin.info('cpu'));
      await admin.quit();
      return { before, after };
    },
  };
}

module.exports = { startMeter };
