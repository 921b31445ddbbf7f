-- Every merchant's gateway accounts, for the worker's re-sealing sweep
-- after a master-key rotation (README): ids only; the worker scopes itself
-- to each merchant before it reads a row.
CREATE FUNCTION payment_gateways_all()
RETURNS TABLE (merchant_id text, provider text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
	SELECT g.merchant_id, g.provider FROM payment_gateways g
	ORDER BY g.merchant_id, g.provider
$$;

REVOKE ALL ON FUNCTION payment_gateways_all() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payment_gateways_all() TO commerce_app;
