/*
 * address.c: the two address shapes over one struct.
 */
#include <stddef.h>

#include "address.h"

#define ADDR(name, member, kind, required, min, max) \
	{ name, kind, required, min, max, offsetof(struct address, member), \
	    NULL, 0, NULL }
#define ADDR_COMMON \
	ADDR("street", street, FIELD_STRING, REQUIRED, 1, 200), \
	ADDR("city", city, FIELD_STRING, REQUIRED, 1, 200), \
	ADDR("zone", zone, FIELD_STRING, OPTIONAL, 0, 100), \
	ADDR("landmark", landmark, FIELD_STRING, OPTIONAL, 0, 200), \
	ADDR("postalCode", postal_code, FIELD_STRING, OPTIONAL, 0, 20), \
	{ NULL, 0, 0, 0, 0, 0, NULL, 0, NULL }

const struct field customer_address_fields[] = {
	ADDR("label", label, FIELD_STRING, OPTIONAL, 0, 40),
	ADDR_COMMON,
};

/* The recipient's phone may be foreign (FIELD_PHONE min 1). */
const struct field shipping_address_fields[] = {
	ADDR("name", name, FIELD_STRING, OPTIONAL, 0, 160),
	ADDR("phone", phone, FIELD_PHONE, OPTIONAL, 1, 0),
	ADDR_COMMON,
};

static const struct field *const tables[] = {
	[ADDRESS_CUSTOMER] = customer_address_fields,
	[ADDRESS_SHIPPING] = shipping_address_fields,
};

struct json_object *
address_json(const struct address *a, enum address_kind kind)
{
	const struct field	*f;
	struct json_object	*o = json_object_new_object();
	const char		*v;

	for (f = tables[kind]; f->name != NULL; f++) {
		v = *(const char *const *)(const void *)
		    ((const char *)a + f->offset);
		json_object_object_add(o, f->name,
		    json_object_new_string(v != NULL ? v : ""));
	}
	return o;
}

struct json_object *
address_reordered(struct json_object *stored, enum address_kind kind)
{
	const struct field	*f;
	struct json_object	*o = json_object_new_object(), *v;

	for (f = tables[kind]; f->name != NULL; f++) {
		v = NULL;
		json_object_object_get_ex(stored, f->name, &v);
		json_object_object_add(o, f->name, json_object_get(v));
	}
	return o;
}
