"""Orders: create (customers by id or by phone, catalog prices, exact totals,
order numbers, stock), out of stock, validation, Idempotency-Key, races for
the last unit, status moves, cancel, lists, merchant isolation."""

import uuid

from client import (ORDER_NUMBER_RE, RawJSON, assert_envelope_error, assert_id, assert_not_found, assert_ok,
                    assert_protected_headers,
                    assert_validation, call, call_json, check_each, create_customer, create_key, create_order,
                    create_product, list_all, list_page, move_order, now, order_body, parse_ts, random_phone,
                    raw_member, register, run_parallel, spellings, stock_of)

ORDER_KEYS = {"id", "orderNumber", "customer", "items", "shippingAddress", "totals", "payment", "status",
              "statusHistory", "notes", "createdAt", "updatedAt"}
ALLOWED = {"pending": ["confirmed", "cancelled"], "confirmed": ["packed", "cancelled"],
           "packed": ["shipped", "cancelled"], "shipped": ["delivered", "returned"], "delivered": ["returned"],
           "cancelled": [], "returned": []}
ADDRESS = {"name": "Sita Sharma", "phone": "9801234567", "street": "Thamel Marg 12", "city": "Kathmandu",
           "zone": "Bagmati", "landmark": "Near the stupa", "postalCode": "44600"}


def assert_order(o, listed=False):
    assert isinstance(o, dict), f"order is not an object: {o!r}"
    keys = ORDER_KEYS - {"statusHistory"} if listed else ORDER_KEYS
    assert set(o) == keys, f"order keys {sorted(o)}, expected {sorted(keys)}"
    assert_id(o["id"], "ord")
    m = ORDER_NUMBER_RE.match(o["orderNumber"] or "")
    assert m, f"orderNumber {o['orderNumber']!r} is not ORD-<year>-<4+ digits>"
    created = parse_ts(o["createdAt"])
    assert int(m.group(1)) == created.year, f"orderNumber year {m.group(1)} but createdAt {o['createdAt']}"
    assert abs((now() - created).total_seconds()) < 3600
    assert parse_ts(o["updatedAt"]) >= created
    assert set(o["customer"]) >= {"id", "firstName", "lastName", "phone"}, f"customer {o['customer']}"
    assert_id(o["customer"]["id"], "cus")
    for item in o["items"]:
        assert set(item) == {"productId", "name", "sku", "unitPrice", "quantity", "lineTotal"}, f"item {item}"
        assert round(item["unitPrice"] * item["quantity"], 2) == item["lineTotal"], f"lineTotal of {item}"
    t = o["totals"]
    assert set(t) == {"subtotal", "shipping", "discount", "total"}, f"totals {t}"
    assert round(sum(i["lineTotal"] for i in o["items"]), 2) == t["subtotal"], f"subtotal of {o['items']}"
    assert round(t["subtotal"] + t["shipping"] - t["discount"], 2) == t["total"], f"total of {t}"
    assert set(o["payment"]) >= {"method", "status"}, f"payment {o['payment']}"
    if not listed:
        assert o["statusHistory"][-1]["to"] == o["status"], f"history ends in {o['statusHistory'][-1]}"


def number_of(order):
    return int(ORDER_NUMBER_RE.match(order["orderNumber"]).group(2))


def get_order(token, order_id):
    return assert_ok(call("GET", f"/v1/orders/{order_id}", token=token))


def post(token, body, **kw):
    return call("POST", "/v1/orders", body, token=token, **kw)


def order_ids(token, **params):
    rows, _ = list_page(token, "/v1/orders", "orders", **params)
    return [o["id"] for o in rows]


def assert_out_of_stock(resp, product_id, available, requested):
    err = assert_envelope_error(resp, 409, "out_of_stock")
    d = err.get("details") or {}
    assert (d.get("productId"), d.get("available"), d.get("requested")) == (product_id, available, requested), \
        f"details {d}, expected productId {product_id} available {available} requested {requested}"


def assert_invalid_transition(resp, current):
    err = assert_envelope_error(resp, 409, "invalid_transition")
    d = err.get("details") or {}
    assert d.get("current") == current, f"details.current is {d.get('current')!r}, expected {current!r}: {err}"
    assert d.get("allowed") == ALLOWED[current], \
        f"details.allowed is {d.get('allowed')!r}, expected {ALLOWED[current]!r}: {err}"


# --- create -----------------------------------------------------------------------

