'use strict';

// Producer benchmark of real Node BullMQ, used as the reference the Rust
// producer is compared against (`cargo run --example bench_add`).
//
// node bench-add.js --redis-url URL --major 6|5 --queue NAME --single N
//   --concurrent N --in-flight 64 --bulk-batches N --batch-size 100
//   [--data sellsy|small|listener] [--phases single,concurrent,bulk]
//
// --data: the job of every add (lib/bench-data.js, as the Rust side builds it):
//   small     {i, payload: 100 x "x"}, no options (the default);
//   sellsy    the ~600-byte Sellsy event, distinct per job, no options;
//   listener  that event with what the listener sends: jobId `sellsy-<dedup id>`,
//             deduplication {id, ttl 24 h}, removeOnComplete.
// --phases: which of the three phases run (default all): `single` adds one at a time
//   (latency p50/p99), `concurrent` keeps --in-flight adds outstanding, `bulk` sends
//   addBulk calls of --batch-size jobs.
//
// Each phase warms up, then is timed between the two ends of a lib/redis-meter.js
// meter, whose `redis` {before, after} INFO texts give the caller Redis' script time and
// CPU per job (examples/bench_cost.rs).
//
// Prints one JSON line {impl, data, single?, concurrent?, bulk?}; the queues are left in
// place (the caller owns Redis).

const { load, version, connectionFromUrl, fail } = require('./lib/bullmq');
const { event, small, dedupId } = require('./lib/bench-data');
const { startMeter } = require('./lib/redis-meter');

const WARMUP_JOBS = 200;
// Warm-up jobs are numbered from here, apart from the measured ones (0, 1, ...).
const WARMUP_BASE = 1e9;
const DEDUP_TTL_MS = 24 * 3600 * 1000;

const WORKLOADS = {
  small: (n) => ({ name: 'bench', data: small(n), opts: undefined }),
  sellsy: (n) => ({ name: 'bench', data: event(n), opts: undefined }),
  listener: (n) => ({
    name: 'event',
    data: event(n),
    opts: {
      jobId: `sellsy-${dedupId(n)}`,
      deduplication: { id: dedupId(n), ttl: DEDUP_TTL_MS },
      removeOnComplete: true,
    },
  }),
};

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
    data: 'small',
    phases: 'single,concurrent,bulk',
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
    '--data': 'data',
    '--phases': 'phases',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = keys[argv[i]];
    if (!key || i + 1 >= argv.length) throw new Error(`bad argument: ${argv[i]}`);
    const value = argv[i + 1];
    args[key] = typeof args[key] === 'number' ? Number(value) : value;
    if (Number.isNaN(args[key])) throw new Error(`${argv[i]} expects a number, got ${value}`);
  }
  if (!WORKLOADS[args.data]) throw new Error(`--data expects sellsy, small or listener, got ${args.data}`);
  args.phases = args.phases.split(',');
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

async function add(queue, job) {
  await queue.add(job.name, job.data, job.opts);
}

async function warmUp(queue, workload) {
  for (let i = 0; i < WARMUP_JOBS; i++) await add(queue, workload(WARMUP_BASE + i));
}

// (a) sequential adds, per-call latency.
async function benchSingle(queue, connection, workload, n) {
  await warmUp(queue, workload);
  const meter = await startMeter(connection);
  const latencies = new Array(n);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await add(queue, workload(i));
    latencies[i] = elapsedNs(t0);
  }
  const total = elapsedNs(start);
  const redis = await meter.finish();
  latencies.sort((a, b) => a - b);
  return {
    jobs: n,
    p50_us: round(percentile(latencies, 50) / 1e3, 1),
    p99_us: round(percentile(latencies, 99) / 1e3, 1),
    jobs_per_s: round(perSecond(n, total), 1),
    redis,
  };
}

// (b) `inFlight` async loops sharing one counter, so exactly that many adds
// are outstanding until the counter runs out.
async function benchConcurrent(queue, connection, workload, n, inFlight) {
  await warmUp(queue, workload);
  const meter = await startMeter(connection);
  let next = 0;
  const loop = async () => {
    while (next < n) {
      const i = next++;
      await add(queue, workload(i));
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, loop));
  const total = elapsedNs(start);
  const redis = await meter.finish();
  return { jobs: n, in_flight: inFlight, jobs_per_s: round(perSecond(n, total), 1), redis };
}

// (c) sequential addBulk calls of `batchSize` jobs each.
async function benchBulk(queue, connection, workload, batches, batchSize) {
  const batch = (first) => Array.from({ length: batchSize }, (_, j) => workload(first + j));
  // Warm-up through the same call, about WARMUP_JOBS jobs.
  for (let b = 0; b < Math.ceil(WARMUP_JOBS / Math.max(1, batchSize)); b++) {
    await queue.addBulk(batch(WARMUP_BASE + b * batchSize));
  }
  const meter = await startMeter(connection);
  const start = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    await queue.addBulk(batch(b * batchSize));
  }
  const total = elapsedNs(start);
  const redis = await meter.finish();
  const jobs = batches * batchSize;
  return { jobs, batch_size: batchSize, jobs_per_s: round(perSecond(jobs, total), 1), redis };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { Queue } = load(args.major);
  const connection = connectionFromUrl(args.redisUrl);
  const workload = WORKLOADS[args.data];
  const phases = {
    single: (q) => benchSingle(q, connection, workload, args.single),
    concurrent: (q) => benchConcurrent(q, connection, workload, args.concurrent, args.inFlight),
    bulk: (q) => benchBulk(q, connection, workload, args.bulkBatches, args.batchSize),
  };
  const queueNames = { single: 'single', concurrent: `c${args.inFlight}`, bulk: 'bulk' };

  const result = { impl: `node-bullmq-${version(args.major)}`, data: args.data };
  for (const phase of args.phases) {
    if (!phases[phase]) throw new Error(`--phases: unknown phase ${phase}`);
    result[phase] = await withQueue(Queue, connection, `${args.queue}-${queueNames[phase]}`, phases[phase]);
  }
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

main().catch(fail);
