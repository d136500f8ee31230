'use strict';

// Job schedulers driven by the Rust tests: runs Queue scheduler operations (and, to serve
// them, a Worker for a while) with real Node BullMQ, and reports what each step returned.
//
// stdin:  {"redisUrl","major","prefix","queue","steps":[
//            {"op":"upsert","id","repeat","template"?}   -> the scheduled job's id, or null
//            {"op":"remove","id"}                         -> true / false
//            {"op":"get","id"}                            -> Queue.getJobScheduler (or null)
//            {"op":"list","start","end","asc"}            -> Queue.getJobSchedulers
//            {"op":"work","ms"}  a Worker (returning job.data) runs for ms  -> ids completed
//            {"op":"next","pattern","tz"?,"millis","startDate"?,"endDate"?}
//                 -> BullMQ's own next run time for a cron pattern (its defaultRepeatStrategy)
//            {"op":"pause"} / {"op":"resume"}               -> null
//            {"op":"sleep","ms"}]}
// stdout: one JSON line, an array with one entry per step. A step that throws reports
//         {"error": message}.

const { load, connectionFor, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function nextRun(major, { pattern, tz, millis, startDate, endDate }) {
  const dir = major === 5 ? 'bullmq5' : 'bullmq6';
  const { defaultRepeatStrategy } = require(`${dir}/dist/cjs/classes/job-scheduler`);
  const next = defaultRepeatStrategy(millis, { pattern, tz, startDate, endDate });
  return next === undefined ? null : next;
}

async function work(input, ms) {
  const { Worker } = load(input.major);
  const completed = [];
  const worker = new Worker(input.queue, async (job) => job.data, {
    connection: connectionFor(input.redisUrl),
    prefix: input.prefix,
    drainDelay: 1,
  });
  worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
  worker.on('completed', (job) => completed.push(job.id));
  await sleep(ms);
  await worker.close();
  return completed;
}

async function runStep(input, queue, step) {
  try {
    switch (step.op) {
      case 'upsert': {
        const job = await queue.upsertJobScheduler(step.id, step.repeat, step.template);
        return job ? String(job.id) : null;
      }
      case 'remove':
        return await queue.removeJobScheduler(step.id);
      case 'get':
        return (await queue.getJobScheduler(step.id)) || null;
      case 'list':
        return await queue.getJobSchedulers(step.start, step.end, step.asc);
      case 'work':
        return await work(input, step.ms);
      case 'next':
        return nextRun(input.major, step);
      case 'pause':
        await queue.pause();
        return null;
      case 'resume':
        await queue.resume();
        return null;
      case 'sleep':
        await sleep(step.ms);
        return null;
      default:
        throw new Error(`unknown step op: ${JSON.stringify(step.op)}`);
    }
  } catch (err) {
    return { error: err.message };
  }
}

async function main() {
  const input = await readStdinJson();
  const { Queue } = load(input.major);
  const queue = new Queue(input.queue, {
    connection: connectionFor(input.redisUrl),
    prefix: input.prefix,
  });
  queue.on('error', (err) => process.stderr.write(`queue error: ${err.message}\n`));
  await queue.waitUntilReady();
  const results = [];
  for (const step of input.steps || []) {
    results.push(await runStep(input, queue, step));
  }
  await queue.close();
  printAndExit(results, 0);
}

main().catch(fail);
