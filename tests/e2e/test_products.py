"""Products: create, get, list (search, filters, cursor pages), patch, delete,
SKU uniqueness, money round-trips, validation, Idempotency-Key, isolation."""

import json
import time
import uuid

from client import (RawJSON, assert_envelope_error, assert_id, assert_not_found, assert_ok, assert_protected_headers,
                    assert_validation,
                    call, call_json, check_each, create_key, create_product, get_product, list_all, list_page,
                    now, parse_ts, product_body, raw_member, register, unique_sku)

PRODUCT_KEYS = {"id", "name", "description", "price", "sku", "stock", "imageUrls", "active",
                "createdAt", "updatedAt"}


def assert_product(p, body=None):
    assert isinstance(p, dict), f"product is not an object: {p!r}"
    assert set(p) == PRODUCT_KEYS, f"product keys {sorted(p)}, expected {sorted(PRODUCT_KEYS)}"
    assert_id(p["id"], "prod")
    created, updated = parse_ts(p["createdAt"]), parse_ts(p["updatedAt"])
    assert abs((now() - created).total_seconds()) < 3600, f"createdAt far from now: {p['createdAt']}"
    assert updated >= created, f"updatedAt {p['updatedAt']} before createdAt {p['createdAt']}"
    for field, value in (body or {}).items():
        assert p[field] == value, f"{field} is {p[field]!r}, sent {value!r}"


def post(token, body, **kw):
    return call("POST", "/v1/products", body, token=token, **kw)


def product_ids(token, **params):
    rows, _ = list_page(token, "/v1/products", "products", **params)
    return [p["id"] for p in rows]


# --- create / get -------------------------------------------------------------

def test_product_create_full_shape_and_get():
    _, token = register()
    body = product_body(name="Blue jacket", description="Warm.\nWaterproof.", price=1499.99,
                        sku=unique_sku("JKT"), stock=12, imageUrls=["https://cdn.example.com/a.jpg",
                                                                   "http://cdn.example.com/b.png"], active=True)
    resp = post(token, body)
    p = assert_ok(resp, 201)
    assert_product(p, body)
    assert p["createdAt"] == p["updatedAt"] or parse_ts(p["updatedAt"]) >= parse_ts(p["createdAt"])
    assert resp.headers.get("Idempotent-Replayed") is None, "a first response marked as replayed"
    assert_protected_headers(resp)
    assert get_product(token, p["id"]) == p, "GET differs from the created product"


def test_product_create_defaults():
    _, token = register()
    body = {"name": "Plain mug", "price": 250, "sku": unique_sku()}
    p = assert_ok(post(token, body), 201)
    assert_product(p, body)
    assert p["stock"] == 0, f"default stock is {p['stock']!r}"
    assert p["active"] is True, f"default active is {p['active']!r}"
    assert p["imageUrls"] == [], f"default imageUrls is {p['imageUrls']!r}"
    # the contract shows no default; a merchant expects an empty description
    assert p["description"] in ("", None), f"default description is {p['description']!r}"


def test_product_price_round_trips_exactly():
    _, token = register()
    cases = [(1499.99, "1499.99"), (0.5, "0.5"), (1500, "1500"), (1500.0, "1500"), (0, "0"), (0.01, "0.01"),
             (19.9, "19.9"), (99.95, "99.95"), (10000000, "10000000"), (RawJSON("1499.90"), "1499.9"),
             (RawJSON("7.00"), "7")]

    def check(case):
        sent, spelled = case
        resp = call_json("POST", "/v1/products", product_body(price=sent), token=token)
        p = assert_ok(resp, 201)
        assert raw_member(resp.text, "price") == spelled, \
            f"price {sent!r} answered as {raw_member(resp.text, 'price')!r}, expected {spelled}"
        assert p["price"] == json.loads(spelled)
        again = call("GET", f"/v1/products/{p['id']}", token=token)
        assert raw_member(again.text, "price") == spelled, f"GET spells price {raw_member(again.text, 'price')!r}"

    check_each(cases, check)


