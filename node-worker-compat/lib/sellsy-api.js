'use strict';

// Minimal Sellsy API V2 client for the invoice worker: an OAuth2
// client_credentials token cache plus a JSON request helper whose errors carry
// what the worker needs to decide between retry, rate limit and give up.

// Refresh this long before the token's announced expiry, so a request never
// leaves with a token that dies in flight.
const REFRESH_MARGIN_MS = 60_000;
// expires_in is documented, but the spec contradicts itself on its value
// (fact sheet §5.2); fall back to the shorter one if it is ever missing.
const DEFAULT_EXPIRES_IN_S = 3600;

/** Sellsy answered with a non-2xx status. */
class SellsyApiError extends Error {
  constructor(method, url, status, body, retryAfterMs) {
    super(`Sellsy ${method} ${pathOf(url)} answered ${status}${describeBody(body)}`);
    this.name = 'SellsyApiError';
    this.status = status;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

/** No HTTP answer at all (connection refused, reset, timeout). Retryable. */
class SellsyNetworkError extends Error {
  constructor(method, url, cause) {
    super(`Sellsy ${method} ${pathOf(url)} failed: ${(cause && cause.message) || cause}`);
    this.name = 'SellsyNetworkError';
    this.cause = cause;
  }
}

function pathOf(url) {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

// Sellsy errors are {"error":{"code","message","context","details"}} (§5.6);
// `details` names the fields a 400 rejected, which is what an operator needs.
function describeBody(body) {
  const error = body && typeof body === 'object' ? body.error : undefined;
  if (!error || typeof error !== 'object') return '';
  let text = error.message ? `: ${error.message}` : '';
  if (error.details && typeof error.details === 'object') {
    text += ` ${JSON.stringify(error.details).slice(0, 500)}`;
  }
  return text;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined if absent/bad. */
function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value === '') return undefined;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

async function readBody(res) {
  const text = await res.text();
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * @param {object} opts
 * @param {string} opts.clientId
 * @param {string} opts.clientSecret
 * @param {string} [opts.apiBase]   e.g. https://api.sellsy.com/v2 (no trailing slash needed)
 * @param {string} [opts.tokenUrl]  e.g. https://login.sellsy.com/oauth2/access-tokens
 * @param {number} [opts.timeoutMs] per HTTP request
 */
function createSellsyApi({
  clientId,
  clientSecret,
  apiBase = 'https://api.sellsy.com/v2',
  tokenUrl = 'https://login.sellsy.com/oauth2/access-tokens',
  timeoutMs = 15_000,
  fetch = globalThis.fetch,
  now = Date.now,
}) {
  const base = apiBase.replace(/\/+$/, '');
  let cached = null; // {token, expiresAt}
  let inflight = null; // single-flight token request shared by concurrent jobs

  async function send(method, url, init) {
    let res;
    let body;
    try {
      res = await fetch(url, { method, ...init, signal: AbortSignal.timeout(timeoutMs) });
      body = await readBody(res);
    } catch (err) {
      throw new SellsyNetworkError(method, url, err);
    }
    return { res, body };
  }

  async function requestToken() {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
    });
    const { res, body } = await send('POST', tokenUrl, {
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    });
    if (!res.ok) {
      throw new SellsyApiError('POST', tokenUrl, res.status, body, parseRetryAfter(res.headers.get('retry-after')));
    }
    if (!body || typeof body.access_token !== 'string') {
      throw new SellsyApiError('POST', tokenUrl, res.status, { error: { message: 'no access_token in answer' } });
    }
    const expiresIn = Number(body.expires_in) > 0 ? Number(body.expires_in) : DEFAULT_EXPIRES_IN_S;
    cached = { token: body.access_token, expiresAt: now() + expiresIn * 1000 };
    return cached.token;
  }

  function getToken() {
    if (cached && now() < cached.expiresAt - REFRESH_MARGIN_MS) return Promise.resolve(cached.token);
    if (!inflight) inflight = requestToken().finally(() => (inflight = null));
    return inflight;
  }

  // Drop the token only if it is still the one that was refused: another job
  // may already have replaced it.
  function invalidate(token) {
    if (cached && cached.token === token) cached = null;
  }

  async function request(method, path, payload) {
    const url = base + path;
    const call = (token) =>
      send(method, url, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: payload === undefined ? undefined : JSON.stringify(payload),
      });

    let token = await getToken();
    let { res, body } = await call(token);
    if (res.status === 401) {
      // Revoked or expired early: refresh once and retry once (§5.6).
      invalidate(token);
      token = await getToken();
      ({ res, body } = await call(token));
    }
    if (!res.ok) {
      throw new SellsyApiError(method, url, res.status, body, parseRetryAfter(res.headers.get('retry-after')));
    }
    return body;
  }

  return {
    getToken,
    request,
    getEstimate: (id) => request('GET', `/estimates/${encodeURIComponent(id)}`),
    createInvoice: (invoice) => request('POST', '/invoices', invoice),
  };
}

module.exports = { createSellsyApi, SellsyApiError, SellsyNetworkError, parseRetryAfter };
