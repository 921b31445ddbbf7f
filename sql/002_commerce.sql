-- Products, customers and orders: the commerce core every integration
-- builds on. Money is integer paisa. Every row carries its merchant and
-- the same row-level security as sql/001.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
	id		text PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	description	text NOT NULL DEFAULT '',
	price_paisa	bigint NOT NULL CHECK (price_paisa >= 0),
	sku		text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
	stock		integer NOT NULL CHECK (stock >= 0),
	image_urls	text[] NOT NULL DEFAULT '{}',
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	deleted_at	timestamptz
);
-- A deleted product keeps its row (orders name it) and frees its SKU.
CREATE UNIQUE INDEX products_sku_key ON products (merchant_id, sku)
	WHERE deleted_at IS NULL;
CREATE INDEX products_list ON products (merchant_id, created_at DESC, id DESC)
	WHERE deleted_at IS NULL;
CREATE INDEX products_name_search ON products USING gin (name gin_trgm_ops);

CREATE TABLE customers (
	id		text PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	first_name	text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 80),
	last_name	text NOT NULL DEFAULT '' CHECK (length(last_name) <= 80),
	phone		text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
	email		text CHECK (email = lower(email)),
	addresses	jsonb NOT NULL DEFAULT '[]',
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- "Match customer by phone" is one lookup on this index.
CREATE UNIQUE INDEX customers_phone_key ON customers (merchant_id, phone);
CREATE INDEX customers_list ON customers (merchant_id, created_at DESC, id DESC);

-- The last order number handed out, per merchant and year.
CREATE TABLE order_counters (
	merchant_id	text NOT NULL REFERENCES merchants (id),
	year		integer NOT NULL,
	last_number	integer NOT NULL,
	PRIMARY KEY (merchant_id, year)
);

CREATE TABLE orders (
	id		text PRIMARY KEY,
	merchant_id	text NOT NULL REFERENCES merchants (id),
	order_number	text NOT NULL,
	customer_id	text NOT NULL REFERENCES customers (id),
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'confirmed', 'packed', 'shipped',
			     'delivered', 'cancelled', 'returned')),
	payment_method	text NOT NULL CHECK (payment_method IN
			    ('cod', 'esewa', 'khalti', 'fonepay')),
	payment_status	text NOT NULL DEFAULT 'pending' CHECK (payment_status IN
			    ('pending', 'paid', 'failed', 'refunded',
			     'partially_refunded')),
	subtotal_paisa	bigint NOT NULL CHECK (subtotal_paisa >= 0),
	shipping_paisa	bigint NOT NULL DEFAULT 0 CHECK (shipping_paisa >= 0),
	discount_paisa	bigint NOT NULL DEFAULT 0 CHECK (discount_paisa >= 0),
	total_paisa	bigint NOT NULL CHECK (total_paisa >= 0 AND total_paisa =
			    subtotal_paisa + shipping_paisa - discount_paisa),
	shipping_address jsonb NOT NULL,
	notes		text NOT NULL DEFAULT '',
	stock_restored	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	UNIQUE (merchant_id, order_number)
);
CREATE INDEX orders_list ON orders (merchant_id, created_at DESC, id DESC);
CREATE INDEX orders_customer ON orders (merchant_id, customer_id);

CREATE TABLE order_items (
	order_id	text NOT NULL REFERENCES orders (id),
	merchant_id	text NOT NULL REFERENCES merchants (id),
	position	integer NOT NULL,
	product_id	text NOT NULL REFERENCES products (id),
	name		text NOT NULL,
	sku		text NOT NULL,
	unit_price_paisa bigint NOT NULL CHECK (unit_price_paisa >= 0),
	quantity	integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
	PRIMARY KEY (order_id, position)
);

CREATE TABLE order_status_history (
	order_id	text NOT NULL REFERENCES orders (id),
	merchant_id	text NOT NULL REFERENCES merchants (id),
	seq		bigserial,
	from_status	text,
	to_status	text NOT NULL,
	note		text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (order_id, seq)
);

-- A create request's first response, replayed for a retry with the same
-- Idempotency-Key (and refused for the same key with another body).
CREATE TABLE idempotency_keys (
	merchant_id	text NOT NULL REFERENCES merchants (id),
	key		text NOT NULL,
	request_hash	text NOT NULL,
	status		integer,
	response	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['products', 'customers', 'order_counters',
	    'orders', 'order_items', 'order_status_history', 'idempotency_keys']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY merchant_rows ON %I '
		    'USING (merchant_id = current_merchant()) '
		    'WITH CHECK (merchant_id = current_merchant())', t);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO commerce_app', t);
	END LOOP;
END
$$;
GRANT DELETE ON idempotency_keys TO commerce_app;
GRANT USAGE ON SEQUENCE order_status_history_seq_seq TO commerce_app;
