'use strict';

// Pure business rules of the invoice worker: which Sellsy events are worth a
// look, and how an estimate (API V2 EstimateOne) becomes an InvoiceCreate body.
// See /work/shared/reference/sellsy.md §4 and §5.4.

/** Entries of estimate.related that InvoiceCreate.related accepts (§5.4). */
const RELATED_TYPES = new Set(['company', 'individual', 'contact', 'opportunity']);

/**
 * Row fields Sellsy computes or owns: sending them back is at best ignored, at
 * worst a 400 (the POC's first attempts). Everything else is copied as is, so
 * catalog links, comments, titles and sub-totals survive (§5.3, §5.4).
 */
const READ_ONLY_ROW_FIELDS = new Set([
  'id',
  'amounts',
  'amount_tax_inc',
  'amount_tax_exc',
  'tax_amount',
  'tax_rate',
  'tax_label',
  'total',
  'created',
  'updated',
]);

/** Statuses meaning the estimate has already been (partly) invoiced. */
const INVOICED_STATUSES = new Set(['invoiced', 'partialinvoiced']);

const lower = (value) => (value == null ? '' : String(value).toLowerCase());

/**
 * Decides whether a job's Sellsy event may lead to an invoice.
 * Only the estimate's status read from the API decides in the end; this just
 * filters out the events that can never qualify.
 *
 * @param {object} data  the Sellsy event (job.data)
 * @param {string[]|'*'} triggerEvents  lower-case `event` values that count, or '*'
 * @returns {{trigger: true, corpid: string, estimateId: string} | {trigger: false, reason: string}}
 */
function classifyEvent(data, triggerEvents = ['step']) {
  if (!data || typeof data !== 'object') return { trigger: false, reason: 'no event data' };
  if (lower(data.eventType) !== 'docslog') {
    return { trigger: false, reason: `eventType ${data.eventType} is not docslog` };
  }
  if (lower(data.relatedtype) !== 'estimate') {
    return { trigger: false, reason: `relatedtype ${data.relatedtype} is not estimate` };
  }
  // The POC fired on every docslog event of the estimate (emailsent,
  // paymentadd...); only a status change can make an estimate accepted.
  if (triggerEvents !== '*' && !triggerEvents.includes(lower(data.event))) {
    return { trigger: false, reason: `event ${data.event} is not a trigger` };
  }
  // relatedid arrives as a string or a number; it goes into a URL path and a
  // Redis key, so accept digits only.
  const estimateId = data.relatedid == null ? '' : String(data.relatedid).trim();
  if (!/^\d+$/.test(estimateId)) {
    return { trigger: false, reason: `invalid relatedid ${JSON.stringify(data.relatedid)}` };
  }
  // Ids are unique per Sellsy account only (§3), so corpid is part of every
  // key. A missing one still gets a stable, visible key segment.
  const corpid = data.corpid == null || data.corpid === '' ? 'unknown' : String(data.corpid);
  return { trigger: true, corpid, estimateId };
}

function copyRow(row) {
  const out = {};
  for (const [key, value] of Object.entries(row)) {
    if (READ_ONLY_ROW_FIELDS.has(key) || key.startsWith('_')) continue;
    // A row discount's `total` is computed; its type/value are the input.
    if (key === 'discount' && value && typeof value === 'object') {
      const { total, ...rest } = value;
      out[key] = rest;
      continue;
    }
    out[key] = value;
  }
  return out;
}

/**
 * Builds the POST /invoices body from the estimate as read from the API.
 *
 * Mapping (deliberately minimal):
 *   parent   = {type: "estimate", id: <estimate id as a number>}
 *   related  = estimate.related entries of type company|individual|contact|opportunity, as {id, type}
 *   rows     = estimate.rows, same types, read-only/computed fields dropped
 *   currency, subject = copied when present
 *   discount = the estimate's global discount {type, value} when present (else totals would differ)
 * Not copied: `date` (an invoice is dated the day it is issued; copying the
 * estimate's date would backdate it, so Sellsy's default applies), numbers,
 * amounts, status, addresses and everything else Sellsy derives.
 */
function buildInvoiceBody(estimate, estimateId) {
  const body = {
    parent: { type: 'estimate', id: Number(estimateId) },
    related: (Array.isArray(estimate.related) ? estimate.related : [])
      .filter((entry) => entry && RELATED_TYPES.has(entry.type))
      .map((entry) => ({ id: entry.id, type: entry.type })),
    rows: (Array.isArray(estimate.rows) ? estimate.rows : []).map(copyRow),
  };
  if (estimate.currency != null) body.currency = estimate.currency;
  if (estimate.subject != null) body.subject = estimate.subject;
  const discount = estimate.discount;
  if (discount && typeof discount === 'object' && discount.type != null && discount.value != null) {
    body.discount = { type: discount.type, value: discount.value };
  }
  return body;
}

module.exports = { classifyEvent, buildInvoiceBody, INVOICED_STATUSES, READ_ONLY_ROW_FIELDS };