def test_order_create_full_shape_and_exact_totals():
    _, token = register()
    p = create_product(token, name="Blue jacket", sku="JKT-BLUE-M", price=1499.99, stock=10)
    local = random_phone()
    body = order_body([(p["id"], 2)], customer={"firstName": "Sita", "lastName": "Sharma", "phone": local,
                                                  "email": "Sita@Example.com"},
                      shippingAddress=ADDRESS, shipping=100, discount=50.5, payment={"method": "esewa"},
                      notes="Call before delivery.\nGate code 12.")
    resp = post(token, body)
    o = assert_ok(resp, 201)
    assert_protected_headers(resp)
    assert_order(o)
    assert o["customer"]["firstName"] == "Sita" and o["customer"]["lastName"] == "Sharma"
    assert o["customer"]["phone"] == "+977" + local, f"customer phone {o['customer']['phone']!r}"
    assert o["items"] == [{"productId": p["id"], "name": "Blue jacket", "sku": "JKT-BLUE-M", "unitPrice": 1499.99,
                           "quantity": 2, "lineTotal": 2999.98}], f"items {o['items']}"
    assert o["totals"] == {"subtotal": 2999.98, "shipping": 100, "discount": 50.5, "total": 3049.48}, o["totals"]
    for name, spelled in (("subtotal", "2999.98"), ("shipping", "100"), ("discount", "50.5"), ("total", "3049.48"),
                          ("lineTotal", "2999.98"), ("unitPrice", "1499.99")):
        assert raw_member(resp.text, name) == spelled, f"{name} spelled {raw_member(resp.text, name)!r}"
    addr = o["shippingAddress"]
    for field, value in ADDRESS.items():
        want = "+9779801234567" if field == "phone" else value
        assert addr.get(field) == want, f"shippingAddress.{field} is {addr.get(field)!r}, expected {want!r}"
    assert o["payment"] == {"method": "esewa", "status": "pending"}, o["payment"]
    assert o["status"] == "pending"
    assert len(o["statusHistory"]) == 1, o["statusHistory"]
    h = o["statusHistory"][0]
    assert (h["from"], h["to"]) == (None, "pending") and h.get("note", "") == "", h
    parse_ts(h["at"])
    assert o["notes"] == body["notes"]
    assert get_order(token, o["id"]) == o, "GET differs from the created order"
    assert stock_of(token, p["id"]) == 8, "stock not taken"
    c = assert_ok(call("GET", f"/v1/customers/{o['customer']['id']}", token=token))
    assert (c["firstName"], c["phone"], c["email"]) == ("Sita", "+977" + local, "sita@example.com"), c


def test_order_defaults_and_payment_methods():
    _, token = register()
    p = create_product(token, price=10, stock=50)
    o = create_order(token, [(p["id"], 1)])
    assert o["payment"] == {"method": "cod", "status": "pending"}, f"default payment {o['payment']}"
    assert o["totals"] == {"subtotal": 10, "shipping": 0, "discount": 0, "total": 10}, o["totals"]
    assert o["notes"] in ("", None), f"default notes {o['notes']!r}"
    for method in ("cod", "esewa", "khalti", "fonepay"):
        o = create_order(token, [(p["id"], 1)], payment={"method": method})
        assert o["payment"]["method"] == method
    # a discount of exactly subtotal plus shipping is allowed: total 0
    o = create_order(token, [(p["id"], 3)], shipping=50, discount=80)
    assert o["totals"] == {"subtotal": 30, "shipping": 50, "discount": 80, "total": 0}, o["totals"]
    # many small amounts stay exact
    q = create_product(token, price=0.1, stock=1000)
    o = create_order(token, [(q["id"], 3), (p["id"], 1)], shipping=0.2)
    assert o["totals"] == {"subtotal": 10.3, "shipping": 0.2, "discount": 0, "total": 10.5}, o["totals"]
    assert stock_of(token, p["id"]) == 50 - 1 - 4 - 3 - 1


def test_order_customer_by_id_and_by_phone():
    _, token = register()
    p = create_product(token, stock=100)
    local = random_phone()
    c = create_customer(token, firstName="Hari", lastName="Bahadur", phone=local)
    by_id = create_order(token, [(p["id"], 1)], customer_id=c["id"])
    got = {k: by_id["customer"].get(k) for k in ("id", "firstName", "lastName", "phone")}
    assert got == {"id": c["id"], "firstName": "Hari", "lastName": "Bahadur", "phone": c["phone"]}, got
    # matched by phone in every spelling; the existing customer's name is kept
    for phone in spellings(local):
        o = create_order(token, [(p["id"], 1)], customer={"firstName": "Someone", "lastName": "Else", "phone": phone})
        assert o["customer"]["id"] == c["id"], f"{phone!r} made customer {o['customer']}"
        assert o["customer"]["firstName"] == "Hari", f"existing customer's name replaced: {o['customer']}"
    assert assert_ok(call("GET", f"/v1/customers/{c['id']}", token=token))["firstName"] == "Hari"
    # a new phone creates a customer, which later orders find in another spelling
    new_local = random_phone()
    first = create_order(token, [(p["id"], 1)], customer={"firstName": "Maya", "phone": f"+977-{new_local}"})
    assert first["customer"]["id"] != c["id"]
    assert first["customer"]["phone"] == "+977" + new_local
    again = create_order(token, [(p["id"], 1)], customer={"firstName": "M", "phone": f"977{new_local}"})
    assert again["customer"]["id"] == first["customer"]["id"]
    made = assert_ok(call("GET", f"/v1/customers/{first['customer']['id']}", token=token))
    assert (made["firstName"], made["phone"]) == ("Maya", "+977" + new_local), made
    rows, _ = list_page(token, "/v1/customers", "customers")
    assert sorted(x["id"] for x in rows) == sorted([c["id"], first["customer"]["id"]]), "extra customers made"
    # a foreign number works as well
    us = create_order(token, [(p["id"], 1)], customer={"firstName": "Joe", "phone": "+14155550123"})
    assert us["customer"]["phone"] == "+14155550123"