def test_product_accepts_boundaries():
    _, token = register()
    sku = "Az09._-" + "x" * 57
    assert len(sku) == 64
    body = product_body(name="n" * 200, description="d" * 5000, price=10000000, sku=sku, stock=1000000,
                        imageUrls=[f"https://img.example.com/{i}.jpg" for i in range(9)]
                        + ["https://img.example.com/" + "p" * (2048 - 24)], active=False)
    assert len(body["imageUrls"][-1]) == 2048
    p = assert_ok(post(token, body), 201)
    assert_product(p, body)
    one = assert_ok(post(token, product_body(name="n", sku="1", price=0, stock=0)), 201)
    assert one["name"] == "n" and one["sku"] == "1" and one["price"] == 0


def test_product_get_unknown_404():
    _, token = register()
    check_each(["prod_" + "a" * 20, "prod_" + uuid.uuid4().hex[:20], "nope", "cus_" + "b" * 20],
               lambda pid: assert_not_found(call("GET", f"/v1/products/{pid}", token=token)))


def test_products_require_credentials():
    for method, path, body in (("GET", "/v1/products", None), ("POST", "/v1/products", product_body()),
                               ("GET", "/v1/products/prod_" + "a" * 20, None),
                               ("PATCH", "/v1/products/prod_" + "a" * 20, {"stock": 1}),
                               ("DELETE", "/v1/products/prod_" + "a" * 20, None)):
        assert_envelope_error(call(method, path, body), 401, "unauthorized")


# --- list ---------------------------------------------------------------------

def test_product_list_newest_first_search_and_active_filter():
    _, token = register()
    jacket = create_product(token, name="Blue Denim Jacket", sku="JKT-001")
    mug = create_product(token, name="Tea mug", sku="MUG-XL")
    scarf = create_product(token, name="Pashmina scarf", sku="SCF-9", active=False)
    vest = create_product(token, name="Puffer jacket vest", sku="VST-2")
    newest_first = [vest["id"], scarf["id"], mug["id"], jacket["id"]]

    rows, cursor = list_page(token, "/v1/products", "products")
    assert [p["id"] for p in rows] == newest_first, f"list order {[p['name'] for p in rows]}"
    assert cursor is None, f"nextCursor {cursor!r} on the only page"
    assert rows[0] == get_product(token, vest["id"]), "list row differs from GET"

    cases = [
        ({"search": "jacket"}, [vest["id"], jacket["id"]]),
        ({"search": "JACKET"}, [vest["id"], jacket["id"]]),
        ({"search": "denim JAC"}, [jacket["id"]]),
        ({"search": "MUG-XL"}, [mug["id"]]),          # SKU, exactly
        ({"search": "SCF-9"}, [scarf["id"]]),
        ({"search": "MUG-X"}, []),                   # SKUs do not match by substring
        ({"search": "nothing like it"}, []),
        ({"active": "true"}, [vest["id"], mug["id"], jacket["id"]]),
        ({"active": "false"}, [scarf["id"]]),
        ({"active": "true", "search": "scarf"}, []),
        ({"limit": "2"}, [vest["id"], scarf["id"]]),
        ({"limit": "1"}, [vest["id"]]),
        ({"limit": "100"}, newest_first),
    ]
    check_each(cases, lambda c: _expect_ids(token, c[0], c[1]))


def _expect_ids(token, params, want):
    got = product_ids(token, **params)
    assert got == want, f"got {got}, expected {want}"


def test_product_list_rejects_bad_parameters():
    _, token = register()
    create_product(token)
    cases = [("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"),
             ("limit=1.5", "limit"), ("cursor=garbage", "cursor"), ("cursor=%21%21%21", "cursor"),
             ("cursor=" + "QUFB" * 40, "cursor"), ("active=maybe", "active"), ("active=1", "active"),
             ("search=" + "s" * 101, "search")]
    check_each(cases, lambda c: assert_validation(call("GET", "/v1/products?" + c[0], token=token), c[1]))


