'use strict';

// Producer driven by the Rust tests: runs a list of Queue operations with real
// Node BullMQ and reports the resulting job ids.
//
// stdin:  {"redisUrl","major","prefix","queue","cluster"?,"steps":[{"op":"add"|"addBulk"|"pause"|"resume"|"clean"|"sleep",...}]}
//         clean: {"graceMs","limit","state"}; state "waiting" cleans 'wait', then the
//         'paused' list if it exists, with what is left of the limit.
//         ("cluster": true: redisUrl is a node of a Redis Cluster)
// stdout: one JSON line, an array with one entry per step.

const { load, connectionFor, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runStep(queue, step) {
  switch (step.op) {
    case 'add':
      try {
        // data/opts are passed through untouched: key order is part of what the
        // tests compare against.
        const job = await queue.add(step.name, step.data, step.opts);
        return String(job.id);
      } catch (err) {
        return { error: err.message };
      }
    case 'addBulk':
      try {
        const jobs = await queue.addBulk(step.jobs);
        return jobs.map((job) => String(job.id));
      } catch (err) {
        return { error: err.message };
      }
    case 'pause':
      await queue.pause();
      return null;
    case 'resume':
      await queue.resume();
      return null;
    case 'clean':
      return clean(queue, step);
    case 'sleep':
      await sleep(step.ms);
      return null;
    default:
      throw new Error(`unknown step op: ${JSON.stringify(step.op)}`);
  }
}

async function clean(queue, { graceMs, limit, state }) {
  if (state !== 'waiting') return queue.clean(graceMs, limit, state);
  const ids = await queue.clean(graceMs, limit, 'wait');
  const rest = limit === 0 ? 0 : limit - ids.length;
  // BullMQ 6 keeps its client on the backend.
  const client = await (queue.backend ? queue.backend.client : queue.client);
  if ((limit === 0 || rest > 0) && (await client.exists(queue.toKey('paused')))) {
    ids.push(...(await queue.clean(graceMs, rest, 'paused')));
  }
  return ids;
}

async function main() {
  const input = await readStdinJson();
  const { Queue } = load(input.major);
  const queue = new Queue(input.queue, {
    connection: connectionFor(input.redisUrl, input.cluster),
    prefix: input.prefix,
  });
  // Without a listener, a connection error would crash the process as an
  // unhandled 'error' event; report it and let the failing call surface it.
  queue.on('error', (err) => process.stderr.write(`queue error: ${err.message}\n`));
  await queue.waitUntilReady();

  const results = [];
  for (const step of input.steps || []) {
    results.push(await runStep(queue, step));
  }

  await queue.close();
  printAndExit(results, 0);
}

main().catch(fail);
