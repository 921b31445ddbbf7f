-- Raw webhook deliveries, and the housekeeping the worker does across
-- merchants.

-- Every webhook delivery, kept as received before anything acts on it: the
-- bytes of the body, who sent it and the seed signature headers as they
-- came. verdict says what became of it ('received' until decided; then an
-- error code such as 'invalid_signature', 'replayed', 'unavailable',
-- 'not_found', or 'accepted:<settle result>'). A delivery is written before
-- its merchant is known, so no merchant policy applies: the application may
-- add a row and record its verdict, and read nothing but the id it got.
-- Operators read it as the owner (scripts/psql).
CREATE TABLE webhook_receipts (
	id		bigserial PRIMARY KEY,
	kind		text NOT NULL,		-- 'payment' (later: messaging, logistics)
	provider	text NOT NULL,		-- 'esewa', 'khalti', 'fonepay'
	content_type	text,
	x_signature	text,			-- the seed headers as sent (clamped)
	x_timestamp	text,
	remote_addr	text,
	request_id	text,
	body		bytea NOT NULL,		-- the bytes received
	received_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	verdict		text NOT NULL DEFAULT 'received',
	http_status	integer,		-- what the sender was answered
	merchant_id	text REFERENCES merchants (id),
	payment_id	text REFERENCES payments (id),
	decided_at	timestamptz
);
CREATE INDEX webhook_receipts_received ON webhook_receipts (received_at);
CREATE INDEX webhook_receipts_payment ON webhook_receipts (payment_id)
	WHERE payment_id IS NOT NULL;

REVOKE ALL ON webhook_receipts FROM PUBLIC;
GRANT INSERT ON webhook_receipts TO commerce_app;
-- UPDATE ... WHERE id = $1 and INSERT ... RETURNING id need to read id.
GRANT SELECT (id) ON webhook_receipts TO commerce_app;
GRANT UPDATE (verdict, http_status, merchant_id, payment_id, decided_at)
	ON webhook_receipts TO commerce_app;
GRANT USAGE ON SEQUENCE webhook_receipts_id_seq TO commerce_app;

-- Idempotency keys live 24 hours (docs/api.md); the worker deletes those
-- older than p_hours, at most p_limit rows a call, and calls again while a
-- call returns p_limit. Returns how many rows went.
CREATE FUNCTION idempotency_keys_expire(p_hours integer, p_limit integer)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH gone AS (
		DELETE FROM idempotency_keys WHERE ctid IN (
			SELECT ctid FROM idempotency_keys
			WHERE created_at < now() - make_interval(hours => p_hours)
			LIMIT p_limit)
		RETURNING 1)
	SELECT count(*) FROM gone
$$;

-- Jobs left 'running' by a worker that died mid-job (nothing has touched
-- them for p_stale_seconds) go back to 'pending', or to 'dead' when that
-- attempt was their last. Returns how many were recovered.
CREATE FUNCTION outbox_recover(p_stale_seconds integer)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH back AS (
		UPDATE outbox SET
		    status = CASE WHEN attempts >= max_attempts THEN 'dead'
			ELSE 'pending' END,
		    next_attempt_at = now(),
		    last_error = 'the worker running it stopped before it '
			'finished',
		    updated_at = clock_timestamp()
		WHERE status = 'running' AND updated_at <
		    now() - make_interval(secs => p_stale_seconds)
		RETURNING 1)
	SELECT count(*) FROM back
$$;

REVOKE ALL ON FUNCTION idempotency_keys_expire(integer, integer),
	outbox_recover(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_keys_expire(integer, integer),
	outbox_recover(integer) TO commerce_app;