def test_product_pagination_walks_every_row_once_and_is_stable_under_inserts():
    _, token = register()
    created = [create_product(token, name=f"Item {i}")["id"] for i in range(7)]
    newest_first = created[::-1]
    late = []

    rows, pages = list_all(token, "/v1/products", "products", 3,
                           between_pages=lambda: late.append(create_product(token, name="Late item")["id"]))
    ids = [p["id"] for p in rows]
    assert ids == newest_first, f"pages walked {ids}, expected {newest_first} (late insert {late})"
    assert pages == 3, f"{pages} pages of 3 for 7 rows"
    # the late product is on a fresh first page
    assert product_ids(token, limit=1) == late
    # a page that ends exactly on the last row has no nextCursor
    rows, cursor = list_page(token, "/v1/products", "products", limit=8)
    assert len(rows) == 8 and cursor is None, f"{len(rows)} rows, nextCursor {cursor!r}"
    # filters hold across pages
    rows, _ = list_all(token, "/v1/products", "products", 2, search="item")
    assert [p["id"] for p in rows] == late + newest_first
    # without ?limit a page holds 20
    more = [create_product(token, name=f"Bulk {i}")["id"] for i in range(13)]
    everything = more[::-1] + late + newest_first
    rows, cursor = list_page(token, "/v1/products", "products")
    assert [p["id"] for p in rows] == everything[:20] and cursor, f"default page: {len(rows)} rows, cursor {cursor!r}"
    rows, cursor = list_page(token, "/v1/products", "products", cursor=cursor)
    assert [p["id"] for p in rows] == everything[20:] and cursor is None, f"second page {rows}, cursor {cursor!r}"


# --- patch ----------------------------------------------------------------------

def test_product_patch_changes_only_sent_fields():
    _, token = register()
    p = create_product(token, description="first", imageUrls=["https://x.example.com/1.jpg"], stock=5)
    time.sleep(1.1)  # timestamps have one-second resolution

    def patch(body, pid=p["id"]):
        return call("PATCH", f"/v1/products/{pid}", body, token=token)

    q = assert_ok(patch({"price": 999.5}))
    assert_product(q)
    assert q["price"] == 999.5 and raw_member(patch({"price": 999.5}).text, "price") == "999.5"
    assert parse_ts(q["updatedAt"]) > parse_ts(p["updatedAt"]), f"updatedAt unchanged: {q['updatedAt']}"
    assert q["createdAt"] == p["createdAt"], "createdAt changed"
    unchanged = {k: v for k, v in p.items() if k not in ("price", "updatedAt")}
    assert {k: v for k, v in q.items() if k in unchanged} == unchanged, f"other fields changed: {p} -> {q}"

    r = assert_ok(patch({"active": False, "imageUrls": [], "stock": 0, "name": "Renamed", "description": ""}))
    assert (r["active"], r["imageUrls"], r["stock"], r["name"], r["description"]) == (False, [], 0, "Renamed", "")
    assert (r["price"], r["sku"]) == (999.5, p["sku"])
    new_sku = unique_sku("NEW")
    assert assert_ok(patch({"sku": new_sku}))["sku"] == new_sku
    # the product's own SKU again is not a conflict
    assert assert_ok(patch({"sku": new_sku, "stock": 3}))["stock"] == 3
    final = get_product(token, p["id"])
    assert (final["sku"], final["name"], final["stock"], final["price"]) == (new_sku, "Renamed", 3, 999.5)


