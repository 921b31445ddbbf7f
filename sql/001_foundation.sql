-- Merchants, login sessions and API keys, with row-level security.
--
-- The application connects as commerce_app, which owns nothing, so every
-- policy applies to it. The merchant of the request is the session setting
-- app.merchant_id; with no setting, no merchant row is visible. The only
-- ways around the policies are the two SECURITY DEFINER functions below,
-- which the application needs before it knows the merchant: resolving a
-- credential hash, and looking up an email at login.

CREATE TABLE merchants (
	id		text PRIMARY KEY,
	business_name	text NOT NULL CHECK (length(business_name) BETWEEN 1 AND 120),
	email		text NOT NULL CHECK (email = lower(email)),
	phone		text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
	password_hash	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX merchants_email_key ON merchants (email);

CREATE TABLE sessions (
	id		text PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	token_hash	text NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	revoked_at	timestamptz
);
CREATE INDEX sessions_merchant ON sessions (merchant_id);

CREATE TABLE api_keys (
	id		text PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
	prefix		text NOT NULL,
	key_hash	text NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz,
	revoked_at	timestamptz
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id, created_at DESC, id DESC);

-- The merchant of the current request, or NULL.
CREATE FUNCTION current_merchant() RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT nullif(current_setting('app.merchant_id', true), '')
$$;

ALTER TABLE merchants ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY merchant_self ON merchants
	USING (id = current_merchant()) WITH CHECK (id = current_merchant());
CREATE POLICY merchant_rows ON sessions
	USING (merchant_id = current_merchant())
	WITH CHECK (merchant_id = current_merchant());
CREATE POLICY merchant_rows ON api_keys
	USING (merchant_id = current_merchant())
	WITH CHECK (merchant_id = current_merchant());

-- Resolves a credential's SHA-256 hash to its merchant and sets the scope
-- of this database session to that merchant (or clears it). Touches an API
-- key's last_used_at at most once a minute.
CREATE FUNCTION auth_resolve(p_hash text)
RETURNS TABLE (merchant_id text, credential_id text, kind text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	m text;
	c text;
	k text;
BEGIN
	SELECT s.merchant_id, s.id, 'session' INTO m, c, k
	FROM sessions s
	WHERE s.token_hash = p_hash AND s.revoked_at IS NULL
	  AND s.expires_at > now();
	IF NOT FOUND THEN
		UPDATE api_keys a SET last_used_at = now()
		WHERE a.key_hash = p_hash AND a.revoked_at IS NULL
		  AND (a.last_used_at IS NULL
		       OR a.last_used_at < now() - interval '1 minute');
		SELECT a.merchant_id, a.id, 'api_key' INTO m, c, k
		FROM api_keys a
		WHERE a.key_hash = p_hash AND a.revoked_at IS NULL;
	END IF;
	PERFORM set_config('app.merchant_id', coalesce(m, ''), false);
	IF m IS NOT NULL THEN
		merchant_id := m;
		credential_id := c;
		kind := k;
		RETURN NEXT;
	END IF;
END
$$;

-- The merchant id and password hash for an email, for login only.
CREATE FUNCTION login_lookup(p_email text)
RETURNS TABLE (id text, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
	SELECT m.id, m.password_hash FROM merchants m WHERE m.email = p_email
$$;

REVOKE ALL ON FUNCTION auth_resolve(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION login_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_resolve(text), login_lookup(text),
	current_merchant() TO commerce_app;
GRANT SELECT, INSERT, UPDATE ON merchants, sessions, api_keys TO commerce_app;
