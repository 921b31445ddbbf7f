"""Customers: create, phone spellings resolving to one customer, lookups by
phone, list and pages, patch, validation, Idempotency-Key, isolation."""

import time
import urllib.parse
import uuid

from client import (assert_envelope_error, assert_id, assert_not_found, assert_ok, assert_protected_headers,
                    assert_validation, call,
                    check_each, create_customer, create_key, customer_body, list_all, list_page, now, parse_ts,
                    random_phone, register, spellings)

CUSTOMER_KEYS = {"id", "firstName", "lastName", "phone", "email", "addresses", "createdAt", "updatedAt"}
FULL_ADDRESS = {"label": "home", "street": "Thamel Marg 12", "city": "Kathmandu", "zone": "Bagmati",
                "landmark": "Opposite the blue gate", "postalCode": "44600"}


def assert_customer(c, body=None):
    assert isinstance(c, dict), f"customer is not an object: {c!r}"
    assert set(c) == CUSTOMER_KEYS, f"customer keys {sorted(c)}, expected {sorted(CUSTOMER_KEYS)}"
    assert_id(c["id"], "cus")
    created, updated = parse_ts(c["createdAt"]), parse_ts(c["updatedAt"])
    assert abs((now() - created).total_seconds()) < 3600, f"createdAt far from now: {c['createdAt']}"
    assert updated >= created
    assert isinstance(c["addresses"], list), f"addresses is not a list: {c['addresses']!r}"
    for field in ("firstName", "lastName"):
        if body and field in body:
            assert c[field] == body[field], f"{field} is {c[field]!r}, sent {body[field]!r}"


def assert_addresses(got, sent):
    """Each address holds what was sent (absent optional parts may be absent, null or empty)."""
    assert len(got) == len(sent), f"{len(got)} addresses, sent {len(sent)}: {got}"
    for g, s in zip(got, sent):
        for field in ("label", "street", "city", "zone", "landmark", "postalCode"):
            if field in s:
                assert g.get(field) == s[field], f"address {field} is {g.get(field)!r}, sent {s[field]!r}"
            else:
                assert g.get(field) in (None, ""), f"address {field} is {g.get(field)!r}, never sent"
        extra = set(g) - {"label", "street", "city", "zone", "landmark", "postalCode"}
        assert not extra, f"address has unexpected fields {extra}"


def post(token, body, **kw):
    return call("POST", "/v1/customers", body, token=token, **kw)


def get_customer(token, customer_id):
    return assert_ok(call("GET", f"/v1/customers/{customer_id}", token=token))


def by_phone(token, phone):
    rows, _ = list_page(token, "/v1/customers", "customers", phone=phone)  # '+' is sent as %2B
    return [c["id"] for c in rows]


def customer_ids(token, **params):
    rows, _ = list_page(token, "/v1/customers", "customers", **params)
    return [c["id"] for c in rows]


# --- create ---------------------------------------------------------------------

def test_customer_create_full_shape_and_get():
    _, token = register()
    local = random_phone()
    body = {"firstName": "Sita", "lastName": "Sharma", "phone": local, "email": "Sita.Sharma@Example.COM",
            "addresses": [FULL_ADDRESS, {"street": "Lakeside", "city": "Pokhara"}]}
    resp = post(token, body)
    c = assert_ok(resp, 201)
    assert_protected_headers(resp)
    assert_customer(c, body)
    assert c["phone"] == "+977" + local, f"phone stored as {c['phone']!r}"
    assert c["email"] == "sita.sharma@example.com", f"email stored as {c['email']!r}"
    assert_addresses(c["addresses"], body["addresses"])
    assert get_customer(token, c["id"]) == c, "GET differs from the created customer"


def test_customer_create_minimal_and_boundaries():
    _, token = register()
    c = assert_ok(post(token, {"firstName": "R", "phone": random_phone()}), 201)
    assert_customer(c)
    assert c["lastName"] in ("", None), f"lastName defaults to {c['lastName']!r}"
    assert c["email"] is None, f"email defaults to {c['email']!r}"
    assert c["addresses"] == [], f"addresses default to {c['addresses']!r}"
    body = customer_body(firstName="f" * 80, lastName="l" * 80,
                         addresses=[{"street": "s" * 200, "city": "c" * 200}] * 10)
    big = assert_ok(post(token, body), 201)
    assert_customer(big, body)
    assert_addresses(big["addresses"], body["addresses"])


