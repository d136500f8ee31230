'use strict';

// Worker driven by the Rust tests: consumes jobs with real Node BullMQ until
// `expect` jobs reached a final outcome, then reports what it saw.
//
// stdin:  {"redisUrl","major","prefix","queue","concurrency","expect","timeoutMs",
//          optional "untilTotal" (stop once the whole queue, whoever processed it, has that
//          many completed + failed jobs), "lockDuration", "stalledInterval", "maxStalledCount",
//          "backoffStrategy": true for the custom strategy of the Rust tests: type "linear"
//          waits attemptsMade * data.stepMs, any other custom type fails the job (-1),
//          "metricsMaxDataPoints" to collect metrics}
// A job whose data has "sleepMs" sleeps that long first; "fail": true throws.
// stdout: {"processed":[{id,name,attemptsMade}],"completed":[ids],"failed":[ids]}

const { load, connectionFor, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

async function main() {
  const input = await readStdinJson();
  const { Worker } = load(input.major);
  const expect = input.expect;

  const processed = [];
  const completed = [];
  const failed = [];
  let done = false;

  const processor = async (job) => {
    // Recorded before anything can throw so retries show up as separate entries.
    processed.push({ id: job.id, name: job.name, attemptsMade: job.attemptsMade });
    if (job.data && job.data.sleepMs) {
      await new Promise((resolve) => setTimeout(resolve, job.data.sleepMs));
    }
    if (job.data && job.data.fail === true) {
      throw new Error('requested failure');
    }
    return job.data;
  };

  const worker = new Worker(input.queue, processor, {
    connection: connectionFor(input.redisUrl, input.cluster),
    prefix: input.prefix,
    concurrency: input.concurrency || 1,
    // Short blocking-pop timeout so close() does not wait out a long block.
    drainDelay: 1,
    ...(input.lockDuration ? { lockDuration: input.lockDuration } : {}),
    ...(input.stalledInterval ? { stalledInterval: input.stalledInterval } : {}),
    ...(input.maxStalledCount !== undefined ? { maxStalledCount: input.maxStalledCount } : {}),
    ...(input.metricsMaxDataPoints ? { metrics: { maxDataPoints: input.metricsMaxDataPoints } } : {}),
    ...(input.backoffStrategy
      ? {
          settings: {
            backoffStrategy: (attemptsMade, type, err, job) =>
              type === 'linear' ? attemptsMade * job.data.stepMs : -1,
          },
        }
      : {}),
  });
  worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));

  const report = () => ({ processed, completed, failed });

  let timer;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    worker
      .close()
      .then(() => printAndExit(report(), 0))
      .catch(fail);
  };
  const countFinal = () => {
    if (!done && input.untilTotal === undefined && completed.length + failed.length >= expect) finish();
  };
  if (input.untilTotal !== undefined) {
    // Shared queue: finish when every job is done, whichever worker ran it.
    const { Queue } = load(input.major);
    const queue = new Queue(input.queue, { connection: connectionFor(input.redisUrl, input.cluster), prefix: input.prefix });
    const poll = setInterval(async () => {
      const counts = await queue.getJobCounts('completed', 'failed');
      if (!done && counts.completed + counts.failed >= input.untilTotal) {
        clearInterval(poll);
        await queue.close();
        finish();
      }
    }, 100);
  }

  worker.on('completed', (job) => {
    if (done) return;
    completed.push(job.id);
    countFinal();
  });
  worker.on('failed', (job) => {
    // job is undefined when a stalled job hit its limit and was removed.
    if (done || !job) return;
    // A 'failed' event is emitted for every failed attempt; only the last one
    // (no retry left) is a final outcome. attemptsMade already counts this one.
    if (job.attemptsMade >= (job.opts.attempts || 1)) {
      failed.push(job.id);
      countFinal();
    }
  });

  timer = setTimeout(() => {
    if (done) return;
    done = true;
    process.stderr.write(`timeout after ${input.timeoutMs} ms: ${JSON.stringify(report())}\n`);
    // Force: do not wait for a job that may be stuck.
    worker
      .close(true)
      .catch(() => {})
      .then(() => process.exit(1));
  }, input.timeoutMs || 20000);

  // expect: 0 means there is nothing to wait for.
  countFinal();
}

main().catch(fail);