def test_order_customer_rules_422():
    _, token = register()
    p = create_product(token, stock=10)
    c = create_customer(token)
    _, token_b = register()
    foreign = create_customer(token_b)
    items = [{"productId": p["id"], "quantity": 1}]

    def expect_one_of(resp, fields):
        err = assert_envelope_error(resp, 422, "validation_failed")
        field = (err.get("details") or {}).get("field")
        assert field in fields, f"details.field {field!r} is not one of {fields}: {err}"

    both = order_body(items, customer_id=c["id"])
    both["customer"] = {"firstName": "X", "phone": random_phone()}
    expect_one_of(post(token, both), ("customerId", "customer"))
    neither = order_body(items)
    del neither["customer"]
    expect_one_of(post(token, neither), ("customerId", "customer"))
    cases = [
        (order_body(items, customer_id="cus_" + "a" * 20), "customerId"),
        (order_body(items, customer_id=foreign["id"]), "customerId"),
        (order_body(items, customer_id=5), "customerId"),
        (order_body(items, customer={"phone": random_phone()}), "customer.firstName"),
        (order_body(items, customer={"firstName": "", "phone": random_phone()}), "customer.firstName"),
        (order_body(items, customer={"firstName": "A"}), "customer.phone"),
        (order_body(items, customer={"firstName": "A", "phone": "12345"}), "customer.phone"),
        (order_body(items, customer={"firstName": "A", "phone": random_phone(), "email": "x@"}), "customer.email"),
        (order_body(items, customer={"firstName": "A", "phone": random_phone(), "vip": True}), "customer.vip"),
        (order_body(items, customer="Ram 9801234567"), "customer"),
    ]
    check_each(cases, lambda case: assert_validation(post(token, case[0]), case[1]))
    assert stock_of(token, p["id"]) == 10
    assert order_ids(token) == []


def test_order_items_come_from_the_catalog():
    _, token = register()
    p = create_product(token, name="Khukuri", sku="KHK-1", price=2500, stock=10)
    for field, value in (("price", 1), ("unitPrice", 1), ("name", "Free khukuri"), ("sku", "X"), ("lineTotal", 0)):
        body = order_body([{"productId": p["id"], "quantity": 1, field: value}])
        assert_validation(post(token, body), f"items[0].{field}")
    o = create_order(token, [(p["id"], 2)])
    assert o["items"] == [{"productId": p["id"], "name": "Khukuri", "sku": "KHK-1", "unitPrice": 2500,
                           "quantity": 2, "lineTotal": 5000}], o["items"]
    # the order keeps the price and name of order time
    assert_ok(call("PATCH", f"/v1/products/{p['id']}", {"price": 3000, "name": "Big khukuri"}, token=token))
    again = get_order(token, o["id"])
    assert again["items"] == o["items"] and again["totals"] == o["totals"], "catalog change rewrote an order"
    newer = create_order(token, [(p["id"], 1)])
    assert (newer["items"][0]["unitPrice"], newer["items"][0]["name"]) == (3000, "Big khukuri")
    # a deleted product stays on the orders that hold it
    assert_ok(call("DELETE", f"/v1/products/{p['id']}", token=token))
    assert get_order(token, o["id"])["items"] == o["items"]


def test_order_merges_duplicate_products():
    _, token = register()
    p = create_product(token, price=100, stock=10)
    q = create_product(token, price=25.5, stock=10)
    o = create_order(token, [(p["id"], 1), (q["id"], 2), (p["id"], 3)])
    lines = {i["productId"]: i for i in o["items"]}
    assert len(o["items"]) == 2, f"duplicates not merged: {o['items']}"
    assert (lines[p["id"]]["quantity"], lines[p["id"]]["lineTotal"]) == (4, 400), lines[p["id"]]
    assert (lines[q["id"]]["quantity"], lines[q["id"]]["lineTotal"]) == (2, 51), lines[q["id"]]
    assert o["totals"]["subtotal"] == 451
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (6, 8)
    # merged quantities are checked against stock as a whole
    assert_out_of_stock(post(token, order_body([(p["id"], 4), (p["id"], 3)])), p["id"], 6, 7)
    assert stock_of(token, p["id"]) == 6


def test_order_refuses_unusable_products_422():
    _, token = register()
    good = create_product(token, stock=10)
    inactive = create_product(token, active=False, stock=10)
    deleted = create_product(token, stock=10)
    assert_ok(call("DELETE", f"/v1/products/{deleted['id']}", token=token))
    _, token_b = register()
    foreign = create_product(token_b, stock=10)
    cases = [("unknown", "prod_" + "a" * 20), ("not an id", "nope"), ("another merchant's", foreign["id"]),
             ("deleted", deleted["id"]), ("inactive", inactive["id"])]

    def check(case):
        _, bad = case
        assert_validation(post(token, order_body([(good["id"], 1), (bad, 1)])), "items[1].productId")
        assert_validation(post(token, order_body([(bad, 1), (good["id"], 2)])), "items[0].productId")

    check_each(cases, check)
    assert stock_of(token, good["id"]) == 10, "a refused order took stock"
    assert stock_of(token_b, foreign["id"]) == 10, "another merchant's stock was touched"
    assert order_ids(token) == []


