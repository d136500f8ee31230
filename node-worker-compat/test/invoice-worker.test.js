'use strict';

// invoice-worker.js end to end: real redis-server, real BullMQ 6 Queue and
// Worker (started through the module's start()), fake Sellsy over HTTP.

const { test, before, after, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const Redis = require('ioredis');
const { Queue } = require('bullmq6');
const { connectionFromUrl } = require('../lib/bullmq');
const { start } = require('../invoice-worker');
const { startRedis } = require('./support/redis');
const { startFakeSellsy, CLIENT_ID, CLIENT_SECRET, sellsyError } = require('./support/fake-sellsy');
const { event, estimate, expectedInvoiceBody } = require('./support/fixtures');

const RECORD_KEY = 'bull:sellsy:invoice-for-estimate:90812:48213377';
const LOCK_KEY = 'bull:sellsy:invoice-lock:90812:48213377';

let redisServer;
let fake;
let admin; // direct Redis access for assertions
let app; // the started worker
let queue;
let logs;
let queueSeq = 0;

before(async () => {
  redisServer = await startRedis();
  fake = await startFakeSellsy();
  admin = new Redis(connectionFromUrl(redisServer.url));
});

after(async () => {
  await admin.quit();
  await fake.close();
  await redisServer.stop();
});

beforeEach(async () => {
  fake.reset();
  fake.estimates.set('48213377', estimate());
  await admin.flushall();
  logs = [];
  // A fresh queue per test, so BullMQ state (and the manual rate limit) of
  // one test cannot leak into the next.
  const queueName = `sellsy-webhooks-${++queueSeq}`;
  app = await start(
    {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      apiBase: fake.apiBase,
      tokenUrl: fake.tokenUrl,
      redisUrl: redisServer.url,
      queueName,
      limiter: { max: 100, duration: 1000 },
      log: (line) => logs.push(line),
    },
    {}, // ignore the caller's environment
  );
  queue = new Queue(queueName, { connection: connectionFromUrl(redisServer.url) });
});

afterEach(async () => {
  await app.close();
  await queue.close();
});

/**
 * Resolves once `n` jobs reached a final state. Attach before adding jobs.
 * A 'failed' event is emitted per failed attempt; only a job left in the
 * failed set (no retry scheduled) counts.
 */
function waitForOutcomes(n, timeoutMs = 15000) {
  const { worker } = app;
  return new Promise((resolve, reject) => {
    const completed = [];
    const failed = [];
    const done = () => {
      if (completed.length + failed.length < n) return;
      clearTimeout(timer);
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
      resolve({ completed, failed });
    };
    const onCompleted = (job, result) => {
      completed.push({ id: job.id, result });
      done();
    };
    const onFailed = async (job) => {
      if (job && (await job.getState()) === 'failed') {
        failed.push({ id: job.id });
        done();
      }
    };
    const timer = setTimeout(
      () => reject(new Error(`timeout: ${JSON.stringify({ completed, failed, logs })}`)),
      timeoutMs,
    );
    worker.on('completed', onCompleted);
    worker.on('failed', onFailed);
  });
}

const tokenRequests = () => fake.count('POST', '/oauth2/access-tokens');
const createdInvoices = () => fake.invoicePosts().length;

test('accepted estimate: one POST /invoices with the mapped body, one token', async () => {
  const outcome = waitForOutcomes(1);
  const job = await queue.add('event', event(), { removeOnComplete: true });
  const { completed } = await outcome;

  assert.deepEqual(completed[0].result, { action: 'created', invoiceId: 9001 });
  const posts = fake.invoicePosts();
  assert.equal(posts.length, 1);
  assert.deepEqual(posts[0].body, expectedInvoiceBody());
  assert.equal(posts[0].headers.authorization, 'Bearer tok-1');
  assert.equal(tokenRequests(), 1);
  assert.equal(fake.count('GET', '/v2/estimates/48213377'), 1);
  // The record remembers the invoice; the lock is gone.
  assert.equal(await admin.get(RECORD_KEY), '9001');
  assert.equal(await admin.pttl(RECORD_KEY), -1);
  assert.equal(await admin.exists(LOCK_KEY), 0);
  assert.deepEqual(logs, [`job ${job.id} docslog.step estimate 48213377 -> created 9001`]);
});

test('other events and estimates that are not accepted: no invoice', async () => {
  for (const [id, status] of [['1001', 'draft'], ['1002', 'refused'], ['1003', 'invoiced'], ['1004', 'partialinvoiced']]) {
    fake.estimates.set(id, estimate({ id: Number(id), status }));
  }
  const jobs = [
    event({ eventType: 'thirdlog', relatedtype: 'client' }),
    event({ relatedtype: 'invoice' }),
    event({ event: 'emailsent' }),
    event({ relatedid: '1001' }),
    event({ relatedid: '1002' }),
    event({ relatedid: '1003' }),
    event({ relatedid: '1004' }),
  ];
  const outcome = waitForOutcomes(jobs.length);
  for (const data of jobs) await queue.add('event', data);
  const { completed, failed } = await outcome;

  assert.equal(failed.length, 0);
  assert.equal(createdInvoices(), 0);
  const reasons = completed.map((c) => c.result).sort((a, b) => a.reason.localeCompare(b.reason));
  assert.ok(reasons.every((r) => r.action === 'none'));
  assert.deepEqual(
    reasons.map((r) => r.reason),
    [
      'already invoiced',
      'already invoiced',
      'estimate status is draft, not accepted',
      'estimate status is refused, not accepted',
      'event emailsent is not a trigger',
      'eventType thirdlog is not docslog',
      'relatedtype invoice is not estimate',
    ],
  );
  // Only the four estimate step events needed the API.
  assert.equal(fake.count('GET', '/v2/estimates/'), 4);
});

test('duplicate events and a second step event: still exactly one invoice', async () => {
  const opts = { attempts: 5, backoff: { type: 'fixed', delay: 100 } };
  const outcome = waitForOutcomes(3);
  await queue.add('event', event(), opts);
  await queue.add('event', event(), opts); // same delivery twice
  // A later step event, spelled differently (casing, numeric id).
  await queue.add('event', event({ eventType: 'DOCSLOG', relatedid: 48213377, timestamp: '1732400999' }), opts);
  const { completed, failed } = await outcome;

  assert.equal(failed.length, 0);
  assert.equal(createdInvoices(), 1);
  const results = completed.map((c) => c.result);
  assert.equal(results.filter((r) => r.action === 'created').length, 1);
  assert.deepEqual(
    results.filter((r) => r.action === 'none'),
    [
      { action: 'none', reason: 'already invoiced', invoiceId: 9001 },
      { action: 'none', reason: 'already invoiced', invoiceId: 9001 },
    ],
  );
});

test('estimate lock held by another job: retried, then one invoice', async () => {
  // As if another worker were mid-creation; its lock expires after 300 ms.
  await admin.set(LOCK_KEY, 'someone-else', 'PX', 300);
  const outcome = waitForOutcomes(1);
  await queue.add('event', event(), { attempts: 3, backoff: { type: 'fixed', delay: 400 } });
  const { completed } = await outcome;

  assert.deepEqual(completed[0].result, { action: 'created', invoiceId: 9001 });
  assert.equal(createdInvoices(), 1);
  assert.match(logs[0], /-> error: estimate is being processed by another job/);
});

test('429 with Retry-After: 1 then success: waits, retries without spending an attempt', async () => {
  fake.invoiceReplies.push({ status: 429, headers: { 'retry-after': '1' }, body: sellsyError(429, 'Too many requests') });
  const outcome = waitForOutcomes(1);
  const t0 = Date.now();
  // attempts: 1, so a plain failure would be final: only the rate limit path can succeed.
  const job = await queue.add('event', event(), { attempts: 1 });
  const { completed, failed } = await outcome;
  const elapsed = Date.now() - t0;

  assert.equal(failed.length, 0);
  assert.deepEqual(completed[0].result, { action: 'created', invoiceId: 9001 });
  assert.equal(fake.invoicePosts().length, 2); // the 429 and the 201
  assert.ok(elapsed >= 900, `retried after ${elapsed} ms, expected about 1000`);
  const done = await queue.getJob(job.id);
  assert.equal(done.attemptsMade, 1);
  assert.ok(logs.some((l) => l.endsWith('-> rate limited')));
});

test('500 once then success with attempts 3: one invoice', async () => {
  fake.invoiceReplies.push({ status: 500, body: sellsyError(500, 'Internal error') });
  const outcome = waitForOutcomes(1);
  const job = await queue.add('event', event(), { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
  const { completed } = await outcome;

  assert.deepEqual(completed[0].result, { action: 'created', invoiceId: 9001 });
  assert.equal(fake.invoicePosts().length, 2);
  assert.equal((await queue.getJob(job.id)).attemptsMade, 2);
  assert.equal(await admin.get(RECORD_KEY), '9001');
});

test('400: job failed at once, not retried, reason names the status and message', async () => {
  fake.invoiceReplies.push({
    status: 400,
    body: { error: { code: 400, message: 'Invalid related', context: 'invoice', details: { related: 'must be a client' } } },
  });
  const outcome = waitForOutcomes(1);
  const job = await queue.add('event', event(), { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
  const { failed } = await outcome;

  assert.equal(failed.length, 1);
  const dead = await queue.getJob(job.id);
  assert.equal(dead.attemptsMade, 1);
  assert.match(dead.failedReason, /POST \/v2\/invoices answered 400: Invalid related/);
  assert.match(dead.failedReason, /must be a client/);
  assert.equal(fake.invoicePosts().length, 1);
  assert.equal(await admin.exists(RECORD_KEY), 0);
  assert.equal(await admin.exists(LOCK_KEY), 0);
});

test('401 from the API once: token refreshed and the call retried', async () => {
  fake.apiReplies.push({ status: 401, body: sellsyError(401, 'Token revoked') });
  const outcome = waitForOutcomes(1);
  await queue.add('event', event());
  const { completed } = await outcome;

  assert.deepEqual(completed[0].result, { action: 'created', invoiceId: 9001 });
  assert.equal(tokenRequests(), 2);
  const gets = fake.requests.filter((r) => r.method === 'GET');
  assert.deepEqual(
    gets.map((r) => r.headers.authorization),
    ['Bearer tok-1', 'Bearer tok-2'],
  );
  assert.equal(fake.invoicePosts()[0].headers.authorization, 'Bearer tok-2');
  assert.equal(createdInvoices(), 1);
});
