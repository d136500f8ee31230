'use strict';

// Flows driven by the Rust tests, with real Node BullMQ.
//
// stdin:  {"redisUrl","major","prefix", "op": "add"|"addBulk"|"work"|"getFlow", ...}
//   add:     {"flows":[FlowJob...]}: one FlowProducer.add per flow, in order
//   addBulk: {"flows":[FlowJob...]}: one FlowProducer.addBulk
//   work:    {"queues":[names], "idleMs", "timeoutMs"}: Workers on every queue until
//            none of them has had anything to do for idleMs. A job whose data has
//            "fail": true throws; others return {"name", "data", "children": values}.
//   getFlow: {"queue","id","depth","maxChildren"}: the tree as {id, name, children}
// stdout: one JSON line: add/addBulk: the root ids; work: {"processed": [names]};
//         getFlow: the tree.

const { load, connectionFor, readStdinJson, printAndExit, fail } = require('./lib/bullmq');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function work(bullmq, input, connection) {
  const processed = [];
  let last = Date.now();
  const processor = async (job) => {
    last = Date.now();
    processed.push(job.name);
    if (job.data && job.data.fail === true) throw new Error('requested failure');
    const children = await job.getChildrenValues();
    last = Date.now();
    return { name: job.name, children: Object.keys(children).length };
  };
  const workers = input.queues.map(
    (queue) => new bullmq.Worker(queue, processor, { connection, prefix: input.prefix, drainDelay: 1 }),
  );
  for (const worker of workers) {
    worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
    worker.on('completed', () => { last = Date.now(); });
    worker.on('failed', () => { last = Date.now(); });
  }
  const deadline = Date.now() + (input.timeoutMs || 20000);
  while (Date.now() - last < (input.idleMs || 1000)) {
    if (Date.now() > deadline) throw new Error('flow work timed out');
    await sleep(50);
  }
  await Promise.all(workers.map((worker) => worker.close()));
  return { processed: processed.sort() };
}

async function tree(node) {
  return {
    id: node.job.id,
    name: node.job.name,
    children: await Promise.all((node.children || []).map(tree)),
  };
}

async function main() {
  const input = await readStdinJson();
  const bullmq = load(input.major);
  const connection = connectionFor(input.redisUrl, input.cluster);
  let result;
  if (input.op === 'work') {
    result = await work(bullmq, input, connection);
  } else {
    const producer = new bullmq.FlowProducer({ connection, prefix: input.prefix });
    producer.on('error', (err) => process.stderr.write(`producer error: ${err.message}\n`));
    if (input.op === 'add') {
      result = [];
      for (const flow of input.flows) {
        try {
          result.push(String((await producer.add(flow)).job.id));
        } catch (err) {
          result.push({ error: err.message });
        }
      }
    } else if (input.op === 'addBulk') {
      result = (await producer.addBulk(input.flows)).map((node) => String(node.job.id));
    } else if (input.op === 'getFlow') {
      const node = await producer.getFlow({
        queueName: input.queue, id: input.id, depth: input.depth, maxChildren: input.maxChildren,
      });
      result = node ? await tree(node) : null;
    } else {
      throw new Error(`unknown op ${JSON.stringify(input.op)}`);
    }
    await producer.close();
  }
  printAndExit(result, 0);
}

main().catch(fail);
