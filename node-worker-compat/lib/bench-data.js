'use strict';

// The job data the benchmarks send, byte for byte what `examples/bench_data.rs` builds:
// the ~600-byte Sellsy event (distinct per `n`) and the 100-byte small job.

const SMALL_PAYLOAD = 'x'.repeat(100);

// A ~600-byte Sellsy estimate event in JSON mode with `relatedobject`, unique per `n`;
// keys in the order of the Rust `json!` (JSON.stringify keeps insertion order).
function event(n) {
  return {
    eventType: 'docslog', timestamp: '1732400123', event: 'step',
    relatedid: String(48213377 + n), relatedtype: 'estimate',
    ownerid: '204551', ownertype: 'staff', corpid: '90812',
    relatedobject: {
      id: 48213377 + n, number: 'DEV-2024-01137', status: 'accepted', date: '2024-11-23',
      currency: 'EUR', subject: 'Refonte site e-commerce', related: [{ id: 7311820, type: 'company' }],
      amounts: { total_raw_excl_tax: '12500.00', total_excl_tax: '12500.00', total_incl_tax: '15000.00' },
      assigned_staff_id: 204551, issuer_address_id: 1002334, decimal_number: { unit_price: 2, quantity: 2 },
    },
  };
}

// The 100-byte job of the earlier producer benchmarks.
const small = (i) => ({ i, payload: SMALL_PAYLOAD });

// The id the listener would give event `n`: 32 hex characters, as its dedup key.
const dedupId = (n) => n.toString(16).padStart(32, '0');

module.exports = { event, small, dedupId };

// `node lib/bench-data.js N` prints event(N) and the dedup id, for the test that
// compares them with the Rust ones.
if (require.main === module) {
  const n = Number(process.argv[2] || 0);
  process.stdout.write(JSON.stringify({ event: JSON.stringify(event(n)), dedup_id: dedupId(n) }) + '\n');
}
