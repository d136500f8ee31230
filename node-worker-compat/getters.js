'use strict';

// Queue getters driven by the Rust tests: runs a list of read calls with real Node
// BullMQ and reports what each returned, in plain JSON the tests compare with ours.
//
// stdin:  {"redisUrl","major","prefix","queue","cluster"?,"calls":[{"op",...}]}
//         ops: getJobs {types,start,end,asc} -> [[id, name], ...] (a missing job, which
//              BullMQ 5 returns as undefined, is left out)
//              getJobCounts {types} -> {type: count}; count -> n
//              getJobLogs {id,start,end,asc} -> {logs,count}
//              getJobState {id} -> state name
//              asJSON {types,start,end,asc} -> [job.asJSON(), ...] of getJobs' jobs
//              getDeduplicationJobId {id}; isMaxed; getMeta; getVersion;
//              getRateLimitTtl {maxJobs?}; getGlobalConcurrency; getGlobalRateLimit
//         or, with "workers": [{"name"?}, ...], start those workers, print "ready", wait
//         until key <prefix>:<queue>:getters-done exists, then print getWorkers().
//         ("cluster": true: redisUrl is a node of a Redis Cluster)
// stdout: one JSON line, an array with one entry per call (or the worker list).

const { load, connectionFor, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runCall(queue, call) {
  switch (call.op) {
    case 'getJobs': {
      const jobs = await queue.getJobs(call.types, call.start, call.end, call.asc);
      return jobs.filter(Boolean).map((job) => [String(job.id), job.name]);
    }
    case 'getJobCounts':
      return queue.getJobCounts(...call.types);
    case 'count':
      return queue.count();
    case 'getJobLogs':
      return queue.getJobLogs(call.id, call.start, call.end, call.asc);
    case 'getJobState':
      return queue.getJobState(call.id);
    case 'asJSON': {
      const jobs = await queue.getJobs(call.types, call.start, call.end, call.asc);
      return jobs.filter(Boolean).map((job) => job.asJSON());
    }
    case 'getDeduplicationJobId':
      return queue.getDeduplicationJobId(call.id);
    case 'isMaxed':
      return queue.isMaxed();
    case 'getMeta':
      return queue.getMeta();
    case 'getVersion':
      return queue.getVersion();
    case 'getRateLimitTtl':
      return queue.getRateLimitTtl(call.maxJobs);
    case 'getGlobalConcurrency':
      return queue.getGlobalConcurrency();
    case 'getGlobalRateLimit':
      return queue.getGlobalRateLimit();
    default:
      throw new Error(`unknown call: ${JSON.stringify(call.op)}`);
  }
}

async function serveWorkers(bullmq, input, queue) {
  const workers = input.workers.map(
    (opts) =>
      new bullmq.Worker(input.queue, async () => null, {
        connection: connectionFor(input.redisUrl, input.cluster),
        prefix: input.prefix,
        ...(opts.name ? { name: opts.name } : {}),
      }),
  );
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  while ((await queue.getWorkers()).length < workers.length) await sleep(20);
  process.stdout.write('ready\n');
  // BullMQ 6 keeps its client on the backend.
  const client = await (queue.backend ? queue.backend.client : queue.client);
  const done = `${input.prefix}:${input.queue}:getters-done`;
  while (!(await client.exists(done))) await sleep(20);
  const list = await queue.getWorkers();
  await Promise.all(workers.map((worker) => worker.close(true)));
  return list;
}

async function main() {
  const input = await readStdinJson();
  const bullmq = load(input.major);
  const queue = new bullmq.Queue(input.queue, {
    connection: connectionFor(input.redisUrl, input.cluster),
    prefix: input.prefix,
  });
  queue.on('error', (err) => process.stderr.write(`queue error: ${err.message}\n`));
  await queue.waitUntilReady();

  let results;
  if (input.workers) {
    results = await serveWorkers(bullmq, input, queue);
  } else {
    results = [];
    for (const call of input.calls) results.push(await runCall(queue, call));
  }
  await queue.close();
  printAndExit(results, 0);
}

main().catch(fail);
