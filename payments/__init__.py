"""Money: payment providers, checkouts and their webhooks, and the royalty ledger.

The ledger is double-entry and append-only (DESIGN.md, money model):

- ``payments.ledger.Ledger``: the async API other packages call (``record_sale``,
  ``record_tip``, ``record_boost``, ``record_refund``, ``record_dispute_step``,
  ``record_advance``, ``record_payout_step``, ``record_performance``, and the batch
  ``record_tips``); every call takes an idempotency key;
- ``payments.royalty``, ``payments.reversals``, ``payments.payouts``, ``payments.splits``:
  the rules as pure functions (legs in, legs out);
- ``payments.store``: the one write path (locks, idempotency, bulk writes);
- ``payments.reports``: balances, statements (JSON, CSV), setlists, the invariant check;
- ``payments.tables``: the schema (created by ``server/migrations/versions/0002_ledger.py`` and
  ``0008_payments.py``).

Money in (issue 9):

- ``payments.providers``: the ``PaymentProvider`` interface; ``providers.sandbox`` (test
  payments that behave like Stripe Checkout) and ``providers.stripe_checkout`` (the official
  library's ``StripeClient``);
- ``payments.signing`` and ``payments.events``: Stripe's webhook signatures and event shapes, pure;
- ``payments.checkout``: ``PaymentBook``, checkouts and what each webhook event does to the
  ledger, one database transaction per event (``Ledger.unit``).
"""