def test_order_out_of_stock_takes_nothing():
    _, token = register()
    p = create_product(token, stock=5)
    q = create_product(token, stock=1)
    assert_out_of_stock(post(token, order_body([(p["id"], 2), (q["id"], 3)])), q["id"], 1, 3)
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (5, 1), "a refused order took stock"
    assert_out_of_stock(post(token, order_body([(q["id"], 1), (p["id"], 6)])), p["id"], 5, 6)
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (5, 1), "a refused order took stock"
    assert order_ids(token) == []
    o = create_order(token, [(p["id"], 5), (q["id"], 1)])
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (0, 0)
    assert_out_of_stock(post(token, order_body([(q["id"], 1)])), q["id"], 0, 1)
    assert order_ids(token) == [o["id"]]


def test_order_numbers_consecutive_per_merchant():
    _, token_a = register()
    _, token_b = register()
    pa = create_product(token_a, stock=10)
    pb = create_product(token_b, stock=10)
    year = now().year
    a = [create_order(token_a, [(pa["id"], 1)])["orderNumber"] for _ in range(3)]
    b = create_order(token_b, [(pb["id"], 1)])["orderNumber"]
    a.append(create_order(token_a, [(pa["id"], 1)])["orderNumber"])
    assert a == [f"ORD-{year}-{n:04d}" for n in (1, 2, 3, 4)], f"merchant A numbers {a}"
    assert b == f"ORD-{year}-0001", f"merchant B's first number {b}"


INVALID_ORDER = [
    # (description, function of (product id) to a body, field named in the error)
    ("missing items", lambda p: _without(order_body([(p, 1)]), "items"), "items"),
    ("items empty", lambda p: order_body([]), "items"),
    ("items 51 entries", lambda p: order_body([(p, 1)] * 51), "items"),
    ("items not an array", lambda p: _with(order_body([(p, 1)]), items={"productId": p, "quantity": 1}), "items"),
    ("item not an object", lambda p: _with(order_body([(p, 1)]), items=[p]), "items[0]"),
    ("item missing productId", lambda p: order_body([{"quantity": 1}]), "items[0].productId"),
    ("productId a number", lambda p: order_body([{"productId": 7, "quantity": 1}]), "items[0].productId"),
    ("item missing quantity", lambda p: order_body([(p, 1), {"productId": p}]), "items[1].quantity"),
    ("quantity 0", lambda p: order_body([(p, 0)]), "items[0].quantity"),
    ("quantity negative", lambda p: order_body([(p, -1)]), "items[0].quantity"),
    ("quantity 1001", lambda p: order_body([(p, 1001)]), "items[0].quantity"),
    ("quantity a float", lambda p: order_body([(p, 1.5)]), "items[0].quantity"),
    ("quantity a string", lambda p: order_body([(p, "2")]), "items[0].quantity"),
    ("quantity an exponent", lambda p: order_body([(p, RawJSON("1e1"))]), "items[0].quantity"),
    ("missing shippingAddress", lambda p: _without(order_body([(p, 1)]), "shippingAddress"), "shippingAddress"),
    ("shippingAddress a string", lambda p: order_body([(p, 1)], shippingAddress="Thamel"), "shippingAddress"),
    ("shippingAddress missing street", lambda p: order_body([(p, 1)], shippingAddress={"city": "Kathmandu"}),
     "shippingAddress.street"),
    ("shippingAddress missing city", lambda p: order_body([(p, 1)], shippingAddress={"street": "Thamel"}),
     "shippingAddress.city"),
    ("shippingAddress street empty",
     lambda p: order_body([(p, 1)], shippingAddress={"street": "", "city": "Kathmandu"}), "shippingAddress.street"),
    ("shippingAddress city 201 chars",
     lambda p: order_body([(p, 1)], shippingAddress={"street": "s", "city": "c" * 201}), "shippingAddress.city"),
    ("shippingAddress phone invalid",
     lambda p: order_body([(p, 1)], shippingAddress={"street": "s", "city": "c", "phone": "123"}),
     "shippingAddress.phone"),
    ("shippingAddress unknown field",
     lambda p: order_body([(p, 1)], shippingAddress={"street": "s", "city": "c", "country": "NP"}),
     "shippingAddress.country"),
    ("shipping negative", lambda p: order_body([(p, 1)], shipping=-1), "shipping"),
    ("shipping 3 decimals", lambda p: order_body([(p, 1)], shipping=1.001), "shipping"),
    ("shipping a string", lambda p: order_body([(p, 1)], shipping="100"), "shipping"),
    ("shipping an exponent", lambda p: order_body([(p, 1)], shipping=RawJSON("1e2")), "shipping"),
    ("discount negative", lambda p: order_body([(p, 1)], discount=-5), "discount"),
    ("discount 3 decimals", lambda p: order_body([(p, 1)], discount=0.125), "discount"),
    ("discount a string", lambda p: order_body([(p, 1)], discount="5"), "discount"),
    ("discount above subtotal plus shipping", lambda p: order_body([(p, 1)], shipping=100, discount=101.01),
     "discount"),
    ("payment not an object", lambda p: order_body([(p, 1)], payment="cod"), "payment"),
    ("payment method unknown", lambda p: order_body([(p, 1)], payment={"method": "cash"}), "payment.method"),
    ("payment method a number", lambda p: order_body([(p, 1)], payment={"method": 1}), "payment.method"),
    ("payment status sent", lambda p: order_body([(p, 1)], payment={"method": "cod", "status": "paid"}),
     "payment.status"),
    ("notes 2001 chars", lambda p: order_body([(p, 1)], notes="n" * 2001), "notes"),
    ("notes a number", lambda p: order_body([(p, 1)], notes=5), "notes"),
    ("status sent", lambda p: order_body([(p, 1)], status="delivered"), "status"),
    ("orderNumber sent", lambda p: order_body([(p, 1)], orderNumber="ORD-2020-0001"), "orderNumber"),
    ("unknown field", lambda p: order_body([(p, 1)], coupon="FREE"), "coupon"),
]


