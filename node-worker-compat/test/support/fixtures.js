'use strict';

// Shared Sellsy-shaped test data (field sets from the fact sheet §1.2, §5.3).

/** A docslog step event on estimate 48213377 of account 90812. */
const event = (over = {}) => ({
  eventType: 'docslog',
  timestamp: '1732400123',
  event: 'step',
  relatedid: '48213377',
  relatedtype: 'estimate',
  ownerid: '204551',
  ownertype: 'staff',
  corpid: '90812',
  ...over,
});

/** GET /v2/estimates/:id answer, with read-only fields that must not be sent back. */
const estimate = (over = {}) => ({
  id: 48213377,
  number: 'DEV-2024-01137',
  status: 'accepted',
  date: '2024-11-23',
  expiry_date: '2024-12-23',
  subject: 'Refonte site e-commerce',
  currency: 'EUR',
  related: [
    { id: 7311820, type: 'company' },
    { id: 4411, type: 'contact' },
    { id: 9922, type: 'opportunity' },
    { id: 1, type: 'staff' }, // not accepted by InvoiceCreate: filtered out
  ],
  amounts: { total_raw_excl_tax: '250.00', total_incl_tax: '300.00' },
  discount: { type: 'percent', value: '5', total: '12.50' },
  rows: [
    {
      id: 501,
      type: 'catalog',
      related: { id: 10, type: 'product', declination_id: null },
      reference: 'WID-1',
      description: 'Widget',
      unit_amount: '100.00',
      quantity: '2',
      tax_id: 3,
      discount: { type: 'percent', value: '10', total: '20.00' },
      amount_tax_exc: '180.00',
      amount_tax_inc: '216.00',
      tax_rate: '20.00',
      tax_amount: '36.00',
      tax_label: 'TVA 20%',
      created: '2024-11-20T10:00:00+01:00',
      updated: '2024-11-21T10:00:00+01:00',
    },
    { id: 502, type: 'comment', text: 'Livraison sous 15 jours' },
    {
      id: 503,
      type: 'single',
      reference: 'SRV',
      description: 'Mise en service',
      unit_amount: '70.00',
      quantity: '1',
      tax_id: 3,
      amounts: { total: '70.00' },
    },
  ],
  ...over,
});

/** What POST /v2/invoices must receive for estimate(). */
const expectedInvoiceBody = () => ({
  parent: { type: 'estimate', id: 48213377 },
  related: [
    { id: 7311820, type: 'company' },
    { id: 4411, type: 'contact' },
    { id: 9922, type: 'opportunity' },
  ],
  rows: [
    {
      type: 'catalog',
      related: { id: 10, type: 'product', declination_id: null },
      reference: 'WID-1',
      description: 'Widget',
      unit_amount: '100.00',
      quantity: '2',
      tax_id: 3,
      discount: { type: 'percent', value: '10' },
    },
    { type: 'comment', text: 'Livraison sous 15 jours' },
    {
      type: 'single',
      reference: 'SRV',
      description: 'Mise en service',
      unit_amount: '70.00',
      quantity: '1',
      tax_id: 3,
    },
  ],
  currency: 'EUR',
  subject: 'Refonte site e-commerce',
  discount: { type: 'percent', value: '5' },
});

module.exports = { event, estimate, expectedInvoiceBody };