def test_customer_phone_spellings_resolve_to_one_customer():
    _, token = register()
    local = random_phone()
    spelled = spellings(local)
    first = assert_ok(post(token, customer_body(phone=spelled[0])), 201)
    assert first["phone"] == "+977" + local

    def check_conflict(phone):
        err = assert_envelope_error(post(token, customer_body(firstName="Other", phone=phone)), 409, "conflict")
        details = err.get("details") or {}
        assert details.get("field") == "phone", f"details.field is not phone: {err}"
        assert details.get("customerId") == first["id"], f"details.customerId is not {first['id']}: {err}"

    check_each(spelled[1:] + ["+977" + local, "00977" + local], check_conflict)
    check_each(spelled + ["+977" + local],
               lambda phone: _expect(by_phone(token, phone), [first["id"]]))
    assert customer_ids(token) == [first["id"]], "another customer was stored"
    assert get_customer(token, first["id"])["firstName"] == first["firstName"]


def _expect(got, want):
    assert got == want, f"got {got}, expected {want}"


def test_customer_phone_lookup_is_exact():
    _, token = register()
    a = create_customer(token, phone="9801111111")
    b = create_customer(token, phone="9811111111")
    assert by_phone(token, "9801111111") == [a["id"]]
    assert by_phone(token, "+977-981-111-1111") == [b["id"]]
    assert by_phone(token, "9851111111") == []
    # the raw query string with %2B, spelled by hand
    rows = assert_ok(call("GET", "/v1/customers?phone=%2B9779801111111", token=token))["customers"]
    assert [c["id"] for c in rows] == [a["id"]]
    rows = assert_ok(call("GET", "/v1/customers?phone=%2B977%20980%20111%201111", token=token))["customers"]
    assert [c["id"] for c in rows] == [a["id"]]


def test_customer_foreign_phone():
    _, token = register()
    us = assert_ok(post(token, customer_body(phone="+14155550123")), 201)
    assert us["phone"] == "+14155550123"
    uk = assert_ok(post(token, customer_body(phone="+44 20 7946 0958")), 201)
    assert uk["phone"] == "+442079460958", f"stored as {uk['phone']!r}"
    assert by_phone(token, "+14155550123") == [us["id"]]
    assert by_phone(token, "+1 (415) 555-0123") == [us["id"]]
    err = assert_envelope_error(post(token, customer_body(phone="+1-415-555-0123")), 409, "conflict")
    assert (err.get("details") or {}).get("customerId") == us["id"], err


INVALID_PHONES = ["", "12345", "980123456", "98012345678", "98abcdefgh", "9831234567", "9501234567",
                  "+977-1-4412345", "014412345", "14155550123", "+1234567", "+1234567890123456", "+0123456789",
                  "phone", "+977 980 123 456"]


def test_customer_invalid_phone_422():
    _, token = register()
    check_each(INVALID_PHONES, lambda phone: assert_validation(post(token, customer_body(phone=phone)), "phone"))
    check_each([9801234567, None, ["9801234567"]],
               lambda phone: assert_validation(post(token, customer_body(phone=phone)), "phone"))
    check_each(["abc", "98012", "+977-1-4412345"],
               lambda phone: assert_validation(
                   call("GET", "/v1/customers?phone=" + urllib.parse.quote(phone), token=token), "phone"))
    assert customer_ids(token) == [], "a refused customer was stored"


INVALID_CUSTOMER = [
    # (description, overrides, removed field, field named in the error)
    ("missing firstName", {}, "firstName", "firstName"),
    ("firstName empty", {"firstName": ""}, None, "firstName"),
    ("firstName 81 chars", {"firstName": "f" * 81}, None, "firstName"),
    ("firstName a number", {"firstName": 1}, None, "firstName"),
    ("firstName null", {"firstName": None}, None, "firstName"),
    ("firstName with a newline", {"firstName": "Si\nta"}, None, "firstName"),
    ("lastName 81 chars", {"lastName": "l" * 81}, None, "lastName"),
    ("lastName a number", {"lastName": 5}, None, "lastName"),
    ("missing phone", {}, "phone", "phone"),
    ("email without @", {"email": "not-an-email"}, None, "email"),
    ("email without domain", {"email": "sita@"}, None, "email"),
    ("email a number", {"email": 42}, None, "email"),
    ("addresses not an array", {"addresses": FULL_ADDRESS}, None, "addresses"),
    ("addresses 11 entries", {"addresses": [{"street": "s", "city": "c"}] * 11}, None, "addresses"),
    ("address not an object", {"addresses": ["Thamel, Kathmandu"]}, None, "addresses[0]"),
    ("address missing street", {"addresses": [{"city": "Kathmandu"}]}, None, "addresses[0].street"),
    ("address missing city", {"addresses": [{"street": "Thamel"}]}, None, "addresses[0].city"),
    ("address street empty", {"addresses": [{"street": "", "city": "c"}]}, None, "addresses[0].street"),
    ("address street 201 chars", {"addresses": [{"street": "s" * 201, "city": "c"}]}, None, "addresses[0].street"),
    ("address city 201 chars", {"addresses": [{"street": "s", "city": "c" * 201}]}, None, "addresses[0].city"),
    ("address street a number", {"addresses": [{"street": 12, "city": "c"}]}, None, "addresses[0].street"),
    ("second address missing street", {"addresses": [FULL_ADDRESS, {"city": "Pokhara"}]}, None,
     "addresses[1].street"),
    ("address postalCode a number", {"addresses": [{"street": "s", "city": "c", "postalCode": 44600}]}, None,
     "addresses[0].postalCode"),
    ("address unknown field", {"addresses": [{"street": "s", "city": "c", "country": "NP"}]}, None,
     "addresses[0].country"),
    ("unknown field", {"vip": True}, None, "vip"),
    ("client-sent id", {"id": "cus_" + "a" * 20}, None, "id"),
]


