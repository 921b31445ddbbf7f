-- A pay link pasted into a chat may be opened more than once. eSewa and
-- Fonepay take each reference once (payments.md pitfalls: a retry needs a
-- new transaction_uuid / PRN), so opening a link that was opened before
-- starts a new attempt: a new payments row that takes over the link's
-- token, while the old attempt is kept (and reconciled) until it expires,
-- in case the customer paid it after all.
ALTER TABLE payments
	ADD COLUMN opened_at timestamptz,
	ADD COLUMN superseded_by text REFERENCES payments (id)
		DEFERRABLE INITIALLY DEFERRED;
