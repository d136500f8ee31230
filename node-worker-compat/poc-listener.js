'use strict';

// The Node POC's webhook listener design (Fastify + BullMQ), which the Rust
// listener replaces. Kept only as the baseline of side-by-side benchmarks, so
// it reproduces the POC's behaviour, flaws included:
//   - it answers 200 {"received":true} even when the enqueue fails (the event
//     is then lost: Sellsy sees success and will not retry);
//   - it only understands application/json (form-encoded `notif` posts get 415);
//   - a missing SELLSY_WEBHOOK_SECRET disables the signature check.
//
// Env: PORT (3000; 0 = any free port), HOST (127.0.0.1), REDIS_URL
// (redis://127.0.0.1:6379), QUEUE_NAME (sellsy-webhooks), SELLSY_WEBHOOK_SECRET
// (optional), BULLMQ_PREFIX (bull). Prints "listening on http://HOST:PORT" once
// ready; SIGTERM/SIGINT close the server, then the queue.

const crypto = require('node:crypto');
const Fastify = require('fastify');
const { load, connectionFromUrl } = require('./lib/bullmq');

function configFromEnv(env = process.env) {
  return {
    port: env.PORT === undefined || env.PORT === '' ? 3000 : Number(env.PORT),
    host: env.HOST || '127.0.0.1',
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    queueName: env.QUEUE_NAME || 'sellsy-webhooks',
    prefix: env.BULLMQ_PREFIX || 'bull',
    secret: env.SELLSY_WEBHOOK_SECRET || '',
  };
}

// Sellsy's signature: lowercase hex SHA-1 of (key || raw body), not an HMAC
// (fact sheet §2.1). Compared in constant time.
function signatureMatches(secret, rawBody, header) {
  const expected = crypto.createHash('sha1').update(secret + rawBody).digest();
  const given = Buffer.from(typeof header === 'string' ? header.trim().toLowerCase() : '', 'hex');
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

async function start(cfg = configFromEnv()) {
  const { Queue } = load(6);
  const connection = connectionFromUrl(cfg.redisUrl);
  // connectionFromUrl sets maxRetriesPerRequest: null (what Workers need),
  // which would make add() wait forever while Redis is down. The POC's Queue
  // kept ioredis' default, so add() eventually fails and the handler still
  // answers 200: that is the behaviour being benchmarked and documented.
  delete connection.maxRetriesPerRequest;
  const queue = new Queue(cfg.queueName, { connection, prefix: cfg.prefix });
  queue.on('error', (err) => console.error(`queue error: ${err.message}`));

  const app = Fastify({ logger: false });

  // Keep the raw body: the signature covers the exact bytes, so re-serialising
  // the parsed JSON could never be checked.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    req.rawBody = body;
    try {
      done(null, JSON.parse(body));
    } catch (err) {
      err.statusCode = 400;
      done(err, undefined);
    }
  });

  app.get('/health', async () => ({ status: 'ok' }));

  app.post('/webhook/sellsy', async (req, reply) => {
    if (cfg.secret && !signatureMatches(cfg.secret, req.rawBody, req.headers['x-webhook-signature'])) {
      return reply.code(401).send({ error: 'invalid signature' });
    }
    try {
      await queue.add('event', req.body, { removeOnComplete: true });
    } catch (err) {
      // The POC's flaw, kept on purpose: log and still acknowledge.
      console.error(`enqueue failed: ${err.message}`);
    }
    return { received: true };
  });

  await app.listen({ port: cfg.port, host: cfg.host });
  const { port } = app.server.address();

  return {
    app,
    queue,
    port,
    async close() {
      await app.close();
      await queue.close();
    },
  };
}

async function main() {
  const cfg = configFromEnv();
  const listener = await start(cfg);
  console.log(`listening on http://${cfg.host}:${listener.port}`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    listener.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err) => {
    console.error((err && err.stack) || err);
    process.exit(1);
  });
}

module.exports = { start, configFromEnv, signatureMatches };
