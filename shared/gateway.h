/*
 * gateway.h: the payment gateways (eSewa ePay v2, Khalti KPG-2, Fonepay web
 * redirect) behind one interface, following ../shared/providers/payments.md.
 * Each gateway lives in its own file (gateway_esewa.c, gateway_khalti.c,
 * gateway_fonepay.c); gateway.c dispatches and holds the base URLs.
 *
 * Money crosses this interface as integer paisa; each gateway formats it
 * at the edge (eSewa and Fonepay sign rupee strings, Khalti takes paisa).
 * No function here touches the database or trusts a browser: callers pass
 * what was stored and decide what to record.
 */
#ifndef COMMERCE_GATEWAY_H
#define COMMERCE_GATEWAY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum provider {
	PROVIDER_ESEWA,
	PROVIDER_KHALTI,
	PROVIDER_FONEPAY,
	PROVIDER__MAX,
};

/* "esewa", "khalti", "fonepay". */
const char	*provider_name(enum provider);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int		 provider_parse(const char *name, enum provider *out);

#define GW_TEXT_MAX	256

/* A merchant's account with one gateway, secrets already unsealed. */
struct gateway {
	enum provider	provider;
	int		test_mode;
	char		merchant_code[GW_TEXT_MAX];	/* eSewa product_code, Fonepay PID */
	char		public_key[GW_TEXT_MAX];	/* Khalti (kept, not used server-side) */
	char		secret_key[GW_TEXT_MAX];	/* eSewa / Fonepay HMAC key, Khalti API key */
	char		api_username[GW_TEXT_MAX];	/* Fonepay verification API */
	char		api_password[GW_TEXT_MAX];
};

/*
 * Where a gateway lives. Defaults are the real test and live hosts of
 * payments.md; each can be overridden from the environment (README):
 * ESEWA_{TEST,LIVE}_FORM_URL, ESEWA_{TEST,LIVE}_STATUS_URL,
 * KHALTI_{TEST,LIVE}_API_URL (the ".../api/" root: v2/epayment/... and
 * merchant-transaction/... hang under it), FONEPAY_{TEST,LIVE}_PAY_URL,
 * FONEPAY_{TEST,LIVE}_VERIFY_URL. Members a gateway does not use are NULL.
 */
struct gateway_urls {
	const char	*form;		/* eSewa form POST; Fonepay merchantRequest */
	const char	*status;	/* eSewa status GET; Fonepay txnVerification */
	const char	*api;		/* Khalti API root */
};

void	gateway_urls_for(enum provider, int test_mode, struct gateway_urls *);

/* A payment to start: one attempt, with our own unique reference. */
struct pay_request {
	const char	*reference;	/* [A-Za-z0-9-], 3 to 25 characters */
	int64_t		 amount_paisa;
	const char	*order_number;	/* shown to the customer */
	const char	*return_url;	/* absolute; the success path */
	const char	*failure_url;	/* absolute; eSewa's failure_url */
	const char	*website_url;	/* Khalti website_url */
	const char	*customer_name;	/* may be NULL */
	const char	*customer_phone; /* E.164, may be NULL; Khalti gets it without +977 */
	time_t		 now;		/* Fonepay DT */
};

#define GW_FIELDS_MAX	12
#define GW_URL_MAX	2048

/* How the customer's browser reaches the gateway. */
struct pay_redirect {
	int		post;			/* 1: auto-submitting form POST */
	char		url[GW_URL_MAX];	/* form action, or the GET URL */
	int		nfields;		/* form fields when post */
	struct {
		char	name[32];
		char	value[GW_URL_MAX];
	}		fields[GW_FIELDS_MAX];
	char		provider_ref[64];	/* Khalti pidx; "" otherwise */
	long		expires_in;		/* seconds, 0 if the gateway says nothing */
};

enum pay_outcome {
	PAY_PAID,
	PAY_PENDING,		/* started, not finished: check again later */
	PAY_FAILED,
	PAY_CANCELLED,
	PAY_EXPIRED,
	PAY_NOT_FOUND,		/* the gateway has no such payment */
	PAY_REFUNDED,
	PAY_PARTIALLY_REFUNDED,
	PAY_AMBIGUOUS,		/* the gateway itself is unsure: hold, re-check */
};

