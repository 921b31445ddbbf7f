-- Payment gateways, payments and their events, refunds, and the outbox the
-- worker drains. Secrets are sealed (AES-256-GCM) before they get here.

CREATE TABLE payment_gateways (
	merchant_id	text NOT NULL REFERENCES merchants (id),
	provider	text NOT NULL CHECK (provider IN ('esewa', 'khalti', 'fonepay')),
	enabled		boolean NOT NULL DEFAULT true,
	test_mode	boolean NOT NULL DEFAULT true,
	public_config	jsonb NOT NULL,		-- merchantId, publicKey, apiUsername...
	sealed_secrets	text NOT NULL,		-- seal(JSON of the secrets)
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (merchant_id, provider)
);

CREATE TABLE payments (
	id		text PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	order_id	text NOT NULL REFERENCES orders (id),
	provider	text NOT NULL CHECK (provider IN ('esewa', 'khalti', 'fonepay')),
	-- Our id for this attempt at the gateway (eSewa transaction_uuid,
	-- Khalti purchase_order_id, Fonepay PRN).
	reference	text NOT NULL,
	provider_ref	text,			-- Khalti pidx, then the gateway's transaction id
	status		text NOT NULL DEFAULT 'initiated' CHECK (status IN
			    ('initiated', 'pending', 'paid', 'failed', 'cancelled',
			     'expired', 'mismatch', 'refunded', 'partially_refunded')),
	amount_paisa	bigint NOT NULL CHECK (amount_paisa > 0),
	refunded_paisa	bigint NOT NULL DEFAULT 0 CHECK (refunded_paisa >= 0),
	pay_token	text NOT NULL UNIQUE,	-- the /pay/<token> link
	redirect	jsonb,			-- how the browser reaches the gateway
	flag		text,			-- why a human should look (mismatch)
	checks		integer NOT NULL DEFAULT 0,
	next_check_at	timestamptz,		-- the reconciler's next look
	expires_at	timestamptz NOT NULL,
	paid_at		timestamptz,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	UNIQUE (provider, reference)
);
-- An order is paid by one payment at most.
CREATE UNIQUE INDEX payments_one_paid ON payments (order_id) WHERE status = 'paid';
CREATE INDEX payments_list ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_due ON payments (next_check_at)
	WHERE status IN ('initiated', 'pending');

-- Every callback, webhook and status answer, raw, as received. A duplicate
-- delivery of the same provider event is kept once (dedupe_key).
CREATE TABLE payment_events (
	id		bigserial PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	payment_id	text NOT NULL REFERENCES payments (id),
	source		text NOT NULL CHECK (source IN
			    ('initiate', 'return', 'webhook', 'status', 'refund')),
	dedupe_key	text,
	raw		text NOT NULL,
	note		text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	UNIQUE (payment_id, dedupe_key)
);
CREATE INDEX payment_events_payment ON payment_events (payment_id, id);

CREATE TABLE refunds (
	id		text PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	payment_id	text NOT NULL REFERENCES payments (id),
	amount_paisa	bigint NOT NULL CHECK (amount_paisa > 0),
	mode		text NOT NULL CHECK (mode IN ('api', 'manual')),
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Work for the worker: sent with retries and backoff, dead after
-- max_attempts, waiting while it cannot be done yet (an operator sees and
-- replays both).
CREATE TABLE outbox (
	id		bigserial PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	kind		text NOT NULL,
	dedupe_key	text UNIQUE,
	payload		jsonb NOT NULL,
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'running', 'done', 'waiting', 'dead')),
	attempts	integer NOT NULL DEFAULT 0,
	max_attempts	integer NOT NULL DEFAULT 10,
	next_attempt_at	timestamptz NOT NULL DEFAULT now(),
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['payment_gateways', 'payments',
	    'payment_events', 'refunds', 'outbox']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY merchant_rows ON %I '
		    'USING (merchant_id = current_merchant()) '
		    'WITH CHECK (merchant_id = current_merchant())', t);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO commerce_app', t);
	END LOOP;
END
$$;
GRANT USAGE ON SEQUENCE payment_events_id_seq, outbox_id_seq TO commerce_app;

-- Callers that know a payment but not yet its merchant (the gateway's
-- return, a webhook, the /pay link, the reconciler) find it here; each
-- sets the session's merchant scope to the payment's merchant.
CREATE FUNCTION payment_locate(p_provider text, p_reference text)
RETURNS TABLE (merchant_id text, payment_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	m text;
	p text;
BEGIN
	SELECT x.merchant_id, x.id INTO m, p FROM payments x
	WHERE x.provider = p_provider AND x.reference = p_reference;
	PERFORM set_config('app.merchant_id', coalesce(m, ''), false);
	IF m IS NOT NULL THEN
		merchant_id := m;
		payment_id := p;
		RETURN NEXT;
	END IF;
END
$$;

CREATE FUNCTION payment_by_token(p_token text)
RETURNS TABLE (merchant_id text, payment_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	m text;
	p text;
BEGIN
	SELECT x.merchant_id, x.id INTO m, p FROM payments x
	WHERE x.pay_token = p_token;
	PERFORM set_config('app.merchant_id', coalesce(m, ''), false);
	IF m IS NOT NULL THEN
		merchant_id := m;
		payment_id := p;
		RETURN NEXT;
	END IF;
END
$$;

-- The reconciler's and the outbox's work across merchants: ids only; the
-- worker then scopes itself to each item's merchant.
CREATE FUNCTION payments_due(p_limit integer)
RETURNS TABLE (merchant_id text, payment_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
	SELECT p.merchant_id, p.id FROM payments p
	WHERE p.status IN ('initiated', 'pending') AND p.next_check_at <= now()
	ORDER BY p.next_check_at LIMIT p_limit
$$;

CREATE FUNCTION outbox_due(p_limit integer)
RETURNS TABLE (merchant_id text, job_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
	SELECT o.merchant_id, o.id FROM outbox o
	WHERE o.status = 'pending' AND o.next_attempt_at <= now()
	ORDER BY o.next_attempt_at LIMIT p_limit
$$;

REVOKE ALL ON FUNCTION payment_locate(text, text), payment_by_token(text),
	payments_due(integer), outbox_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payment_locate(text, text), payment_by_token(text),
	payments_due(integer), outbox_due(integer) TO commerce_app;
