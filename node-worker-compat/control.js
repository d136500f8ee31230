'use strict';

// Operator actions on stored jobs, driven by the Rust tests with real Node BullMQ:
// the Node half of the job-method differential tests (bullmq-rs/tests/it/job_methods.rs).
//
// stdin:  {"redisUrl","major","prefix","queue","steps":[step...]}
//   {"op":"add","name","data","opts"}          Queue.add
//   {"op":"pause"} / {"op":"resume"}
//   {"op":"remove","id","removeChildren"}      Queue.remove(id, {removeChildren})
//   {"op":"retry","id","state","resetAttemptsMade","resetAttemptsStarted"}
//                                              (await Queue.getJob(id)).retry(state, opts)
//   {"op":"promote","id"}                      (await Queue.getJob(id)).promote()
//   {"op":"retryJobs","state","count","timestamp"?}  Queue.retryJobs(...)
//   {"op":"promoteJobs","count"}               Queue.promoteJobs({count})
//   {"op":"changeDelay","id","delay"}          (await Queue.getJob(id)).changeDelay(delay)
//   {"op":"changePriority","id","priority","lifo"}  job.changePriority({priority, lifo})
//   {"op":"updateData","id","data"}            job.updateData(data)
//   {"op":"updateProgress","id","progress"}    Queue.updateJobProgress(id, progress)
//   {"op":"log","id","line","keepLogs"}        Queue.addJobLog(id, line, keepLogs): its count
//   {"op":"clearLogs","id","keep"}             job.clearLogs(keep)
//   {"op":"trimEvents","maxLen"}               Queue.trimEvents(maxLen)
//   {"op":"removeDeduplicationKey","dedupId"}  Queue.removeDeduplicationKey: whether one went
//   {"op":"removeJobDeduplicationKey","id"}    job.removeDeduplicationKey(): whether one went
//   {"op":"drain","delayed"}                   Queue.drain(delayed)
//   {"op":"setGlobalConcurrency","concurrency"} / {"op":"removeGlobalConcurrency"}
//   {"op":"setGlobalRateLimit","max","duration"} / {"op":"removeGlobalRateLimit"}
//   {"op":"rateLimit","expire"}                Queue.rateLimit(expire)
// stdout: one JSON line, an array with one outcome per step: the job id for add, null for
//   pause/resume, else "ok" | "missing" | "locked" | "scheduler-run" | "not-in-state"
//   (the names the Rust side gives its typed errors), or {"error": message}.

const { load, connectionFor, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

// BullMQ's error messages (classes/finished-errors.js) → outcome names.
function outcomeOf(err) {
  if (/^Missing key for job /.test(err.message)) return 'missing';
  if (/is not in the \w+ state/.test(err.message)) return 'not-in-state';
  if (/belongs to a job scheduler/.test(err.message)) return 'scheduler-run';
  return { error: err.message };
}

async function remove(queue, { id, removeChildren }) {
  // Queue.remove answers 1 for a job that never existed too; tell that case apart first.
  const existed = (await queue.getJob(id)) !== undefined;
  try {
    const code = await queue.remove(id, { removeChildren });
    if (code === 0) return 'locked';
    return existed ? 'ok' : 'missing';
  } catch (err) {
    return outcomeOf(err);
  }
}

async function retry(queue, { id, state, resetAttemptsMade, resetAttemptsStarted }) {
  const job = await queue.getJob(id);
  if (!job) return 'missing';
  try {
    await job.retry(state, { resetAttemptsMade, resetAttemptsStarted });
    return 'ok';
  } catch (err) {
    return outcomeOf(err);
  }
}

async function promote(queue, { id }) {
  const job = await queue.getJob(id);
  if (!job) return 'missing';
  try {
    await job.promote();
    return 'ok';
  } catch (err) {
    return outcomeOf(err);
  }
}

// Runs `action` on the job read back, as a Node operator would: 'missing' without one.
async function onJob(queue, id, action) {
  const job = await queue.getJob(id);
  if (!job) return 'missing';
  return attempt(() => action(job));
}

async function attempt(action) {
  try {
    const value = await action();
    return value === undefined ? 'ok' : value;
  } catch (err) {
    return outcomeOf(err);
  }
}

async function runStep(queue, step) {
  switch (step.op) {
    case 'add':
      return String((await queue.add(step.name, step.data, step.opts)).id);
    case 'pause':
      await queue.pause();
      return null;
    case 'resume':
      await queue.resume();
      return null;
    case 'remove':
      return remove(queue, step);
    case 'retry':
      return retry(queue, step);
    case 'promote':
      return promote(queue, step);
    case 'retryJobs':
      // A null timestamp would reach the script as is; absent, BullMQ uses now.
      await queue.retryJobs({ state: step.state, count: step.count, timestamp: step.timestamp ?? undefined });
      return 'ok';
    case 'changeDelay':
      return onJob(queue, step.id, (job) => job.changeDelay(step.delay));
    case 'changePriority':
      return onJob(queue, step.id, (job) =>
        job.changePriority({ priority: step.priority, lifo: step.lifo }));
    case 'updateData':
      return onJob(queue, step.id, (job) => job.updateData(step.data));
    case 'updateProgress':
      return attempt(() => queue.updateJobProgress(step.id, step.progress));
    case 'log':
      return attempt(() => queue.addJobLog(step.id, step.line, step.keepLogs ?? undefined));
    case 'clearLogs':
      return onJob(queue, step.id, (job) => job.clearLogs(step.keep));
    case 'trimEvents':
      await queue.trimEvents(step.maxLen);
      return 'ok';
    case 'removeDeduplicationKey':
      return (await queue.removeDeduplicationKey(step.dedupId)) > 0;
    case 'removeJobDeduplicationKey':
      return onJob(queue, step.id, (job) => job.removeDeduplicationKey());
    case 'drain':
      return attempt(() => queue.drain(step.delayed));
    case 'setGlobalConcurrency':
      return attempt(async () => { await queue.setGlobalConcurrency(step.concurrency); });
    case 'removeGlobalConcurrency':
      return attempt(async () => { await queue.removeGlobalConcurrency(); });
    case 'setGlobalRateLimit':
      return attempt(async () => { await queue.setGlobalRateLimit(step.max, step.duration); });
    case 'removeGlobalRateLimit':
      return attempt(async () => { await queue.removeGlobalRateLimit(); });
    case 'rateLimit':
      return attempt(() => queue.rateLimit(step.expire));
    case 'promoteJobs':
      await queue.promoteJobs({ count: step.count });
      return 'ok';
    default:
      throw new Error(`unknown step op: ${JSON.stringify(step.op)}`);
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
  for (const step of input.steps) {
    results.push(await runStep(queue, step));
  }

  await queue.close();
  printAndExit(results, 0);
}

main().catch(fail);