const char	*pay_outcome_name(enum pay_outcome);

/* What the gateway's status API says of one payment. */
struct pay_status {
	enum pay_outcome	outcome;
	char			status_word[48];	/* the gateway's own word */
	int64_t			amount_paisa;		/* -1 when not reported; Fonepay
						 * reports none, but is asked by amount:
						 * its "success" reports the amount asked */
	char			merchant_code[GW_TEXT_MAX]; /* "" when not reported */
	char			reference[64];		/* "" when not reported */
	char			provider_ref[64];	/* eSewa ref_id, Khalti transaction_id, Fonepay trace id */
	char			*raw;			/* the response body, malloc'd */
};

/* What a browser return or a webhook claims, before anyone believes it. */
struct pay_claim {
	char		reference[64];
	char		provider_ref[64];
	int64_t		amount_paisa;		/* -1 when not given */
	enum pay_outcome outcome;		/* as claimed */
	int		signature;		/* 1 verified, 0 unsigned, -1 bad */
};

/* Results of calls that reach a gateway. */
#define GW_OK		0
#define GW_REFUSED	-1	/* the gateway answered no; err says why */
#define GW_UNREACHABLE	-2	/* timeout, connection or 5xx: try later */

/*
 * Starts a payment: eSewa and Fonepay only sign fields (no call); Khalti
 * calls initiate and returns its payment_url and pidx. Returns GW_OK,
 * GW_REFUSED or GW_UNREACHABLE with a reason in err.
 */
int	gateway_initiate(const struct gateway *, const struct gateway_urls *,
	    const struct pay_request *, struct pay_redirect *, char *err,
	    size_t errlen);

/*
 * Asks the gateway's status API about a payment (eSewa status, Khalti
 * lookup, Fonepay txnVerification), by our reference, the provider's
 * reference where it has one (Khalti pidx) and the amount we expect.
 * Returns GW_OK with st filled (st->raw set, caller frees), GW_REFUSED for
 * an answer it cannot read, or GW_UNREACHABLE; st->raw is NULL then.
 */
int	gateway_status(const struct gateway *, const struct gateway_urls *,
	    const char *reference, const char *provider_ref,
	    int64_t amount_paisa, struct pay_status *st, char *err,
	    size_t errlen);

/*
 * The reference a browser return (its raw query string) or a webhook body
 * names, without verifying anything, so the caller can find the payment
 * and its merchant's gateway. Returns 0, or -1 when there is none.
 */
int	gateway_claim_reference(enum provider, const char *query,
	    char reference[64]);

/*
 * Reads a browser return's raw query string (or a webhook body in the same
 * format: eSewa data=, Khalti return parameters, Fonepay RU parameters) and
 * checks its signature with the merchant's secret where the gateway signs
 * (eSewa HMAC-SHA256 over signed_field_names, Fonepay response DV).
 * Returns 0 with claim filled (claim->signature says what was verified),
 * or -1 when it cannot be parsed.
 */
int	gateway_read_claim(const struct gateway *, const char *query,
	    struct pay_claim *claim);

/*
 * Refunds amount_paisa (0: all) of a paid payment through the gateway's
 * API. Only Khalti has one; the others return GW_REFUSED with err
 * "manual". provider_ref is Khalti's transaction_id.
 */
int	gateway_refund(const struct gateway *, const struct gateway_urls *,
	    const char *provider_ref, int64_t amount_paisa, char *err,
	    size_t errlen);

/*
 * Rupees text for gateways that take it, one canonical form: whole rupees
 * without decimals, otherwise the shortest exact form: 149999 -> "1499.99",
 * 150000 -> "1500", 150050 -> "1500.5".
 */
void	paisa_to_rupees(int64_t paisa, char out[32]);

/*
 * Parses gateway rupee text ("1,500.0", "1499.99", "100") to paisa; -1 if not
 * one. At most two decimals; commas only as digit-group separators of the
 * whole part (eSewa's "6,600.0"); no sign, exponent or space.
 */
int	rupees_to_paisa(const char *text, int64_t *paisa);

#endif