def test_product_patch_refuses_bad_input_and_leaves_product_alone():
    _, token = register()
    p = create_product(token)
    other = create_product(token)
    url = f"/v1/products/{p['id']}"
    err = assert_envelope_error(call("PATCH", url, {}, token=token), 422, "validation_failed")
    assert err["message"], err
    cases = [({"price": -1}, "price"), ({"price": 1.001}, "price"), ({"price": "5"}, "price"),
             ({"name": ""}, "name"), ({"name": None}, "name"), ({"sku": "has space"}, "sku"),
             ({"stock": -1}, "stock"), ({"stock": 2.5}, "stock"), ({"active": "no"}, "active"),
             ({"imageUrls": "https://x.example.com/a.jpg"}, "imageUrls"), ({"color": "red"}, "color"),
             ({"id": "prod_" + "a" * 20}, "id"), ({"createdAt": "2020-01-01T00:00:00Z"}, "createdAt")]
    check_each(cases, lambda c: assert_validation(call("PATCH", url, c[0], token=token), c[1]))
    err = assert_envelope_error(call("PATCH", url, {"sku": other["sku"]}, token=token), 409, "conflict")
    assert (err.get("details") or {}).get("field") == "sku", f"details.field is not sku: {err}"
    assert_envelope_error(call("PATCH", url, raw="{\"price\": ", token=token), 400, "invalid_json")
    assert get_product(token, p["id"]) == p, "a refused PATCH changed the product"


# --- delete -----------------------------------------------------------------------

def test_product_delete_then_404_and_sku_reusable():
    _, token = register()
    keep = create_product(token)
    p = create_product(token, sku="REUSE-ME")
    url = f"/v1/products/{p['id']}"
    assert assert_ok(call("DELETE", url, token=token)) == {"id": p["id"], "deleted": True}
    assert_not_found(call("GET", url, token=token))
    assert_not_found(call("PATCH", url, {"stock": 1}, token=token))
    assert_not_found(call("DELETE", url, token=token))
    assert product_ids(token) == [keep["id"]], "a deleted product is still listed"
    assert product_ids(token, search="REUSE-ME") == []
    again = assert_ok(post(token, product_body(sku="REUSE-ME")), 201)
    assert again["id"] != p["id"]
    assert product_ids(token, search="REUSE-ME") == [again["id"]]
    assert_not_found(call("GET", url, token=token))


def test_product_duplicate_sku_409():
    _, token = register()
    p = create_product(token, sku="DUP-1")
    err = assert_envelope_error(post(token, product_body(sku="DUP-1")), 409, "conflict")
    assert (err.get("details") or {}).get("field") == "sku", f"details.field is not sku: {err}"
    assert product_ids(token) == [p["id"]], "the duplicate was stored"
    # another merchant's SKUs are their own business
    _, token_b = register()
    assert_ok(post(token_b, product_body(sku="DUP-1")), 201)


# --- validation ---------------------------------------------------------------------

