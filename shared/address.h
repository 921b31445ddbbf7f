/*
 * address.h: postal addresses as the API takes and shows them. A customer
 * keeps a list of labelled addresses; an order has one shipping address
 * with the recipient's name and phone. Both are stored as jsonb built from
 * the validated struct, never from the raw body, with every key present
 * ("" for an optional one not sent).
 */
#ifndef COMMERCE_ADDRESS_H
#define COMMERCE_ADDRESS_H

#include <json-c/json.h>

#include "validate.h"

enum address_kind {
	ADDRESS_CUSTOMER,	/* label, street, city, zone, landmark, postalCode */
	ADDRESS_SHIPPING,	/* name, phone, street, city, zone, landmark, postalCode */
};

struct address {
	const char	*label;
	const char	*name;
	const char	*phone;		/* E.164 */
	const char	*street;
	const char	*city;
	const char	*zone;
	const char	*landmark;
	const char	*postal_code;
};

/* Field tables over struct address, for FIELD_OBJECT and FIELD_ARRAY. */
extern const struct field	customer_address_fields[];
extern const struct field	shipping_address_fields[];

/* The address as a new JSON object with its kind's keys in API order. */
struct json_object	*address_json(const struct address *, enum address_kind);

/* A stored address (jsonb keeps keys in an order of its own) as a new
 * object with its kind's keys in API order; absent keys become null. */
struct json_object	*address_reordered(struct json_object *stored,
			    enum address_kind);

#endif
