/*
 * integrations: a merchant's accounts with the payment gateways.
 *
 *	POST /v1/integrations/payment/:provider	configure eSewa, Khalti or Fonepay
 *	GET  /v1/integrations			what is configured, secrets masked
 *
 * Secrets are sealed with AES-256-GCM under the master key, bound to the
 * merchant and provider, before they reach the database; no response or
 * log line carries them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "payment.h"
#include "rowjson.h"
#include "validate.h"

#define SECRET_MASK	"********"

enum stmt {
	STMT_GATEWAY_UPSERT,
	STMT_GATEWAY_TOGGLE,
	STMT_GATEWAY_LIST,
	STMT__MAX,
};

static const char *const sql[STMT__MAX] = {
	[STMT_GATEWAY_UPSERT] =
	    "INSERT INTO payment_gateways (merchant_id, provider, enabled, "
	    "test_mode, public_config, sealed_secrets) "
	    "VALUES ($1, $2, $3, $4, $5::jsonb, $6) "
	    "ON CONFLICT (merchant_id, provider) DO UPDATE SET "
	    "enabled = EXCLUDED.enabled, test_mode = EXCLUDED.test_mode, "
	    "public_config = EXCLUDED.public_config, "
	    "sealed_secrets = EXCLUDED.sealed_secrets, updated_at = now() "
	    "RETURNING enabled, test_mode",
	[STMT_GATEWAY_TOGGLE] =
	    "UPDATE payment_gateways SET "
	    "enabled = coalesce($3::boolean, enabled), "
	    "test_mode = coalesce($4::boolean, test_mode), updated_at = now() "
	    "WHERE merchant_id = $1 AND provider = $2 "
	    "RETURNING enabled, test_mode",
	[STMT_GATEWAY_LIST] =
	    "SELECT provider, enabled, test_mode, public_config::text, "
	    "to_char(updated_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM payment_gateways "
	    "WHERE merchant_id = $1 ORDER BY provider",
};

static void	handle_configure_payment(struct app *, struct request *);
static void	handle_list(struct app *, struct request *);

enum route_id {
	ROUTE_CONFIGURE_PAYMENT,
	ROUTE_LIST,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_CONFIGURE_PAYMENT] = { METHOD_POST,
	    "/v1/integrations/payment/:provider", handle_configure_payment, 0 },
	[ROUTE_LIST] = { METHOD_GET, "/v1/integrations", handle_list, 0 },
};

/* Every gateway's settings; each provider's table takes its own subset. */
struct gateway_in {
	const char	*merchant_id;	/* eSewa product code */
	const char	*merchant_code;	/* Fonepay PID */
	const char	*public_key;	/* Khalti */
	const char	*secret_key;
	const char	*api_username;	/* Fonepay verification API */
	const char	*api_password;
	struct jnum	 enabled;
	struct jnum	 test_mode;
};

#define GW_FIELD(name, member, min, max) \
	{ name, FIELD_STRING, OPTIONAL, min, max, \
	    offsetof(struct gateway_in, member), NULL, 0, NULL }
#define GW_FLAGS \
	{ "enabled", FIELD_BOOL, OPTIONAL, 0, 0, \
	    offsetof(struct gateway_in, enabled), NULL, 0, NULL }, \
	{ "testMode", FIELD_BOOL, OPTIONAL, 0, 0, \
	    offsetof(struct gateway_in, test_mode), NULL, 0, NULL }, \
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL }

static const struct field esewa_fields[] = {
	GW_FIELD("merchantId", merchant_id, 1, 64),
	GW_FIELD("secretKey", secret_key, 1, 256),
	GW_FLAGS,
};

static const struct field khalti_fields[] = {
	GW_FIELD("publicKey", public_key, 1, 256),
	GW_FIELD("secretKey", secret_key, 1, 256),
	GW_FLAGS,
};

static const struct field fonepay_fields[] = {
	GW_FIELD("merchantCode", merchant_code, 3, 20),
	GW_FIELD("secretKey", secret_key, 1, 256),
	GW_FIELD("apiUsername", api_username, 1, 128),
	GW_FIELD("apiPassword", api_password, 1, 256),
	GW_FLAGS,
};

static const struct field *const provider_fields[PROVIDER__MAX] = {
	[PROVIDER_ESEWA] = esewa_fields,
	[PROVIDER_KHALTI] = khalti_fields,
	[PROVIDER_FONEPAY] = fonepay_fields,
};

/*
 * The provider's credential members of in (its table's leading string
 * fields) into values, in table order, NULL where not sent. Returns how
 * many the provider has.
 */
static int
credentials(enum provider p, const struct gateway_in *in,
    const char *values[4])
{
	const struct field	*f;
	int			 n = 0;

	for (f = provider_fields[p]; f->kind == FIELD_STRING && n < 4; f++)
		values[n++] = *(const char *const *)(const void *)
		    ((const char *)in + f->offset);
	return n;
}

/*
 * The public half as JSON text and the secret half sealed, from a complete
 * credential set. Returns 0, or -1 having answered.
 */
