'use strict';

// Worker benchmark of Node BullMQ against a given Redis, for `cargo run --example bench_worker`.
// args: --redis-url URL --major 6|5 --queue NAME --jobs N --concurrency C --samples S
// stdout: {"impl","concurrency","jobs_per_s","worker_cpu_us","start_latency_us":{"p50","p99"},"redis":{"before","after"}}
//  - throughput: N jobs (removeOnComplete; data: the ~600-byte Sellsy event of
//    lib/bench-data.js, distinct per job) added first, then timed until a no-op worker
//    has completed them all; `redis` holds the INFO texts of a lib/redis-meter.js meter
//    started before the worker and finished once it has completed them all, from which
//    the caller works out Redis' script time and CPU per job (examples/bench_cost.rs);
//    `worker_cpu_us` is this process's CPU (user + system, process.cpuUsage) over the
//    same phase, per job, in µs;
//  - start latency: with the worker idle, S jobs added one at a time, each timed from
//    just before the add to the start of its processing.

const { load, connectionFromUrl, version, fail } = require('./lib/bullmq');
const { event } = require('./lib/bench-data');
const { startMeter } = require('./lib/redis-meter');

function parseArgs(argv) {
  const args = { redisUrl: 'redis://127.0.0.1:6379', major: 6, queue: 'bench-worker', jobs: 20000, concurrency: 1, samples: 200 };
  const names = { '--redis-url': 'redisUrl', '--major': 'major', '--queue': 'queue', '--jobs': 'jobs', '--concurrency': 'concurrency', '--samples': 'samples' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key) throw new Error(`unknown flag ${argv[i]}`);
    args[key] = key === 'redisUrl' || key === 'queue' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return args;
}

const percentile = (sorted, p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { Queue, Worker } = load(args.major);
  const connection = connectionFromUrl(args.redisUrl);
  const queue = new Queue(args.queue, { connection });

  for (let i = 0; i < args.jobs; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(args.jobs, i + 1000); j++) batch.push({ name: 'n', data: event(j), opts: { removeOnComplete: true } });
    await queue.addBulk(batch);
  }
  const meter = await startMeter(connection);
  let completed = 0;
  let allDone;
  const done = new Promise((resolve) => (allDone = resolve));
  let startedAt = null;
  const started = new Map();
  const worker = new Worker(
    args.queue,
    async (job) => {
      if (job.data.sample !== undefined) started.set(job.data.sample, process.hrtime.bigint());
    },
    { connection, concurrency: args.concurrency, drainDelay: 5 },
  );
  worker.on('completed', () => {
    completed += 1;
    if (completed === args.jobs) allDone();
  });
  startedAt = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  await done;
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const redis = await meter.finish();

  // Let the worker go idle (blocked on the marker) before each latency sample.
  const latencies = [];
  for (let s = 0; s < args.samples; s++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = process.hrtime.bigint();
    await queue.add('sample', { sample: s }, { removeOnComplete: true });
    while (!started.has(s)) await new Promise((resolve) => setImmediate(resolve));
    latencies.push(Number(started.get(s) - before) / 1e3);
  }
  latencies.sort((a, b) => a - b);
  await worker.close();
  await queue.close();
  process.stdout.write(
    JSON.stringify({
      impl: `node-bullmq-${version(args.major)}`,
      concurrency: args.concurrency,
      jobs_per_s: args.jobs / seconds,
      worker_cpu_us: (cpu.user + cpu.system) / Math.max(1, args.jobs),
      start_latency_us: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      redis,
    }) + '\n',
  );
  process.exit(0);
}

main().catch(fail);