def _without(body, field):
    body.pop(field)
    return body


def _with(body, **fields):
    body.update(fields)
    return body


def test_order_invalid_fields_422():
    _, token = register()
    p = create_product(token, price=1, stock=1000)

    def check(case):
        _, make, field = case
        assert_validation(call_json("POST", "/v1/orders", make(p["id"]), token=token), field)

    check_each(INVALID_ORDER, check)
    for raw in ('{"items": ', "[]", '{"items": [], }'):
        assert_envelope_error(call("POST", "/v1/orders", raw=raw, token=token), 400, "invalid_json")
    assert_envelope_error(call("POST", "/v1/orders", raw="{}", token=token, headers={"Content-Type": "text/plain"}),
                          415, "unsupported_media_type")
    assert_envelope_error(post(token, order_body([(p["id"], 1)], notes="n" * 70 * 1024)), 413, "payload_too_large")
    assert stock_of(token, p["id"]) == 1000, "a refused order took stock"
    assert order_ids(token) == [], "a refused order was stored"
    # the boundaries themselves are fine
    o = create_order(token, [(p["id"], 1000)], notes="n" * 2000, shipping=0, discount=1000)
    assert o["totals"]["total"] == 0
    key = create_key(token)["key"]  # a second credential: the rate limit is per credential
    q = create_product(key, stock=100)
    many = [create_product(key, stock=1)["id"] for _ in range(48)] + [q["id"], q["id"]]
    o = create_order(key, [(pid, 1) for pid in many])
    assert len(o["items"]) == 49, f"{len(o['items'])} lines for 48 products and one twice"


def test_orders_require_credentials():
    oid = "ord_" + "a" * 20
    for method, path, body in (("GET", "/v1/orders", None), ("POST", "/v1/orders", {"items": []}),
                               ("GET", f"/v1/orders/{oid}", None),
                               ("POST", f"/v1/orders/{oid}/status", {"status": "confirmed"}),
                               ("POST", f"/v1/orders/{oid}/cancel", None)):
        assert_envelope_error(call(method, path, body), 401, "unauthorized")


# --- Idempotency-Key ------------------------------------------------------------------

def test_order_idempotent_retry_takes_stock_once():
    _, token = register()
    p = create_product(token, stock=10)
    key = "order-" + uuid.uuid4().hex
    body = order_body([(p["id"], 3)])
    first = post(token, body, headers={"Idempotency-Key": key})
    o = assert_ok(first, 201)
    for _ in range(2):
        again = post(token, body, headers={"Idempotency-Key": key})
        assert assert_ok(again, 201) == o, "the retry answered another order"
        assert again.headers.get("Idempotent-Replayed") == "true"
    assert stock_of(token, p["id"]) == 7, "a retry took stock again"
    assert order_ids(token) == [o["id"]], "a retry created another order"
    changed = order_body([(p["id"], 4)], customer=body["customer"])
    assert_envelope_error(post(token, changed, headers={"Idempotency-Key": key}), 422, "idempotency_key_reused")
    assert_envelope_error(post(token, body, headers={"Idempotency-Key": "k" * 300}), 422, "validation_failed")
    assert stock_of(token, p["id"]) == 7
    # a retry replays the first answer even after the order moved on
    assert_ok(move_order(token, o["id"], "confirmed"))
    assert assert_ok(post(token, body, headers={"Idempotency-Key": key}), 201) == o
    # the next order, with its own key, has the next number
    nxt = assert_ok(post(token, order_body([(p["id"], 1)]), headers={"Idempotency-Key": key + "-2"}), 201)
    assert number_of(nxt) == number_of(o) + 1


def test_order_idempotent_retries_racing_create_one_order():
    _, token = register()
    p = create_product(token, stock=10)
    for _ in range(3):
        key = uuid.uuid4().hex
        body = order_body([(p["id"], 1)])
        a, b = run_parallel([lambda: post(token, body, headers={"Idempotency-Key": key})] * 2)
        ok = [r for r in (a, b) if r.status == 201]
        assert ok, f"neither retry succeeded: {a} {b}"
        ids = {assert_ok(r, 201)["id"] for r in ok}
        assert len(ids) == 1, f"two orders for one key: {ids}"
        for r in (a, b):
            if r.status != 201:  # documented: "a retry still in progress" is a 409 conflict
                assert_envelope_error(r, 409, "conflict")
    assert stock_of(token, p["id"]) == 7, "racing retries took stock more than once"
    assert len(order_ids(token)) == 3


