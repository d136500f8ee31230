'use strict';

// BullMQ processor for Sellsy events: turns an accepted estimate into exactly
// one invoice. Transport-free (the API client, Redis and BullMQ are passed
// in) so tests can run it against a fake Sellsy.
//
// Idempotency, because Sellsy has no event id and sends duplicates (§3, §6.6):
//   1. the estimate status is re-read from the API (never the payload);
//   2. a per-estimate Redis lock (SET NX PX) serialises concurrent jobs;
//   3. a record key, written after a successful POST and never expiring,
//      remembers which invoice was made for which estimate.

const crypto = require('node:crypto');
const { classifyEvent, buildInvoiceBody, INVOICED_STATUSES } = require('./invoice');
const { SellsyApiError } = require('./sellsy-api');

// Deletes the lock only if it still holds our token: after a TTL expiry the
// key may belong to another job.
const RELEASE_LOCK_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** Another job holds the estimate's lock; BullMQ's attempts/backoff retry it. */
class LockBusyError extends Error {
  constructor(key) {
    super(`estimate is being processed by another job (lock ${key} held)`);
    this.name = 'LockBusyError';
  }
}

const asId = (value) => (/^\d+$/.test(String(value)) ? Number(value) : value);

/**
 * @param {object} opts
 * @param {object} opts.api     from createSellsyApi (getEstimate, createInvoice)
 * @param {object} opts.redis   ioredis client for the lock and record keys
 * @param {string} [opts.prefix] BullMQ prefix, also used for our keys
 * @param {object} opts.bullmq  the loaded BullMQ module (Worker, UnrecoverableError)
 * @param {(ms: number) => Promise<void>} opts.rateLimit  e.g. ms => worker.rateLimit(ms)
 * @param {string[]|'*'} [opts.triggerEvents] lower-case `event` values that may trigger
 * @param {(line: string) => void} [opts.log]
 */
function createInvoiceProcessor({
  api,
  redis,
  prefix = 'bull',
  bullmq,
  rateLimit,
  triggerEvents = ['step'],
  lockTtlMs = 60_000,
  defaultRetryAfterMs = 5_000,
  log = (line) => console.log(line),
}) {
  const { Worker, UnrecoverableError } = bullmq;

  // Maps a Sellsy failure onto BullMQ's three outcomes.
  async function translate(err) {
    if (!(err instanceof SellsyApiError)) return err; // network, Redis: retryable
    if (err.status === 429) {
      // Pauses the whole queue (limiter key in Redis) and puts the job back in
      // wait without spending an attempt.
      await rateLimit(err.retryAfterMs ?? defaultRetryAfterMs);
      return Worker.RateLimitError();
    }
    if (err.status >= 500) return err; // retryable through attempts/backoff
    const fatal = new UnrecoverableError(err.message);
    fatal.status = err.status;
    return fatal;
  }

  async function callApi(fn) {
    try {
      return await fn();
    } catch (err) {
      throw await translate(err);
    }
  }

  async function handle(data) {
    const event = classifyEvent(data, triggerEvents);
    if (!event.trigger) return { action: 'none', reason: event.reason };
    const { corpid, estimateId } = event;
    const recordKey = `${prefix}:sellsy:invoice-for-estimate:${corpid}:${estimateId}`;
    const lockKey = `${prefix}:sellsy:invoice-lock:${corpid}:${estimateId}`;
    const done = { action: 'none', reason: 'already invoiced' };

    // Cheap early exit before spending API quota (failed calls count too, §5.5);
    // the authoritative check is repeated under the lock below.
    const known = await redis.get(recordKey);
    if (known !== null) return { ...done, invoiceId: asId(known) };

    const estimate = await callApi(() => api.getEstimate(estimateId));
    const status = estimate && estimate.status;
    if (INVOICED_STATUSES.has(status)) return { ...done, status };
    if (status !== 'accepted') return { action: 'none', reason: `estimate status is ${status}, not accepted` };

    const token = crypto.randomUUID();
    if ((await redis.set(lockKey, token, 'PX', lockTtlMs, 'NX')) !== 'OK') throw new LockBusyError(lockKey);
    try {
      const recorded = await redis.get(recordKey);
      if (recorded !== null) return { ...done, invoiceId: asId(recorded) };

      const invoice = await callApi(() => api.createInvoice(buildInvoiceBody(estimate, estimateId)));
      const invoiceId = invoice && invoice.id;
      if (invoiceId == null) {
        // Sellsy said yes but we cannot record what: a retry could duplicate.
        throw new UnrecoverableError('Sellsy POST /invoices succeeded without an invoice id');
      }
      // No TTL: the record is the memory that this estimate is done. The
      // client queues the command across a reconnect rather than drop it.
      await redis.set(recordKey, String(invoiceId));
      return { action: 'created', invoiceId };
    } finally {
      await redis.eval(RELEASE_LOCK_LUA, 1, lockKey, token).catch((err) => log(`lock release failed: ${err.message}`));
    }
  }

  return async function processInvoiceJob(job) {
    const d = job.data || {};
    const label = `job ${job.id} ${d.eventType}.${d.event} ${d.relatedtype} ${d.relatedid}`;
    try {
      const result = await handle(d);
      const detail = result.action === 'created' ? ` ${result.invoiceId}` : ` (${result.reason})`;
      log(`${label} -> ${result.action}${detail}`);
      return result;
    } catch (err) {
      log(`${label} -> ${err.name === 'RateLimitError' ? 'rate limited' : `error: ${err.message}`}`);
      throw err;
    }
  };
}

module.exports = { createInvoiceProcessor, LockBusyError, RELEASE_LOCK_LUA };