URL = "https://img.example.com/a.jpg"
INVALID_PRODUCT = [
    # (description, overrides, removed field, field named in the error)
    ("missing name", {}, "name", "name"),
    ("name empty", {"name": ""}, None, "name"),
    ("name 201 chars", {"name": "n" * 201}, None, "name"),
    ("name a number", {"name": 123}, None, "name"),
    ("name null", {"name": None}, None, "name"),
    ("name an array", {"name": ["x"]}, None, "name"),
    ("name with a control character", {"name": "bad\u0007name"}, None, "name"),
    ("description 5001 chars", {"description": "d" * 5001}, None, "description"),
    ("description a number", {"description": 5}, None, "description"),
    ("missing price", {}, "price", "price"),
    ("price negative", {"price": -1}, None, "price"),
    ("price -0.01", {"price": -0.01}, None, "price"),
    ("price 3 decimals", {"price": 1.999}, None, "price"),
    ("price 3 decimals ending in 0", {"price": RawJSON("1.990")}, None, "price"),
    ("price a string", {"price": "100"}, None, "price"),
    ("price exponent 1e3", {"price": RawJSON("1e3")}, None, "price"),
    ("price exponent 1E2", {"price": RawJSON("1E2")}, None, "price"),
    ("price above max", {"price": 10000000.01}, None, "price"),
    ("price far above max", {"price": 99999999999999999999}, None, "price"),
    ("price boolean", {"price": True}, None, "price"),
    ("price null", {"price": None}, None, "price"),
    ("missing sku", {}, "sku", "sku"),
    ("sku empty", {"sku": ""}, None, "sku"),
    ("sku with a space", {"sku": "AB 12"}, None, "sku"),
    ("sku with a slash", {"sku": "AB/12"}, None, "sku"),
    ("sku non-ASCII", {"sku": "JKT-ü"}, None, "sku"),
    ("sku 65 chars", {"sku": "S" * 65}, None, "sku"),
    ("sku a number", {"sku": 12}, None, "sku"),
    ("stock negative", {"stock": -1}, None, "stock"),
    ("stock a float", {"stock": 1.5}, None, "stock"),
    ("stock 1000001", {"stock": 1000001}, None, "stock"),
    ("stock a string", {"stock": "5"}, None, "stock"),
    ("stock boolean", {"stock": True}, None, "stock"),
    ("stock exponent", {"stock": RawJSON("1e2")}, None, "stock"),
    ("imageUrls not an array", {"imageUrls": URL}, None, "imageUrls"),
    ("imageUrls an object", {"imageUrls": {"0": URL}}, None, "imageUrls"),
    ("imageUrls 11 entries", {"imageUrls": [URL] * 11}, None, "imageUrls"),
    ("active a string", {"active": "true"}, None, "active"),
    ("active a number", {"active": 1}, None, "active"),
    ("active null", {"active": None}, None, "active"),
    ("unknown field", {"color": "blue"}, None, "color"),
    ("client-sent id", {"id": "prod_" + "a" * 20}, None, "id"),
]
# entries of imageUrls: the error names imageUrls[i] (or, at least, imageUrls)
INVALID_IMAGE_URLS = [
    ("not a URL", ["not a url"]),
    ("ftp URL", [URL, "ftp://img.example.com/a.jpg"]),
    ("javascript URL", ["javascript:alert(1)"]),
    ("scheme only", ["https://"]),
    ("a number", [URL, 5]),
    ("null", [None]),
    ("2049 chars", ["https://img.example.com/" + "p" * (2049 - 24)]),
]


def test_product_invalid_fields_422():
    _, token = register()

    def check(case):
        _, overrides, removed, field = case
        body = product_body(**overrides)
        body.pop(removed, None)
        assert_validation(call_json("POST", "/v1/products", body, token=token), field)

    def check_url(case):
        _, urls = case
        err = assert_envelope_error(post(token, product_body(imageUrls=urls)), 422, "validation_failed")
        field = (err.get("details") or {}).get("field")
        index = len(urls) - 1
        assert field in ("imageUrls", f"imageUrls[{index}]"), f"details.field {field!r} is not imageUrls[{index}]"
        assert "imageUrls" in err["message"], f"message {err['message']!r} does not name imageUrls"

    check_each(INVALID_PRODUCT, check)
    check_each(INVALID_IMAGE_URLS, check_url)
    assert product_ids(token) == [], "a refused product was stored"