# --- concurrency ------------------------------------------------------------------------

def test_two_orders_race_for_the_last_unit():
    _, token = register()
    second = create_key(token, "race")["key"]
    for round_ in range(5):
        p = create_product(token, stock=1, name=f"Last one {round_}")
        bodies = [order_body([(p["id"], 1)]) for _ in range(2)]
        results = run_parallel([lambda: post(token, bodies[0]), lambda: post(second, bodies[1])])
        statuses = sorted(r.status for r in results)
        assert statuses == [201, 409], f"round {round_}: statuses {statuses}: {results}"
        loser = next(r for r in results if r.status == 409)
        assert_out_of_stock(loser, p["id"], 0, 1)
        assert stock_of(token, p["id"]) == 0, f"round {round_}: stock oversold"
    assert len(order_ids(second, limit=100)) == 5


def test_ten_parallel_orders_get_distinct_consecutive_numbers():
    _, token = register()
    keys = [token] + [create_key(token, f"k{i}")["key"] for i in range(2)]
    p = create_product(token, stock=100)
    results = run_parallel([lambda i=i: post(keys[i % 3], order_body([(p["id"], 1)])) for i in range(10)])
    orders = [assert_ok(r, 201) for r in results]
    numbers = sorted(number_of(o) for o in orders)
    assert numbers == list(range(1, 11)), f"order numbers {numbers}"
    assert len({o["id"] for o in orders}) == 10
    assert stock_of(token, p["id"]) == 90
    rows, _ = list_page(token, "/v1/orders", "orders", limit=100)
    assert sorted(o["id"] for o in rows) == sorted(o["id"] for o in orders)


def test_parallel_orders_in_opposite_item_order_do_not_deadlock():
    _, token = register()
    other = create_key(token)["key"]
    p = create_product(token, stock=20)
    q = create_product(token, stock=20)
    for _ in range(5):
        results = run_parallel([lambda: post(token, order_body([(p["id"], 1), (q["id"], 1)])),
                                lambda: post(other, order_body([(q["id"], 1), (p["id"], 1)]))])
        for r in results:
            assert_ok(r, 201)
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (10, 10)


# --- status -------------------------------------------------------------------------------

def test_order_status_full_path_and_history():
    _, token = register()
    p = create_product(token, stock=5)
    o = create_order(token, [(p["id"], 1)])
    history = o["statusHistory"]
    prev = "pending"
    for step, status in enumerate(["confirmed", "packed", "shipped", "delivered", "returned"]):
        note = f"step {step}" if step % 2 == 0 else None
        r = assert_ok(move_order(token, o["id"], status, note))
        assert_order(r)
        assert r["status"] == status
        h = r["statusHistory"]
        assert len(h) == len(history) + 1 and h[:-1] == history, f"history did not grow by one: {h}"
        assert (h[-1]["from"], h[-1]["to"]) == (prev, status), f"last entry {h[-1]}"
        assert h[-1].get("note", "") == (note or ""), f"note {h[-1].get('note')!r}, sent {note!r}"
        assert parse_ts(h[-1]["at"]) >= parse_ts(h[-2]["at"]), "history out of order"
        history, prev = h, status
    final = get_order(token, o["id"])
    assert final["statusHistory"] == history and final["status"] == "returned"
    assert_invalid_transition(move_order(token, o["id"], "delivered"), "returned")
    assert_invalid_transition(call("POST", f"/v1/orders/{o['id']}/cancel", token=token), "returned")


def test_order_forbidden_moves_409_with_allowed_list():
    _, token = register()
    p = create_product(token, stock=5)
    o = create_order(token, [(p["id"], 1)])
    for current, nxt, bad in (("pending", "confirmed", ["shipped", "pending", "delivered", "returned", "packed"]),
                              ("confirmed", "packed", ["pending", "shipped", "confirmed"]),
                              ("packed", "shipped", ["delivered", "confirmed"]),
                              ("shipped", "delivered", ["cancelled", "packed", "shipped"]),
                              ("delivered", None, ["cancelled", "shipped"])):
        for status in bad:
            assert_invalid_transition(move_order(token, o["id"], status), current)
        if nxt:
            assert assert_ok(move_order(token, o["id"], nxt))["status"] == nxt
    assert_invalid_transition(call("POST", f"/v1/orders/{o['id']}/cancel", token=token), "delivered")
    assert len(get_order(token, o["id"])["statusHistory"]) == 5


