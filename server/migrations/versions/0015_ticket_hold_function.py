"""The ticket hold as one server-side call on PostgreSQL (issue 10's on-sale rush):
``notalabel_ticket_hold`` locks the tier's row, counts valid tickets and live holds and
inserts the hold, the same steps ``ticketing.sales.Sales.hold`` ran as five round trips, so
the tier's lock is held for the time the database takes, not for three round trips through a
busy event loop. Each statement of the (volatile) function reads a fresh snapshot, so the
count after the lock sees every hold committed before the lock was granted. SQLite: nothing
(its single writer serializes holds already).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

HOLD = """
CREATE OR REPLACE FUNCTION notalabel_ticket_hold(
    p_tier text, p_show text, p_price bigint, p_min_price bigint,
    p_sales_start double precision, p_sales_end double precision,
    p_order text, p_user integer, p_amount bigint, p_currency text,
    p_expires double precision, p_now double precision, p_held text, p_valid text)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_show text;
    v_price bigint;
    v_min_price bigint;
    v_quantity integer;
    v_sales_start double precision;
    v_sales_end double precision;
    v_taken bigint;
BEGIN
    SELECT show_id, price, min_price, quantity, sales_start, sales_end
      INTO v_show, v_price, v_min_price, v_quantity, v_sales_start, v_sales_end
      FROM tiers WHERE id = p_tier FOR UPDATE;
    IF NOT FOUND OR v_show <> p_show OR v_price <> p_price
       OR v_min_price IS DISTINCT FROM p_min_price
       OR v_sales_start IS DISTINCT FROM p_sales_start
       OR v_sales_end IS DISTINCT FROM p_sales_end THEN
        RETURN 'changed';
    END IF;
    IF v_quantity IS NOT NULL THEN
        SELECT (SELECT count(*) FROM tickets WHERE tier_id = p_tier AND status = p_valid)
             + (SELECT count(*) FROM ticket_orders
                 WHERE tier_id = p_tier AND status = p_held AND expires_at > p_now)
          INTO v_taken;
        IF v_taken >= v_quantity THEN
            RETURN 'sold_out';
        END IF;
    END IF;
    INSERT INTO ticket_orders (id, show_id, tier_id, user_id, amount, currency, status,
                               expires_at, ticket_id, created_at, updated_at)
    VALUES (p_order, p_show, p_tier, p_user, p_amount, p_currency, p_held,
            p_expires, NULL, p_now, p_now);
    RETURN 'held';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(HOLD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS notalabel_ticket_hold(text, text, bigint, bigint, double precision, "
                   "double precision, text, integer, bigint, text, double precision, double precision, text, text)")
