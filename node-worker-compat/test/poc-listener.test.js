'use strict';

// poc-listener.js as a real process: signed webhook -> 200 and a BullMQ job;
// bad signature -> 401 and nothing enqueued.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Queue } = require('bullmq6');
const { connectionFromUrl } = require('../lib/bullmq');
const { startRedis } = require('./support/redis');

// Test vector from the fact sheet §1.3 / §2.4: body A (362 bytes, no
// newline), its key and its lowercase hex SHA-1(key || body).
const SECRET = '3f6c1d2e-8a4b-4c7d-9e10-5b2a7f9c0d11';
const BODY =
  '{"eventType":"docslog","timestamp":"1732400123","event":"step","relatedid":"48213377","relatedtype":"estimate","ownerid":"204551","ownertype":"staff","corpid":"90812","relatedobject":{"id":48213377,"number":"DEV-2024-01137","status":"accepted","date":"2024-11-23","currency":"EUR","subject":"Refonte site e-commerce","related":[{"id":7311820,"type":"company"}]}}';
const SIGNATURE = 'df49797d7be49105f791a2998e901933c2ccf30d';

let redisServer;
let listener; // child process
let baseUrl;
let queue;

function startListener(env) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [path.join(__dirname, '..', 'poc-listener.js')], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`listener not ready: ${out}`)), 10000);
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] });
      }
    });
    proc.stderr.on('data', (chunk) => (out += chunk));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`listener exited (${code}): ${out}`));
    });
  });
}

before(async () => {
  redisServer = await startRedis();
  // PORT=0: the listener binds a free port and prints the real one.
  const started = await startListener({
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redisServer.url,
    SELLSY_WEBHOOK_SECRET: SECRET,
  });
  listener = started.proc;
  baseUrl = started.url;
  queue = new Queue('sellsy-webhooks', { connection: connectionFromUrl(redisServer.url) });
});

after(async () => {
  await queue.close();
  if (listener.exitCode === null && listener.signalCode === null) {
    const exited = new Promise((resolve) => listener.once('exit', resolve));
    listener.kill('SIGTERM');
    await exited;
  }
  await redisServer.stop();
});

const post = (body, signature) =>
  fetch(`${baseUrl}/webhook/sellsy`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-webhook-signature': signature },
    body,
  });

test('GET /health answers 200', async () => {
  const res = await fetch(`${baseUrl}/health`);
  assert.equal(res.status, 200);
});

test('correctly signed body: 200 and one job "event" with the body as data', async () => {
  const res = await post(BODY, SIGNATURE);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true });

  const jobs = await queue.getJobs(['waiting']);
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0].name, 'event');
  assert.deepEqual(jobs[0].data, JSON.parse(BODY));
  assert.equal(jobs[0].opts.removeOnComplete, true);
});

test('bad signature: 401 and nothing enqueued', async () => {
  const before = await queue.count();
  const wrong = await post(BODY, '0'.repeat(40));
  assert.equal(wrong.status, 401);
  // Same JSON, one byte more: the signature covers the raw bytes.
  const reserialised = await post(`${BODY} `, SIGNATURE);
  assert.equal(reserialised.status, 401);
  const missing = await fetch(`${baseUrl}/webhook/sellsy`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
  });
  assert.equal(missing.status, 401);
  assert.equal(await queue.count(), before);
});

test('SIGTERM closes the listener cleanly', async () => {
  const exited = new Promise((resolve) => listener.once('exit', (code) => resolve(code)));
  listener.kill('SIGTERM');
  assert.equal(await exited, 0);
});