def test_customer_invalid_fields_422():
    _, token = register()

    def check(case):
        _, overrides, removed, field = case
        body = customer_body(**overrides)
        body.pop(removed, None)
        assert_validation(post(token, body), field)

    check_each(INVALID_CUSTOMER, check)
    for raw in ('{"firstName": ', "[]", "null"):
        assert_envelope_error(call("POST", "/v1/customers", raw=raw, token=token), 400, "invalid_json")
    assert_envelope_error(call("POST", "/v1/customers", raw='{"firstName": "A"}', token=token,
                               headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    assert_envelope_error(post(token, customer_body(lastName="x" * 70 * 1024)), 413, "payload_too_large")
    assert customer_ids(token) == [], "a refused customer was stored"


def test_customers_require_credentials():
    for method, path, body in (("GET", "/v1/customers", None), ("POST", "/v1/customers", customer_body()),
                               ("GET", "/v1/customers/cus_" + "a" * 20, None),
                               ("PATCH", "/v1/customers/cus_" + "a" * 20, {"lastName": "x"})):
        assert_envelope_error(call(method, path, body), 401, "unauthorized")


def test_customer_get_unknown_404():
    _, token = register()
    check_each(["cus_" + "a" * 20, "nope", "prod_" + "a" * 20],
               lambda cid: assert_not_found(call("GET", f"/v1/customers/{cid}", token=token)))
    assert_not_found(call("PATCH", "/v1/customers/cus_" + "a" * 20, {"lastName": "x"}, token=token))


# --- list -----------------------------------------------------------------------

def test_customer_list_pages_and_search():
    _, token = register()
    names = ["Aarati", "Bikash", "Chandra", "Dipesh", "Elina"]
    created = [create_customer(token, firstName=n, lastName="Thapa" if n != "Dipesh" else "Rai")["id"]
               for n in names]
    newest_first = created[::-1]
    late = []
    rows, pages = list_all(token, "/v1/customers", "customers", 2,
                           between_pages=lambda: late.append(create_customer(token, firstName="Late")["id"]))
    assert [c["id"] for c in rows] == newest_first, f"walked {[c['firstName'] for c in rows]}"
    assert pages == 3, f"{pages} pages of 2 for 5 rows"
    for c in rows:
        assert_customer(c)
    all_rows, cursor = list_page(token, "/v1/customers", "customers")
    assert [c["id"] for c in all_rows] == late + newest_first and cursor is None
    assert all_rows[1] == get_customer(token, created[-1]), "list row differs from GET"

    assert customer_ids(token, search="Chand") == [created[2]]
    assert customer_ids(token, search="ipes") == [created[3]]
    assert customer_ids(token, search="Nobody") == []
    cases = [("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("cursor=garbage", "cursor"),
             ("cursor=%2F%2F%2F%2F", "cursor")]
    check_each(cases, lambda c: assert_validation(call("GET", "/v1/customers?" + c[0], token=token), c[1]))


# --- patch ----------------------------------------------------------------------

def test_customer_patch():
    _, token = register()
    local = random_phone()
    c = create_customer(token, phone=local, email="sita@example.com", addresses=[FULL_ADDRESS])
    time.sleep(1.1)  # timestamps have one-second resolution
    url = f"/v1/customers/{c['id']}"

    def patch(body):
        return assert_ok(call("PATCH", url, body, token=token))

    d = patch({"lastName": "Karki"})
    assert d["lastName"] == "Karki"
    assert parse_ts(d["updatedAt"]) > parse_ts(c["updatedAt"]), "updatedAt did not change"
    assert d["createdAt"] == c["createdAt"]
    same = {k: v for k, v in c.items() if k not in ("lastName", "updatedAt")}
    assert {k: d[k] for k in same} == same, f"other fields changed: {c} -> {d}"

    assert patch({"email": "New.Mail@Example.com"})["email"] == "new.mail@example.com"
    assert patch({"email": None})["email"] is None, "email: null did not clear it"
    new_addresses = [{"street": "Lakeside", "city": "Pokhara", "label": "work"}]
    e = patch({"addresses": new_addresses})
    assert_addresses(e["addresses"], new_addresses)
    assert patch({"addresses": []})["addresses"] == []
    # its own number in another spelling is not a conflict
    assert patch({"phone": f"+977-{local}"})["phone"] == "+977" + local
    other_local = random_phone()
    f = patch({"phone": other_local, "firstName": "Gita"})
    assert (f["phone"], f["firstName"]) == ("+977" + other_local, "Gita")
    assert by_phone(token, local) == [] and by_phone(token, other_local) == [c["id"]]
    final = get_customer(token, c["id"])
    assert final == f, f"GET {final} differs from the last PATCH answer {f}"


def test_customer_patch_refuses_bad_input_and_phone_conflicts():
    _, token = register()
    c = create_customer(token, addresses=[FULL_ADDRESS], email="c@example.com")
    other = create_customer(token)
    url = f"/v1/customers/{c['id']}"
    cases = [({"firstName": ""}, "firstName"), ({"firstName": None}, "firstName"), ({"phone": "123"}, "phone"),
             ({"phone": None}, "phone"), ({"email": "nope"}, "email"),
             ({"addresses": [{"city": "Kathmandu"}]}, "addresses[0].street"),
             ({"addresses": None}, "addresses"), ({"vip": True}, "vip")]
    check_each(cases, lambda case: assert_validation(call("PATCH", url, case[0], token=token), case[1]))
    err = assert_envelope_error(call("PATCH", url, {"phone": "+977-" + other["phone"][4:]}, token=token),
                                409, "conflict")
    details = err.get("details") or {}
    assert details.get("field") == "phone" and details.get("customerId") == other["id"], err
    assert_envelope_error(call("PATCH", url, raw='{"lastName": ', token=token), 400, "invalid_json")
    assert get_customer(token, c["id"]) == c, "a refused PATCH changed the customer"


# --- Idempotency-Key --------------------------------------------------------------

def test_customer_idempotent_retry():
    _, token = register()
    key = uuid.uuid4().hex
    body = customer_body(email="idem@example.com")
    first = post(token, body, headers={"Idempotency-Key": key})
    c = assert_ok(first, 201)
    again = post(token, body, headers={"Idempotency-Key": key})
    assert assert_ok(again, 201) == c, "the retry answered another customer"
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert_envelope_error(post(token, customer_body(), headers={"Idempotency-Key": key}),
                          422, "idempotency_key_reused")
    assert_envelope_error(post(token, customer_body(), headers={"Idempotency-Key": "x" * 300}),
                          422, "validation_failed")
    assert customer_ids(token) == [c["id"]]


# --- merchant isolation ---------------------------------------------------------------

def test_customers_are_private_to_their_merchant():
    _, token_a = register()
    _, token_b = register()
    key_b = create_key(token_b)["key"]
    local = random_phone()
    c = create_customer(token_a, firstName="Private", phone=local, email="p@example.com")
    url = f"/v1/customers/{c['id']}"
    for tok in (token_b, key_b):
        assert_not_found(call("GET", url, token=tok))
        assert_not_found(call("PATCH", url, {"firstName": "Hijacked", "email": "x@example.com"}, token=tok))
        resp = call("DELETE", url, token=tok)  # not a documented route: never a success, never data
        assert resp.status in (404, 405), f"DELETE of another merchant's customer: {resp}"
        assert customer_ids(tok) == []
        assert by_phone(tok, local) == []
        assert customer_ids(tok, search="Private") == []
    assert get_customer(token_a, c["id"]) == c, "another merchant changed the customer"
    # the same phone is a new customer for another merchant
    d = assert_ok(post(token_b, customer_body(phone=f"+977-{local}")), 201)
    assert d["id"] != c["id"] and d["phone"] == c["phone"]
    assert by_phone(token_a, local) == [c["id"]] and by_phone(token_b, local) == [d["id"]]
