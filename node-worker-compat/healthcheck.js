'use strict';

// Container health check of the invoice worker: healthy while its Redis answers PING.
const IORedis = require('ioredis');
const { connectionFromUrl } = require('./lib/bullmq');

const redis = new IORedis({ ...connectionFromUrl(process.env.REDIS_URL || 'redis://127.0.0.1:6379'), lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0 });
redis
  .connect()
  .then(() => redis.ping())
  .then(() => process.exit(0))
  .catch((err) => {
    process.stderr.write(`unhealthy: ${err.message}\n`);
    process.exit(1);
  });