def test_order_status_body_validation():
    _, token = register()
    p = create_product(token, stock=5)
    o = create_order(token, [(p["id"], 1)])
    url = f"/v1/orders/{o['id']}/status"
    cases = [({"status": "lost"}, "status"), ({"status": "PENDING"}, "status"), ({"status": ""}, "status"),
             ({"status": 1}, "status"), ({"status": None}, "status"), ({}, "status"), ({"note": "x"}, "status"),
             ({"status": "confirmed", "note": "n" * 501}, "note"), ({"status": "confirmed", "note": 5}, "note"),
             ({"status": "confirmed", "by": "me"}, "by")]
    check_each(cases, lambda case: assert_validation(call("POST", url, case[0], token=token), case[1]))
    assert_envelope_error(call("POST", url, raw='{"status": ', token=token), 400, "invalid_json")
    assert_validation(call("POST", f"/v1/orders/{o['id']}/cancel", {"note": "n" * 501}, token=token), "note")
    assert_validation(call("POST", f"/v1/orders/{o['id']}/cancel", {"why": "x"}, token=token), "why")
    assert get_order(token, o["id"]) == o, "a refused move changed the order"
    assert stock_of(token, p["id"]) == 4
    r = assert_ok(move_order(token, o["id"], "confirmed", "n" * 500))
    assert r["statusHistory"][-1]["note"] == "n" * 500
    assert_not_found(move_order(token, "ord_" + "a" * 20, "confirmed"))
    assert_not_found(call("POST", "/v1/orders/ord_" + "a" * 20 + "/cancel", token=token))


# --- cancel -----------------------------------------------------------------------------

def test_order_cancel_restores_stock_exactly_once():
    _, token = register()
    p = create_product(token, stock=10)
    q = create_product(token, stock=5)
    o = create_order(token, [(p["id"], 3), (q["id"], 2)])
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (7, 3)
    r = assert_ok(call("POST", f"/v1/orders/{o['id']}/cancel", token=token))  # no body at all
    assert r["status"] == "cancelled"
    assert (r["statusHistory"][-1]["from"], r["statusHistory"][-1]["to"]) == ("pending", "cancelled")
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (10, 5), "stock not restored"
    assert_invalid_transition(call("POST", f"/v1/orders/{o['id']}/cancel", {"note": "again"}, token=token),
                              "cancelled")
    assert_invalid_transition(move_order(token, o["id"], "cancelled"), "cancelled")
    assert_invalid_transition(move_order(token, o["id"], "confirmed"), "cancelled")
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (10, 5), "stock restored twice"
    assert len(get_order(token, o["id"])["statusHistory"]) == 2

    # with a note, from confirmed and from packed
    o2 = create_order(token, [(p["id"], 4)])
    assert_ok(move_order(token, o2["id"], "confirmed"))
    r2 = assert_ok(call("POST", f"/v1/orders/{o2['id']}/cancel", {"note": "customer changed mind"}, token=token))
    assert r2["statusHistory"][-1]["note"] == "customer changed mind"
    assert (r2["statusHistory"][-1]["from"], r2["status"]) == ("confirmed", "cancelled")
    o3 = create_order(token, [(q["id"], 5)])
    assert_ok(move_order(token, o3["id"], "confirmed"))
    assert_ok(move_order(token, o3["id"], "packed"))
    assert_ok(call("POST", f"/v1/orders/{o3['id']}/cancel", {}, token=token))
    assert (stock_of(token, p["id"]), stock_of(token, q["id"])) == (10, 5)


def test_order_cancel_via_status_restores_stock_once():
    _, token = register()
    p = create_product(token, stock=6)
    o = create_order(token, [(p["id"], 6)])
    assert stock_of(token, p["id"]) == 0
    r = assert_ok(move_order(token, o["id"], "cancelled", "via status"))
    assert r["status"] == "cancelled" and r["statusHistory"][-1]["note"] == "via status"
    assert stock_of(token, p["id"]) == 6
    assert_invalid_transition(call("POST", f"/v1/orders/{o['id']}/cancel", token=token), "cancelled")
    assert stock_of(token, p["id"]) == 6
    # the restored units can be sold again
    create_order(token, [(p["id"], 6)])
    assert stock_of(token, p["id"]) == 0


def test_order_cancel_after_shipped_409_keeps_stock():
    _, token = register()
    p = create_product(token, stock=3)
    o = create_order(token, [(p["id"], 2)])
    for status in ("confirmed", "packed", "shipped"):
        assert_ok(move_order(token, o["id"], status))
    assert_invalid_transition(call("POST", f"/v1/orders/{o['id']}/cancel", token=token), "shipped")
    assert_invalid_transition(move_order(token, o["id"], "cancelled"), "shipped")
    assert stock_of(token, p["id"]) == 1
    assert get_order(token, o["id"])["status"] == "shipped"


def test_racing_cancels_restore_stock_once():
    _, token = register()
    other = create_key(token)["key"]
    p = create_product(token, stock=10)
    for round_ in range(3):
        o = create_order(token, [(p["id"], 2)])
        a, b = run_parallel([lambda: call("POST", f"/v1/orders/{o['id']}/cancel", token=token),
                             lambda: move_order(other, o["id"], "cancelled")])
        assert sorted([a.status, b.status]) == [200, 409], f"round {round_}: {a} {b}"
        assert_invalid_transition(a if a.status == 409 else b, "cancelled")
        assert stock_of(token, p["id"]) == 10, f"round {round_}: stock restored twice or not at all"


# --- list -------------------------------------------------------------------------------

