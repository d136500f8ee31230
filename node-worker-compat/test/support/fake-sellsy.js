'use strict';

// In-process fake of the Sellsy endpoints the invoice worker uses, on
// 127.0.0.1:<random>. Records every request so tests can count and inspect.
//
//   POST /oauth2/access-tokens   form client_credentials -> {access_token, expires_in}
//   GET  /v2/estimates/:id       fake.estimates.get(id) or 404
//   POST /v2/invoices            201 {id: 9001}, unless a scripted reply is queued
//
// Scripted one-shot replies: fake.apiReplies (any /v2 call, before routing)
// and fake.invoiceReplies (POST /v2/invoices only), each {status, headers, body}.

const http = require('node:http');

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret';
const INVOICE_ID = 9001;

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

const sellsyError = (code, message) => ({ error: { code, message, context: 'fake', details: {} } });

async function startFakeSellsy() {
  const fake = {
    requests: [], // {method, path, headers, body}
    estimates: new Map(), // id (string) -> EstimateOne
    apiReplies: [],
    invoiceReplies: [],
    validTokens: new Set(),
    tokensIssued: 0,
    reset() {
      this.requests.length = 0;
      this.estimates.clear();
      this.apiReplies.length = 0;
      this.invoiceReplies.length = 0;
      this.validTokens.clear();
      this.tokensIssued = 0;
    },
    count(method, pathPrefix) {
      return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).length;
    },
    invoicePosts() {
      return this.requests.filter((r) => r.method === 'POST' && r.path === '/v2/invoices');
    },
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url, 'http://fake').pathname;
      let body = raw;
      if ((req.headers['content-type'] || '').includes('application/json') && raw) body = JSON.parse(raw);
      fake.requests.push({ method: req.method, path, headers: req.headers, body });
      route(req.method, path, req.headers, body, res);
    });
  });

  function route(method, path, headers, body, res) {
    if (method === 'POST' && path === '/oauth2/access-tokens') {
      const form = new URLSearchParams(body);
      if (
        form.get('grant_type') !== 'client_credentials' ||
        form.get('client_id') !== CLIENT_ID ||
        form.get('client_secret') !== CLIENT_SECRET
      ) {
        return send(res, 401, sellsyError(401, 'invalid client'));
      }
      const token = `tok-${++fake.tokensIssued}`;
      fake.validTokens.add(token);
      return send(res, 200, { token_type: 'Bearer', expires_in: 3600, access_token: token });
    }
    if (!path.startsWith('/v2/')) return send(res, 404, sellsyError(404, 'no route'));

    const auth = /^Bearer (.+)$/.exec(headers.authorization || '');
    if (!auth || !fake.validTokens.has(auth[1])) return send(res, 401, sellsyError(401, 'invalid token'));
    const scripted = fake.apiReplies.shift();
    if (scripted) return send(res, scripted.status, scripted.body, scripted.headers);

    const estimate = /^\/v2\/estimates\/([^/]+)$/.exec(path);
    if (method === 'GET' && estimate) {
      const found = fake.estimates.get(decodeURIComponent(estimate[1]));
      return found ? send(res, 200, found) : send(res, 404, sellsyError(404, 'Estimate not found'));
    }
    if (method === 'POST' && path === '/v2/invoices') {
      const reply = fake.invoiceReplies.shift();
      if (reply) return send(res, reply.status, reply.body, reply.headers);
      return send(res, 201, { id: INVOICE_ID, status: 'draft', parent: body.parent });
    }
    return send(res, 404, sellsyError(404, 'no route'));
  }

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  fake.apiBase = `http://127.0.0.1:${port}/v2`;
  fake.tokenUrl = `http://127.0.0.1:${port}/oauth2/access-tokens`;
  fake.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    });
  return fake;
}

module.exports = { startFakeSellsy, CLIENT_ID, CLIENT_SECRET, INVOICE_ID, sellsyError };
