'use strict';

// Shared helpers for the compat scripts: pick a BullMQ major and turn a
// redis:// URL into the ioredis options BullMQ expects.

// Both majors are installed side by side through npm aliases (see package.json).
const MODULES = {
  6: 'bullmq6',
  5: 'bullmq5',
};

function moduleName(major) {
  const name = MODULES[Number(major)];
  if (!name) {
    throw new Error(`unsupported BullMQ major: ${JSON.stringify(major)} (expected 6 or 5)`);
  }
  return name;
}

/** Returns the BullMQ module for major 6 or 5; throws for anything else. */
function load(major) {
  return require(moduleName(major));
}

/** Exact installed version of the chosen major, e.g. "6.7.0". */
function version(major) {
  return require(`${moduleName(major)}/package.json`).version;
}

/**
 * redis://[user[:password]@]host[:port][/db] -> ioredis options.
 * maxRetriesPerRequest must be null: BullMQ Workers reject anything else.
 */
function connectionFromUrl(url) {
  const u = new URL(url);
  if (u.protocol !== 'redis:') {
    throw new Error(`unsupported Redis URL scheme: ${u.protocol} (only redis://)`);
  }
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) {
    throw new Error(`invalid Redis db in URL: ${u.pathname}`);
  }
  const opts = {
    // URL keeps IPv6 hosts bracketed ("[::1]"); ioredis wants them bare.
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    maxRetriesPerRequest: null,
  };
  // URL keeps userinfo percent-encoded.
  if (u.password) opts.password = decodeURIComponent(u.password);
  if (u.username) opts.username = decodeURIComponent(u.username);
  return opts;
}

/**
 * The `connection` for a Queue or Worker: ioredis options for one server, or, when
 * `cluster` is true, an ioredis Cluster seeded with that node (BullMQ 6 uses the
 * top-level ioredis, so the instance is one it recognises).
 */
function connectionFor(url, cluster) {
  const options = connectionFromUrl(url);
  if (!cluster) return options;
  const { Cluster } = require('ioredis');
  const { host, port, ...redisOptions } = options;
  delete redisOptions.db;
  return new Cluster([{ host, port }], { redisOptions });
}

/** Reads all of stdin and parses it as one JSON document. */
async function readStdinJson() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Writes one line to stdout and exits once it has been flushed. */
function printAndExit(value, code) {
  process.stdout.write(JSON.stringify(value) + '\n', () => process.exit(code));
}

/** Reports an unexpected failure on stderr and exits 1. */
function fail(err) {
  process.stderr.write(`${(err && err.stack) || err}\n`);
  process.exit(1);
}

module.exports = { load, version, connectionFromUrl, connectionFor, readStdinJson, printAndExit, fail };