static int
split_credentials(struct app *app, struct request *r, enum provider p,
    const struct gateway_in *in, const char **public_json,
    const char **sealed)
{
	struct json_object	*pub, *sec;
	const char		*text;
	char			*s, aad[GATEWAY_AAD_MAX];

	pub = json_object_new_object();
	sec = json_object_new_object();
	if (in->merchant_id != NULL)
		json_object_object_add(pub, "merchantId",
		    json_object_new_string(in->merchant_id));
	if (in->merchant_code != NULL)
		json_object_object_add(pub, "merchantCode",
		    json_object_new_string(in->merchant_code));
	if (in->public_key != NULL)
		json_object_object_add(pub, "publicKey",
		    json_object_new_string(in->public_key));
	if (in->api_username != NULL)
		json_object_object_add(pub, "apiUsername",
		    json_object_new_string(in->api_username));
	json_object_object_add(sec, "secretKey",
	    json_object_new_string(in->secret_key));
	if (in->api_password != NULL)
		json_object_object_add(sec, "apiPassword",
		    json_object_new_string(in->api_password));

	*public_json = arena_strdup(&r->arena,
	    json_object_to_json_string_ext(pub, JSON_C_TO_STRING_PLAIN));
	text = json_object_to_json_string_ext(sec, JSON_C_TO_STRING_PLAIN);
	gateway_aad(r->principal.merchant_id, p, aad);
	s = seal(app->cfg.master_key, aad, text, strlen(text));
	wipe((char *)(uintptr_t)text, strlen(text));
	*sealed = s != NULL ? arena_strdup(&r->arena, s) : NULL;
	free(s);
	json_object_put(pub);
	json_object_put(sec);
	if (*public_json == NULL || *sealed == NULL) {
		respond_error(r, ERR_INTERNAL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* The seed's response: {"provider", "status", "testMode"}. */
static void
respond_gateway(struct request *r, enum provider p, const PGresult *res)
{
	struct json_object	*data = json_object_new_object();

	json_object_object_add(data, "provider",
	    json_object_new_string(provider_name(p)));
	json_object_object_add(data, "status", json_object_new_string(
	    PQgetvalue(res, 0, 0)[0] == 't' ? "active" : "disabled"));
	row_bool(data, "testMode", res, 0, 1);
	respond_data(r, 200, data);
}

static void
handle_configure_payment(struct app *app, struct request *r)
{
	struct gateway_in	 in;
	enum provider		 p;
	const char		*values[4], *params[6], *public_json, *sealed;
	const struct field	*f;
	PGresult		*res = NULL;
	int			 i, n, given = 0, missing = -1;

	if (provider_parse(r->params[0], &p) != 0) {
		respond_errorf(r, ERR_VALIDATION, "provider", "provider must "
		    "be one of: esewa, khalti, fonepay");
		return;
	}
	memset(&in, 0, sizeof(in));
	if (fields_or_respond(r, provider_fields[p], &in) != 0)
		return;
	n = credentials(p, &in, values);
	for (i = 0; i < n; i++) {
		if (values[i] != NULL)
			given++;
		else if (missing < 0)
			missing = i;
	}
	params[0] = r->principal.merchant_id;
	params[1] = provider_name(p);

	/* No credentials: switch an existing account on or off, keeping it. */
	if (given == 0) {
		params[2] = !in.enabled.present ? NULL :
		    in.enabled.value ? "true" : "false";
		params[3] = !in.test_mode.present ? NULL :
		    in.test_mode.value ? "true" : "false";
		if ((res = query_or_respond(app, r, sql[STMT_GATEWAY_TOGGLE], 4,
		    params)) == NULL)
			return;
		if (PQntuples(res) == 1)
			respond_gateway(r, p, res);
		else
			respond_errorf(r, ERR_VALIDATION,
			    provider_fields[p][0].name, "%s is required",
			    provider_fields[p][0].name);
		PQclear(res);
		return;
	}
	if (missing >= 0) {
		f = &provider_fields[p][missing];
		respond_errorf(r, ERR_VALIDATION, f->name, "%s is required",
		    f->name);
		return;
	}
	if (split_credentials(app, r, p, &in, &public_json, &sealed) != 0)
		return;
	params[2] = !in.enabled.present || in.enabled.value ? "true" : "false";
	params[3] = !in.test_mode.present || in.test_mode.value ? "true" :
	    "false";
	params[4] = public_json;
	params[5] = sealed;
	if ((res = query_or_respond(app, r, sql[STMT_GATEWAY_UPSERT], 6,
	    params)) == NULL)
		return;
	log_event(LOG_INFO, "gateway_configured", "%s", provider_name(p));
	respond_gateway(r, p, res);
	PQclear(res);
}

static void
handle_list(struct app *app, struct request *r)
{
	struct json_object	*data, *list, *g, *pub, *v;
	const char		*params[1] = { r->principal.merchant_id };
	PGresult		*res;
	int			 i;

	if ((res = query_or_respond(app, r, sql[STMT_GATEWAY_LIST], 1,
	    params)) == NULL)
		return;
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++) {
		g = json_object_new_object();
		row_text(g, "provider", res, i, 0);
		json_object_object_add(g, "status", json_object_new_string(
		    PQgetvalue(res, i, 1)[0] == 't' ? "active" : "disabled"));
		row_bool(g, "testMode", res, i, 2);
		if ((pub = json_tokener_parse(PQgetvalue(res, i, 3))) != NULL) {
			json_object_object_foreach(pub, key, val) {
				v = json_object_get(val);
				json_object_object_add(g, key, v);
			}
			json_object_put(pub);
		}
		json_object_object_add(g, "secretKey",
		    json_object_new_string(SECRET_MASK));
		if (strcmp(PQgetvalue(res, i, 0), "fonepay") == 0)
			json_object_object_add(g, "apiPassword",
			    json_object_new_string(SECRET_MASK));
		row_text(g, "updatedAt", res, i, 4);
		json_object_array_add(list, g);
	}
	PQclear(res);
	data = json_object_new_object();
	json_object_object_add(data, "payment", list);
	json_object_object_add(data, "messaging", json_object_new_array());
	respond_data(r, 200, data);
}

int
main(void)
{
	struct app	app;

	if (app_init(&app, "integrations", sql, STMT__MAX) != 0)
		return 1;
	app_serve(&app, routes, ROUTE__MAX);
	app_free(&app);
	return 0;
}
