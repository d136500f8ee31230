'use strict';

// What a Node application sees of the workers of a queue, for the Rust tests: the
// workers `Queue.getWorkers()` lists (CLIENT LIST by client name) and the metrics
// `Queue.getMetrics()` reads.
//
// stdin:  {"redisUrl","major","prefix","queue"}
// stdout: {"workers":[rawname],"metrics":{"completed":{meta,data,count},"failed":{...}}}

const { load, connectionFromUrl, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

async function main() {
  const input = await readStdinJson();
  const { Queue } = load(input.major);
  const queue = new Queue(input.queue, { connection: connectionFromUrl(input.redisUrl), prefix: input.prefix });
  await queue.waitUntilReady();
  const workers = (await queue.getWorkers()).map((client) => client.rawname).sort();
  const metrics = {
    completed: await queue.getMetrics('completed'),
    failed: await queue.getMetrics('failed'),
  };
  await queue.close();
  printAndExit({ workers, metrics }, 0);
}

main().catch(fail);
