"""Money: the royalty ledger (and, later, payment providers and payouts).

The ledger is double-entry and append-only (DESIGN.md, money model):

- ``payments.ledger.Ledger``: the async API other packages call (``record_sale``,
  ``record_tip``, ``record_boost``, ``record_refund``, ``record_dispute_step``,
  ``record_advance``, ``record_payout_step``, ``record_performance``, and the batch
  ``record_tips``); every call takes an idempotency key;
- ``payments.royalty``, ``payments.reversals``, ``payments.payouts``, ``payments.splits``:
  the rules as pure functions (legs in, legs out);
- ``payments.store``: the one write path (locks, idempotency, bulk writes);
- ``payments.reports``: balances, statements (JSON, CSV), setlists, the invariant check;
- ``payments.tables``: the schema (created by ``server/migrations/versions/0002_ledger.py``).
"""
