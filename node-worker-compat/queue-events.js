'use strict';

// Records every event a Node QueueEvents emits, for the Rust tests to compare with
// bullmq-rs's QueueEvents: both read the same stream from the same entry on.
//
// stdin:  {"redisUrl","major","prefix","queue","lastEventId","until","timeoutMs"}
// stdout: "ready" once QueueEvents runs, then one JSON line
//         {"events":[{"event","id","args"}]} ("args" as QueueEvents passes them; none for
//         `drained`), after the event named `until` (which is recorded too).

const { load, connectionFromUrl, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

async function main() {
  const input = await readStdinJson();
  const { QueueEvents } = load(input.major);
  const events = new QueueEvents(input.queue, {
    connection: connectionFromUrl(input.redisUrl),
    prefix: input.prefix,
    lastEventId: input.lastEventId,
  });

  const seen = [];
  let finished = false;
  const done = new Promise((resolve) => {
    // QueueEvents emits each entry under its name, then again as `<name>:<jobId>` with the
    // same arguments; the second is not an entry of its own.
    const emit = events.emit.bind(events);
    let last = null;
    events.emit = (name, ...args) => {
      if (name === 'error' && !finished) fail(args[0]);
      const [first, id] = args;
      const perJob = last && first === last.args && id === last.id && name === `${last.event}:${first.jobId}`;
      if (!perJob && name !== 'ioredis:close') {
        const record = name === 'drained' ? { event: name, id: first } : { event: name, id, args: first };
        seen.push(record);
        last = record;
        if (name === input.until) resolve();
      }
      return emit(name, ...args);
    };
  });
  await events.waitUntilReady();
  process.stdout.write('ready\n');

  const timer = setTimeout(() => fail(new Error(`timeout; saw ${JSON.stringify(seen)}`)), input.timeoutMs || 30000);
  await done;
  finished = true;
  clearTimeout(timer);
  await events.close();
  printAndExit({ events: seen }, 0);
}

main().catch(fail);
