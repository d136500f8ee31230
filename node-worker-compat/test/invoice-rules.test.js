'use strict';

// Pure rules: event filter, invoice body mapping, Retry-After parsing.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { classifyEvent, buildInvoiceBody } = require('../lib/invoice');
const { parseRetryAfter } = require('../lib/sellsy-api');
const { event, estimate, expectedInvoiceBody } = require('./support/fixtures');

test('classifyEvent keeps docslog step events on estimates, case-insensitively', () => {
  assert.deepEqual(classifyEvent(event()), { trigger: true, corpid: '90812', estimateId: '48213377' });
  assert.equal(classifyEvent(event({ eventType: 'DocsLog', relatedtype: 'Estimate', event: 'STEP' })).trigger, true);
  assert.equal(classifyEvent(event({ relatedid: 48213377 })).estimateId, '48213377');
  assert.equal(classifyEvent(event({ corpid: undefined })).corpid, 'unknown');
});

test('classifyEvent rejects everything else with a reason', () => {
  const cases = [
    [event({ eventType: 'thirdlog' }), /eventType thirdlog/],
    [event({ relatedtype: 'invoice' }), /relatedtype invoice/],
    [event({ event: 'emailsent' }), /event emailsent is not a trigger/],
    [event({ relatedid: '12/../34' }), /invalid relatedid/],
    [event({ relatedid: undefined }), /invalid relatedid/],
    [null, /no event data/],
  ];
  for (const [data, reason] of cases) {
    const got = classifyEvent(data);
    assert.equal(got.trigger, false);
    assert.match(got.reason, reason);
  }
  // '*' restores the POC's "any docslog event" behaviour.
  assert.equal(classifyEvent(event({ event: 'emailsent' }), '*').trigger, true);
});

test('buildInvoiceBody maps parent, related, rows, currency, subject, discount', () => {
  assert.deepEqual(buildInvoiceBody(estimate(), '48213377'), expectedInvoiceBody());
});

test('buildInvoiceBody tolerates a sparse estimate', () => {
  assert.deepEqual(buildInvoiceBody({ id: 7, status: 'accepted' }, '7'), {
    parent: { type: 'estimate', id: 7 },
    related: [],
    rows: [],
  });
});

test('parseRetryAfter reads seconds and HTTP dates', () => {
  assert.equal(parseRetryAfter('1'), 1000);
  assert.equal(parseRetryAfter(' 30 '), 30000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  const now = Date.parse('2024-11-24T10:00:00Z');
  assert.equal(parseRetryAfter('Sun, 24 Nov 2024 10:00:05 GMT', now), 5000);
});
