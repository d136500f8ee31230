'use strict';

// Starts a throw-away redis-server for one test file: loopback only, a free
// port, a temp dir, no persistence. Always stop() it in an after() hook.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';

/** A port that was free a moment ago on 127.0.0.1 (the caller may still race). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function launch(port, dir) {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const onData = (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        proc.stdout.off('data', onData);
        proc.off('exit', onExit);
        resolve(proc);
      }
    };
    const onExit = (code) => reject(new Error(`redis-server exited (${code}): ${output.slice(-500)}`));
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (chunk) => (output += chunk));
    proc.on('exit', onExit);
    proc.on('error', reject);
  });
}

async function startRedis() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nwc-redis-'));
  let lastError;
  // A few tries in case another process grabs the port between probe and bind.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      const proc = await launch(port, dir);
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) {
            const exited = new Promise((resolve) => proc.once('exit', resolve));
            proc.kill('SIGTERM');
            await exited;
          }
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

module.exports = { startRedis, freePort };
