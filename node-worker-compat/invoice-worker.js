'use strict';

// Sellsy invoice worker (Node reference for the Rust worker): consumes Sellsy
// events from a BullMQ queue and turns each accepted estimate into one invoice.
// The rules live in lib/invoice-processor.js; this file is env + wiring.
//
// Env:
//   SELLSY_CLIENT_ID, SELLSY_CLIENT_SECRET   (required) Personal API client
//   SELLSY_API_BASE      default https://api.sellsy.com/v2
//   SELLSY_TOKEN_URL     default https://login.sellsy.com/oauth2/access-tokens
//   SELLSY_TIMEOUT_MS    per HTTP request, default 15000 (keep 3x under the 60 s lock)
//   REDIS_URL            default redis://127.0.0.1:6379
//   QUEUE_NAME           default sellsy-webhooks
//   BULLMQ_PREFIX        default bull (also prefixes our lock/record keys)
//   BULLMQ_MAJOR         5 | 6, default 6
//   CONCURRENCY          default 2
//   LIMITER_MAX, LIMITER_DURATION_MS   BullMQ limiter, default 2 jobs / 1000 ms
//   INVOICE_TRIGGER_EVENTS  comma list of `event` values, default "step"; "*" = any

const Redis = require('ioredis');
const { load, connectionFromUrl } = require('./lib/bullmq');
const { createSellsyApi } = require('./lib/sellsy-api');
const { createInvoiceProcessor } = require('./lib/invoice-processor');

function intFrom(value, fallback, name) {
  if (value == null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${value}`);
  return n;
}

function configFromEnv(env = process.env) {
  const events = (env.INVOICE_TRIGGER_EVENTS || 'step').trim();
  return {
    clientId: env.SELLSY_CLIENT_ID,
    clientSecret: env.SELLSY_CLIENT_SECRET,
    apiBase: env.SELLSY_API_BASE || 'https://api.sellsy.com/v2',
    tokenUrl: env.SELLSY_TOKEN_URL || 'https://login.sellsy.com/oauth2/access-tokens',
    timeoutMs: intFrom(env.SELLSY_TIMEOUT_MS, 15_000, 'SELLSY_TIMEOUT_MS'),
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    queueName: env.QUEUE_NAME || 'sellsy-webhooks',
    prefix: env.BULLMQ_PREFIX || 'bull',
    major: Number(env.BULLMQ_MAJOR || 6),
    concurrency: intFrom(env.CONCURRENCY, 2, 'CONCURRENCY'),
    // BullMQ only honours worker.rateLimit() (our 429 handling) across
    // workers when a limiter is configured; the default also keeps a burst
    // under Sellsy's per-account quota (V1 said 5 req/s, a job makes ~2).
    limiter: {
      max: intFrom(env.LIMITER_MAX, 2, 'LIMITER_MAX'),
      duration: intFrom(env.LIMITER_DURATION_MS, 1000, 'LIMITER_DURATION_MS'),
    },
    triggerEvents: events === '*' ? '*' : events.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean),
  };
}

/**
 * Starts the worker. `overrides` replace fields of configFromEnv(env) (tests
 * point apiBase/tokenUrl/redisUrl at fakes). Resolves once the worker is ready.
 */
async function start(overrides = {}, env = process.env) {
  const cfg = { ...configFromEnv(env), ...overrides };
  if (!cfg.clientId || !cfg.clientSecret) {
    throw new Error('SELLSY_CLIENT_ID and SELLSY_CLIENT_SECRET are required');
  }
  const bullmq = load(cfg.major);
  const connection = connectionFromUrl(cfg.redisUrl);
  const log = cfg.log || ((line) => console.log(line));

  // Own connection for lock/record keys: the worker's is blocked in BZPOPMIN.
  const redis = new Redis(connection);
  redis.on('error', (err) => log(`redis error: ${err.message}`));

  const api = createSellsyApi(cfg);
  let worker; // assigned below; rateLimit is only called while a job runs
  const processor = createInvoiceProcessor({
    api,
    redis,
    prefix: cfg.prefix,
    bullmq,
    rateLimit: (ms) => worker.rateLimit(ms),
    triggerEvents: cfg.triggerEvents,
    log,
  });
  worker = new bullmq.Worker(cfg.queueName, processor, {
    connection,
    prefix: cfg.prefix,
    concurrency: cfg.concurrency,
    limiter: cfg.limiter,
    ...(cfg.workerOptions || {}),
  });
  worker.on('error', (err) => log(`worker error: ${err.message}`));
  await worker.waitUntilReady();

  return {
    worker,
    redis,
    api,
    config: cfg,
    async close() {
      await worker.close();
      await redis.quit();
    },
  };
}

async function main() {
  const app = await start();
  const { queueName, prefix, major, concurrency } = app.config;
  console.log(`invoice worker on ${prefix}:${queueName} (BullMQ ${major}, concurrency ${concurrency})`);
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: waiting for running jobs`);
    app.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((err) => {
    console.error((err && err.stack) || err);
    process.exit(1);
  });
}

module.exports = { start, configFromEnv };
