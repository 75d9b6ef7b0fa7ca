"""Tickets: shows, tiers, holds without oversell, tickets, viewing tokens.

- ``ticketing.model``: the wire-free values (``Show``, ``Tier``, ``Order``, ``Ticket``) and the
  pure rules (prices, sales windows, what is left of a quota);
- ``ticketing.tables``: the schema (created by ``server/migrations``);
- ``ticketing.catalog``: shows and tiers, read and written;
- ``ticketing.sales``: holds, orders and tickets; the only code that counts a tier's quota,
  always under the tier's lock, in the transaction that writes;
- ``ticketing.tokens``: signed, expiring viewing tokens (checked without the database).

This package imports ``payments`` only (DESIGN.md); the server wires it to payments'
checkout through its router.
"""