def test_product_malformed_bodies():
    _, token = register()
    p = create_product(token)
    for method, path in (("POST", "/v1/products"), ("PATCH", f"/v1/products/{p['id']}")):
        for raw in ('{"name": ', "[]", '"text"', '{"price": NaN}'):
            assert_envelope_error(call(method, path, raw=raw, token=token), 400, "invalid_json")
        assert_envelope_error(call(method, path, raw='{"stock": 1}', token=token,
                                   headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
        assert_envelope_error(call(method, path, {"description": "x" * 70 * 1024}, token=token),
                              413, "payload_too_large")
    assert product_ids(token) == [p["id"]]
    assert get_product(token, p["id"]) == p


def test_product_wrong_method_405():
    _, token = register()
    p = create_product(token)
    resp = call("PUT", f"/v1/products/{p['id']}", product_body(), token=token)
    assert_envelope_error(resp, 405, "method_not_allowed")
    allow = {m.strip() for m in (resp.headers.get("Allow") or "").split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allow, f"Allow is {resp.headers.get('Allow')!r}"
    assert_envelope_error(call("DELETE", "/v1/products", token=token), 405, "method_not_allowed")


# --- Idempotency-Key ------------------------------------------------------------------

def test_product_idempotent_retry():
    _, token = register()
    key = "create-" + uuid.uuid4().hex
    body = product_body(sku=unique_sku("IDEM"))
    first = post(token, body, headers={"Idempotency-Key": key})
    p = assert_ok(first, 201)
    assert first.headers.get("Idempotent-Replayed") is None, "first response marked as replayed"
    for _ in range(2):
        again = post(token, body, headers={"Idempotency-Key": key})
        assert assert_ok(again, 201) == p, f"retry answered {again.text[:300]}, first {first.text[:300]}"
        assert again.headers.get("Idempotent-Replayed") == "true", \
            f"Idempotent-Replayed is {again.headers.get('Idempotent-Replayed')!r}"
    assert product_ids(token) == [p["id"]], "a retry created another product"

    err = assert_envelope_error(post(token, product_body(sku=unique_sku()), headers={"Idempotency-Key": key}),
                                422, "idempotency_key_reused")
    assert err["message"]
    # the same key on another create route is another request too
    assert_envelope_error(call("POST", "/v1/customers", {"firstName": "A", "phone": "9801234567"},
                               token=token, headers={"Idempotency-Key": key}), 422, "idempotency_key_reused")
    # a different key is a new request: the SKU is now taken
    assert_envelope_error(post(token, body, headers={"Idempotency-Key": key + "-2"}), 409, "conflict")
    assert product_ids(token) == [p["id"]]

    # keys belong to their merchant
    _, token_b = register()
    other = assert_ok(post(token_b, body, headers={"Idempotency-Key": key}), 201)
    assert other["id"] != p["id"]


def test_product_idempotency_key_validation():
    _, token = register()
    for key in ("k" * 256, "k" * 300, "bad\tkey"):
        err = assert_envelope_error(post(token, product_body(), headers={"Idempotency-Key": key}),
                                    422, "validation_failed")
        assert "Idempotency-Key" in err["message"], f"message does not name Idempotency-Key: {err}"
    assert product_ids(token) == [], "a request with an invalid key created a product"
    p = assert_ok(post(token, product_body(), headers={"Idempotency-Key": "k" * 255}), 201)
    assert_ok(post(token, product_body(), headers={"Idempotency-Key": "~!#$%&'*+-.^_`|"}), 201)
    assert p["id"] in product_ids(token)


# --- merchant isolation -----------------------------------------------------------------

def test_products_are_private_to_their_merchant():
    _, token_a = register()
    _, token_b = register()
    key_b = create_key(token_b)["key"]
    p = create_product(token_a, name="Secret tea", sku="SECRET-1", stock=7)
    url = f"/v1/products/{p['id']}"
    for tok in (token_b, key_b):
        assert_not_found(call("GET", url, token=tok))
        assert_not_found(call("PATCH", url, {"stock": 0, "price": 1}, token=tok))
        assert_not_found(call("DELETE", url, token=tok))
        assert product_ids(tok) == []
        assert product_ids(tok, search="SECRET-1") == []
        assert product_ids(tok, search="secret") == []
    assert get_product(token_a, p["id"]) == p, "another merchant changed the product"
    assert product_ids(token_a) == [p["id"]]
    # B's rows stay B's
    q = create_product(token_b, name="Secret tea", sku="SECRET-1")
    assert product_ids(token_a, search="secret") == [p["id"]]
    assert product_ids(token_b, search="secret") == [q["id"]]
    assert_not_found(call("GET", f"/v1/products/{q['id']}", token=token_a))
