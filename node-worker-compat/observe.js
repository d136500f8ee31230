'use strict';

// Watches a queue the way a Node application does, for the Rust tests: QueueEvents for
// the events, then Job.getState for every job seen.
//
// stdin:  {"redisUrl","major","prefix","queue","until","timeoutMs"}
// stdout: "ready" once listening, then one JSON line
//         {"events":[{event, jobId, ...fields}], "states":{jobId: state}}
//         after `until` completed + failed events.

const { load, connectionFromUrl, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

async function main() {
  const input = await readStdinJson();
  const { Queue, QueueEvents } = load(input.major);
  const connection = connectionFromUrl(input.redisUrl);
  const events = new QueueEvents(input.queue, { connection, prefix: input.prefix });
  const queue = new Queue(input.queue, { connection, prefix: input.prefix });
  await events.waitUntilReady();
  await queue.waitUntilReady();

  const seen = [];
  let finals = 0;
  const done = new Promise((resolve) => {
    const record = (event) => (args) => {
      seen.push({ event, ...args });
      if (event === 'completed' || event === 'failed') {
        finals += 1;
        if (finals >= input.until) resolve();
      }
    };
    for (const event of ['active', 'completed', 'failed', 'progress', 'retries-exhausted']) {
      events.on(event, record(event));
    }
  });
  // QueueEvents reads from the stream's end: say when it is listening.
  process.stdout.write('ready\n');

  const timer = setTimeout(() => fail(new Error(`timeout; saw ${JSON.stringify(seen)}`)), input.timeoutMs || 20000);
  await done;
  clearTimeout(timer);
  const states = {};
  for (const { jobId } of seen) {
    const job = await queue.getJob(jobId);
    states[jobId] = job ? await job.getState() : 'missing';
  }
  await events.close();
  await queue.close();
  printAndExit({ events: seen, states }, 0);
}

main().catch(fail);
