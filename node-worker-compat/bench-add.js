'use strict';

// Producer benchmark of real Node BullMQ, used as the reference the Rust
// producer is compared against.
//
// node bench-add.js --redis-url URL --major 6|5 --queue NAME --single N
//   --concurrent N --in-flight 64 --bulk-batches N --batch-size 100
//
// Prints one JSON line; the queues are left in place (the caller owns Redis).

const { load, version, connectionFromUrl, fail } = require('./lib/bullmq');

const WARMUP_JOBS = 200;
const PAYLOAD = 'x'.repeat(100);

function parseArgs(argv) {
  const args = {
    redisUrl: 'redis://127.0.0.1:6379/0',
    major: 6,
    queue: 'bench',
    single: 10000,
    concurrent: 10000,
    inFlight: 64,
    bulkBatches: 100,
    batchSize: 100,
  };
  const keys = {
    '--redis-url': 'redisUrl',
    '--major': 'major',
    '--queue': 'queue',
    '--single': 'single',
    '--concurrent': 'concurrent',
    '--in-flight': 'inFlight',
    '--bulk-batches': 'bulkBatches',
    '--batch-size': 'batchSize',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = keys[argv[i]];
    if (!key || i + 1 >= argv.length) throw new Error(`bad argument: ${argv[i]}`);
    const value = argv[i + 1];
    args[key] = typeof args[key] === 'number' ? Number(value) : value;
    if (Number.isNaN(args[key])) throw new Error(`${argv[i]} expects a number, got ${value}`);
  }
  return args;
}

// Elapsed time since `start` (a bigint from hrtime) in nanoseconds, as a Number.
// Differences are far below 2^53 ns (~104 days), so the conversion is exact.
const elapsedNs = (start) => Number(process.hrtime.bigint() - start);

const perSecond = (count, ns) => (ns > 0 ? count / (ns / 1e9) : 0);

// Nearest-rank percentile over an ascending-sorted array.
function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

const round = (x, digits) => Number(x.toFixed(digits));

async function withQueue(Queue, connection, name, fn) {
  const queue = new Queue(name, { connection });
  queue.on('error', (err) => process.stderr.write(`queue error: ${err.message}\n`));
  await queue.waitUntilReady();
  try {
    return await fn(queue);
  } finally {
    await queue.close();
  }
}

async function warmUp(queue) {
  for (let i = 0; i < WARMUP_JOBS; i++) {
    await queue.add('warmup', { i, payload: PAYLOAD });
  }
}

// (a) sequential adds, per-call latency.
async function benchSingle(queue, n) {
  await warmUp(queue);
  const latencies = new Array(n);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await queue.add('bench', { i, payload: PAYLOAD });
    latencies[i] = elapsedNs(t0);
  }
  const total = elapsedNs(start);
  latencies.sort((a, b) => a - b);
  return {
    p50_us: round(percentile(latencies, 50) / 1e3, 1),
    p99_us: round(percentile(latencies, 99) / 1e3, 1),
    ops_per_s: round(perSecond(n, total), 1),
  };
}

// (b) `inFlight` async loops sharing one counter, so exactly that many adds
// are outstanding until the counter runs out.
async function benchConcurrent(queue, n, inFlight) {
  await warmUp(queue);
  let next = 0;
  const loop = async () => {
    while (next < n) {
      const i = next++;
      await queue.add('bench', { i, payload: PAYLOAD });
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, loop));
  const total = elapsedNs(start);
  return { in_flight: inFlight, ops_per_s: round(perSecond(n, total), 1) };
}

// (c) sequential addBulk calls of `batchSize` jobs each.
async function benchBulk(queue, batches, batchSize) {
  const batch = (b) =>
    Array.from({ length: batchSize }, (_, j) => ({
      name: 'bench',
      data: { i: b * batchSize + j, payload: PAYLOAD },
    }));
  // Warm-up through the same call, about WARMUP_JOBS jobs.
  for (let b = 0; b < Math.ceil(WARMUP_JOBS / Math.max(1, batchSize)); b++) {
    await queue.addBulk(batch(b));
  }
  const start = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    await queue.addBulk(batch(b));
  }
  const total = elapsedNs(start);
  return { batch_size: batchSize, jobs_per_s: round(perSecond(batches * batchSize, total), 1) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { Queue } = load(args.major);
  const connection = connectionFromUrl(args.redisUrl);

  const single = await withQueue(Queue, connection, `${args.queue}-single`, (q) =>
    benchSingle(q, args.single),
  );
  const concurrent = await withQueue(Queue, connection, `${args.queue}-c${args.inFlight}`, (q) =>
    benchConcurrent(q, args.concurrent, args.inFlight),
  );
  const bulk = await withQueue(Queue, connection, `${args.queue}-bulk`, (q) =>
    benchBulk(q, args.bulkBatches, args.batchSize),
  );

  const result = { impl: `node-bullmq-${version(args.major)}`, single, concurrent, bulk };
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

main().catch(fail);