def test_order_list_filters_and_pages():
    _, token = register()
    p = create_product(token, stock=100)
    c1 = create_customer(token)
    c2 = create_customer(token)
    made = [create_order(token, [(p["id"], 1)], customer_id=c)["id"] for c in (c1["id"], c2["id"], c1["id"],
                                                                          c2["id"], c1["id"])]
    newest_first = made[::-1]
    assert_ok(move_order(token, made[1], "confirmed"))
    assert_ok(call("POST", f"/v1/orders/{made[3]}/cancel", token=token))

    rows, cursor = list_page(token, "/v1/orders", "orders")
    assert [o["id"] for o in rows] == newest_first and cursor is None, f"list {[o['orderNumber'] for o in rows]}"
    for o in rows:
        assert_order(o, listed=True)
    full = get_order(token, made[1])
    assert {k: v for k, v in full.items() if k != "statusHistory"} == rows[3], "list row differs from GET"

    cases = [({"status": "confirmed"}, [made[1]]), ({"status": "cancelled"}, [made[3]]),
             ({"status": "pending"}, [made[4], made[2], made[0]]), ({"status": "shipped"}, []),
             ({"paymentStatus": "pending"}, newest_first), ({"paymentStatus": "paid"}, []),
             ({"customerId": c1["id"]}, [made[4], made[2], made[0]]), ({"customerId": c2["id"]}, [made[3], made[1]]),
             ({"customerId": c2["id"], "status": "cancelled"}, [made[3]]), ({"limit": "2"}, newest_first[:2])]
    check_each(cases, lambda case: _expect(order_ids(token, **case[0]), case[1]))

    late = []
    rows, pages = list_all(token, "/v1/orders", "orders", 2,
                           between_pages=lambda: late.append(create_order(token, [(p["id"], 1)])["id"]))
    assert [o["id"] for o in rows] == newest_first and pages == 3, f"walked {[o['orderNumber'] for o in rows]}"
    rows, _ = list_all(token, "/v1/orders", "orders", 1, customerId=c1["id"])
    assert [o["id"] for o in rows] == [made[4], made[2], made[0]]
    assert order_ids(token, limit=1) == late

    bad = [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("cursor=garbage", "cursor"),
           ("status=lost", "status"), ("paymentStatus=maybe", "paymentStatus")]
    check_each(bad, lambda case: assert_validation(call("GET", "/v1/orders?" + case[0], token=token), case[1]))


def _expect(got, want):
    assert got == want, f"got {got}, expected {want}"


# --- merchant isolation -------------------------------------------------------------------

def test_orders_are_private_to_their_merchant():
    merchant_a, token_a = register()
    _, token_b = register()
    key_b = create_key(token_b)["key"]
    p = create_product(token_a, stock=5)
    c = create_customer(token_a)
    o = create_order(token_a, [(p["id"], 2)], customer_id=c["id"])
    oid = o["id"]
    for tok in (token_b, key_b):
        assert_not_found(call("GET", f"/v1/orders/{oid}", token=tok))
        assert_not_found(move_order(tok, oid, "confirmed"))
        assert_not_found(move_order(tok, oid, "cancelled"))
        assert_not_found(call("POST", f"/v1/orders/{oid}/cancel", token=tok))
        assert_not_found(call("POST", f"/v1/orders/{oid}/cancel", {"note": "x"}, token=tok))
        for method in ("PATCH", "DELETE"):  # not documented routes: never a success, never data
            resp = call(method, f"/v1/orders/{oid}", {"status": "cancelled"} if method == "PATCH" else None, token=tok)
            assert resp.status in (404, 405), f"{method} of another merchant's order: {resp}"
            assert oid not in resp.text
        assert order_ids(tok) == []
        # filtering by A's customer shows nothing of A's (an empty list, or a refusal)
        resp = call("GET", f"/v1/orders?customerId={c['id']}", token=tok)
        if resp.status == 200:
            assert assert_ok(resp)["orders"] == [], f"A's orders listed for B: {resp}"
        else:
            assert resp.status in (404, 422) and oid not in resp.text, f"customerId filter: {resp}"
        assert_validation(post(tok, order_body([(p["id"], 1)])), "items[0].productId")
        assert_validation(post(tok, order_body([(create_product(tok, stock=1)["id"], 1)], customer_id=c["id"])),
                          "customerId")
    # A's order, product and customer are untouched
    assert get_order(token_a, oid) == o, "another merchant changed the order"
    assert stock_of(token_a, p["id"]) == 3
    assert order_ids(token_a) == [oid]
    # B's own orders count from 1 and stay B's
    ob = create_order(token_b, [(create_product(token_b, stock=1)["id"], 1)])
    assert number_of(ob) == 1
    assert_not_found(call("GET", f"/v1/orders/{ob['id']}", token=token_a))
    assert order_ids(token_a) == [oid] and order_ids(token_b) == [ob["id"]]
    assert merchant_a["id"] not in str(ob)


def test_order_get_unknown_404():
    _, token = register()
    check_each(["ord_" + "a" * 20, "nope", "prod_" + "a" * 20],
               lambda oid: assert_not_found(call("GET", f"/v1/orders/{oid}", token=token)))
