"""Shared helpers for the end-to-end tests (standard library only)."""

import datetime
import http.client
import json
import os
import random
import re
import subprocess
import time
import urllib.parse
import uuid

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:18080").rstrip("/")
ROOT = os.environ.get("ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PASSWORD = "correct horse battery"
RATE_LIMIT = int(os.environ.get("RATE_LIMIT_PER_MINUTE", "120"))
OPEN_RATE_LIMIT = int(os.environ.get("RATE_LIMIT_OPEN_PER_MINUTE", "10"))
TOKEN_TTL = int(os.environ.get("TOKEN_TTL_SECONDS", "86400"))
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

_url = urllib.parse.urlsplit(BASE_URL)


class Response:
    def __init__(self, status, headers, text):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: get() is case-insensitive
        self.text = text
        try:
            self.json = json.loads(text) if text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.text[:300]!r}>"


def call(method, path, body=None, token=None, headers=None, raw=None, ip=None, timeout=15):
    """One HTTP request. `body` is sent as JSON, `raw` (str/bytes) as is;
    `ip` sets X-Forwarded-For; a header given as None in `headers` is not sent."""
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
    elif raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if ip is not None:
        hdrs["X-Forwarded-For"] = ip
    for k, v in (headers or {}).items():
        hdrs = {hk: hv for hk, hv in hdrs.items() if hk.lower() != k.lower()}
        if v is not None:
            hdrs[k] = v
    conn = http.client.HTTPConnection(_url.hostname, _url.port or 80, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=data, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (e.g. 413) before reading the whole body
        r = conn.getresponse()
        return Response(r.status, r.msg, r.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def fake_ip():
    """A fresh client address for X-Forwarded-For (no traffic goes there)."""
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255), random.randint(1, 254))


def unique_email():
    return f"e2e-{uuid.uuid4().hex[:16]}@example.com"


def random_phone():
    """A valid Nepali mobile number, local spelling: 98X + 7 digits."""
    return "98" + random.choice("012456") + "%07d" % random.randint(0, 9999999)


def register_body(**overrides):
    body = {"businessName": "E2E Traders", "email": unique_email(),
            "password": PASSWORD, "phone": random_phone()}
    body.update(overrides)
    return body


def register(ip=None, **overrides):
    """Register a fresh merchant; returns (merchant, token)."""
    r = call("POST", "/v1/auth/register", register_body(**overrides), ip=ip or fake_ip())
    data = assert_ok(r, 201)
    return data["merchant"], data["token"]


def login(email, password=PASSWORD, ip=None):
    return call("POST", "/v1/auth/login", {"email": email, "password": password}, ip=ip or fake_ip())


def create_key(token, name="e2e key"):
    r = call("POST", "/v1/api-keys", {"name": name}, token=token)
    return assert_ok(r, 201)


def _common(resp, status):
    assert resp.status == status, f"expected HTTP {status}, got {resp.status}: {resp.text[:500]}"
    ctype = resp.headers.get("Content-Type") or ""
    assert ctype.split(";")[0].strip().lower() == "application/json", \
        f"Content-Type is {ctype!r}, not application/json: {resp.text[:200]}"
    assert resp.headers.get("X-Request-Id"), "X-Request-Id header missing"
    assert isinstance(resp.json, dict), f"body is not a JSON object: {resp.text[:300]!r}"


def assert_ok(resp, status=200):
    """Check the success envelope and return `data`."""
    _common(resp, status)
    assert resp.json.get("success") is True, f"success is not true: {resp.json}"
    assert "data" in resp.json, f"no data in {resp.json}"
    return resp.json["data"]


def assert_envelope_error(resp, status, code):
    """Check the full error envelope; returns the `error` object."""
    _common(resp, status)
    body = resp.json
    assert body.get("success") is False, f"success is not false: {body}"
    err = body.get("error")
    assert isinstance(err, dict), f"error is not an object: {body}"
    assert err.get("code") == code, f"error.code is {err.get('code')!r}, expected {code!r}: {body}"
    assert isinstance(err.get("message"), str) and err["message"].strip(), f"empty error.message: {body}"
    assert "details" not in err or isinstance(err["details"], dict), f"details not an object: {body}"
    return err


def check_each(cases, check):
    """Run check(case) for every case; one AssertionError listing every failing case."""
    failures = []
    for case in cases:
        try:
            check(case)
        except AssertionError as exc:
            failures.append(f"{case!r}: {exc}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n      " + "\n      ".join(failures)


def assert_security_headers(resp):
    for name, value in SECURITY_HEADERS.items():
        got = resp.headers.get(name)
        assert got == value, f"{name} is {got!r}, expected {value!r} (HTTP {resp.status})"


def parse_ts(value):
    """Parse an ISO-8601 UTC timestamp ending in Z."""
    assert isinstance(value, str) and value.endswith("Z"), f"not a UTC timestamp: {value!r}"
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def assert_merchant(m, business_name=None, email=None, phone=None):
    assert isinstance(m, dict), f"merchant is not an object: {m!r}"
    assert isinstance(m.get("id"), str) and m["id"].startswith("mer_") and len(m["id"]) > 4, f"bad id: {m}"
    for field, want in (("businessName", business_name), ("email", email), ("phone", phone)):
        assert isinstance(m.get(field), str), f"{field} missing: {m}"
        if want is not None:
            assert m[field] == want, f"{field} is {m[field]!r}, expected {want!r}"
    created = parse_ts(m.get("createdAt"))
    assert abs((now() - created).total_seconds()) < 3600, f"createdAt far from now: {m['createdAt']}"
    leaked = {k for k in m if "pass" in k.lower() or "hash" in k.lower()}
    assert not leaked, f"merchant leaks {leaked}"


def assert_expires(expires_at):
    left = (parse_ts(expires_at) - now()).total_seconds()
    assert TOKEN_TTL - 300 < left <= TOKEN_TTL + 300, f"expiresAt {expires_at} is {left:.0f}s away, TTL {TOKEN_TTL}"


def wait_for(fn, timeout, interval=0.2):
    """Poll fn() until it returns a truthy value; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def in_fresh_window(start, min_left=10):
    """Run start() (which makes the first request of a rate-limit sequence and
    returns its response); if the window resets within min_left seconds, wait
    for it to roll over and start again, so that a sequence fits one window."""
    for _ in range(3):
        resp = start()
        reset = resp.headers.get("X-RateLimit-Reset")
        assert reset is not None and reset.isdigit(), f"X-RateLimit-Reset missing or bad: {reset!r}"
        if int(reset) >= min_left:
            return resp
        time.sleep(int(reset) + 0.5)
    raise AssertionError("could not start in a fresh rate-limit window")


def script(name, *args, timeout=60):
    path = os.path.join(ROOT, "scripts", name)
    assert os.access(path, os.X_OK), f"{path} is missing or not executable"
    p = subprocess.run([path, *args], capture_output=True, text=True, timeout=timeout)
    return p


def svc(action, service):
    p = script("svc", action, service, timeout=90)
    assert p.returncode == 0, f"scripts/svc {action} {service} failed ({p.returncode}): {p.stderr or p.stdout}"


def psql(sql, app=False, check=True):
    """Run SQL statements (each its own -c, one session); returns stdout."""
    args = (["--app"] if app else []) + [a for s in sql for a in ("-c", s)]
    p = script("psql", *args)
    assert p.returncode == 0 or not check, f"scripts/psql {' '.join(args)} failed ({p.returncode}): {p.stderr or p.stdout}"
    return p.stdout


# --- products, customers, orders ---------------------------------------------

import threading  # noqa: E402  (appended section: the helpers below need it)

ID_RE = {prefix: re.compile(r"^%s_[a-z2-7]{20}$" % prefix) for prefix in ("prod", "cus", "ord")}
ORDER_NUMBER_RE = re.compile(r"^ORD-(\d{4})-(\d{4,})$")


class RawJSON(str):
    """A value sent as this exact JSON text (e.g. RawJSON("1e3")), for inputs
    json.dumps cannot spell. Use with call_json()."""


def dumps_raw(body):
    """json.dumps, with every RawJSON value written verbatim."""
    raws = {}

    def mark(value):
        if isinstance(value, RawJSON):
            token = f"@@raw{len(raws)}@@"
            raws[token] = str(value)
            return token
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(body))
    for token, raw in raws.items():
        text = text.replace(json.dumps(token), raw)
    return text


def call_json(method, path, body, **kw):
    """call() with a body that may hold RawJSON values."""
    return call(method, path, raw=dumps_raw(body), **kw)


def assert_id(value, prefix):
    assert isinstance(value, str) and ID_RE[prefix].match(value), f"bad {prefix} id {value!r}"


def assert_validation(resp, field):
    """422 validation_failed naming `field` in the message and details.field."""
    err = assert_envelope_error(resp, 422, "validation_failed")
    assert field in err["message"], f"message {err['message']!r} does not name {field!r}"
    assert (err.get("details") or {}).get("field") == field, f"details.field is not {field!r}: {err}"
    return err


def assert_not_found(resp):
    return assert_envelope_error(resp, 404, "not_found")


def raw_member(text, name):
    """The JSON text of the first `"name": <number>` in a response body, e.g.
    "1499.99", to check how a number is spelled, not just its value."""
    m = re.search(r'"%s"\s*:\s*(-?[0-9][0-9.eE+-]*)' % re.escape(name), text)
    return m.group(1) if m else None


def unique_sku(prefix="E2E"):
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


def product_body(**overrides):
    body = {"name": "E2E Blue jacket", "price": 1499.99, "sku": unique_sku(), "stock": 10}
    body.update(overrides)
    return body


def create_product(token, **overrides):
    return assert_ok(call("POST", "/v1/products", product_body(**overrides), token=token), 201)


def get_product(token, product_id):
    return assert_ok(call("GET", f"/v1/products/{product_id}", token=token))


def stock_of(token, product_id):
    return get_product(token, product_id)["stock"]


def customer_body(**overrides):
    body = {"firstName": "Sita", "lastName": "Sharma", "phone": random_phone()}
    body.update(overrides)
    return body


def create_customer(token, **overrides):
    return assert_ok(call("POST", "/v1/customers", customer_body(**overrides), token=token), 201)


def order_body(items, customer_id=None, customer=None, **overrides):
    """items: [(productId, quantity), ...] or ready dicts. Without customer_id
    or customer, a new customer {firstName, phone} with a fresh phone."""
    body = {"items": [i if isinstance(i, dict) else {"productId": i[0], "quantity": i[1]} for i in items],
            "shippingAddress": {"street": "Thamel Marg", "city": "Kathmandu"}}
    if customer_id is not None:
        body["customerId"] = customer_id
    elif customer is not None:
        body["customer"] = customer
    else:
        body["customer"] = {"firstName": "Ram", "phone": random_phone()}
    body.update(overrides)
    return body


def create_order(token, items, **kw):
    return assert_ok(call("POST", "/v1/orders", order_body(items, **kw), token=token), 201)


def move_order(token, order_id, status, note=None):
    body = {"status": status} if note is None else {"status": status, "note": note}
    return call("POST", f"/v1/orders/{order_id}/status", body, token=token)


def list_page(token, path, key, **params):
    """One list page: (rows, nextCursor); checks the list shape."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None},
                                   quote_via=urllib.parse.quote)  # ' ' as %20, '+' as %2B
    data = assert_ok(call("GET", path + ("?" + query if query else ""), token=token))
    assert set(data) == {key, "nextCursor"}, f"list keys are {sorted(data)}, expected {key!r} and nextCursor"
    assert isinstance(data[key], list), f"{key} is not a list: {data}"
    cursor = data["nextCursor"]
    assert cursor is None or (isinstance(cursor, str) and cursor), f"bad nextCursor {cursor!r}"
    return data[key], cursor


def list_all(token, path, key, limit, max_pages=30, between_pages=None, **params):
    """Walk every page; returns (rows, pages). between_pages() runs after the first page."""
    rows, pages, cursor = [], 0, None
    while True:
        page, cursor = list_page(token, path, key, limit=limit, cursor=cursor, **params)
        pages += 1
        assert len(page) <= limit, f"page of {len(page)} rows with limit {limit}"
        rows.extend(page)
        if pages == 1 and between_pages is not None:
            between_pages()
        if cursor is None:
            return rows, pages
        assert page, "an empty page with a nextCursor"
        assert pages < max_pages, f"more than {max_pages} pages: the cursor does not advance"


def run_parallel(fns, timeout=60):
    """Run every fn in its own thread, all released together by a barrier;
    returns their results in order (an exception is re-raised)."""
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def runner(i, fn):
        try:
            barrier.wait(timeout)
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors[i] = exc

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def spellings(local):
    """The spellings of one Nepali mobile number the API must treat alike."""
    return [local, f"+977-{local}", f"977{local}", f"+977 {local[:3]} {local[3:6]} {local[6:]}"]


def assert_protected_headers(resp):
    """Security headers and the per-credential rate-limit headers of a protected route."""
    assert_security_headers(resp)
    assert resp.headers.get("X-RateLimit-Limit") == str(RATE_LIMIT), \
        f"X-RateLimit-Limit is {resp.headers.get('X-RateLimit-Limit')!r}, expected {RATE_LIMIT}"
    for name in ("X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert (resp.headers.get(name) or "").isdigit(), f"{name} is {resp.headers.get(name)!r}"


# --- payments: the provider sandbox, gateways, customer pages, webhooks -------

import base64  # noqa: E402  (appended section)
import hashlib  # noqa: E402
import hmac  # noqa: E402
import html.parser  # noqa: E402
from decimal import Decimal  # noqa: E402

# The sandbox (tests/sandbox, docs/sandbox.md) listens on PORT+1 unless told otherwise.
SANDBOX_URL = (os.environ.get("SANDBOX_URL")
               or f"{_url.scheme}://{_url.hostname}:{(_url.port or 80) + 1}").rstrip("/")
VAR_DIR = os.environ.get("VAR_DIR") or os.path.join(ROOT, "var")
PROVIDERS = ("esewa", "khalti", "fonepay")
PAY_ID_RE = re.compile(r"^pay_[a-z2-7]{20}$")
PAY_LINK_RE = re.compile(r"^https?://[^/]+/pay/(pl_[A-Za-z0-9_-]+)$")
PAYMENT_KEYS = {"id", "orderId", "orderNumber", "provider", "status", "amount", "refunded", "reference",
                "providerRef", "flag", "payLink", "redirect", "createdAt", "paidAt", "expiresAt", "supersededBy"}
SECRET_MASK = "********"
# What the customer pages say (docs/api.md "Customer pages"): paid, being confirmed,
# not completed, or under review.
PAGE_PAID = re.compile(r"received your payment|payment received|\bis paid\b|already paid", re.I)
PAGE_CONFIRMING = re.compile(r"confirming|being confirmed", re.I)
PAGE_NOT_COMPLETED = re.compile(r"not completed|not complete\b", re.I)
PAGE_REVIEW = re.compile(r"review|checking|does not match", re.I)


def http_url(method, url, body=None, form=None, raw=None, headers=None, timeout=15):
    """One request to an absolute URL (the sandbox, or a link one of our pages
    hands out), redirects not followed. `body` goes as JSON, `form` as
    application/x-www-form-urlencoded (a browser's form post), `raw` as is."""
    parts = urllib.parse.urlsplit(url)
    hdrs = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
    hdrs.update(headers or {})
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request(method, target, body=data, headers=hdrs)
        r = conn.getresponse()
        return Response(r.status, r.msg, r.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def sandbox(method, path, body=None, **kw):
    return http_url(method, SANDBOX_URL + path, body=body, **kw)


def control(path, body=None):
    """A /_control/ call (POST with a body, GET without); returns its JSON."""
    resp = sandbox("POST" if body is not None else "GET", "/_control" + path, body)
    assert resp.status == 200, f"sandbox /_control{path} answered {resp.status}: {resp.text[:300]}"
    return resp.json


def sandbox_up():
    try:
        return sandbox("GET", "/_control/health", timeout=3).status == 200
    except OSError:
        return False


def require_sandbox():
    assert sandbox_up(), f"the payment sandbox does not answer at {SANDBOX_URL} (set SANDBOX_URL)"


def sandbox_transactions(provider, reference=None):
    query = urllib.parse.urlencode({k: v for k, v in (("provider", provider), ("reference", reference)) if v})
    return control("/transactions?" + query)["transactions"]


def sandbox_transaction(provider, reference):
    """The sandbox's record of one payment (Khalti: by pidx or purchase_order_id)."""
    found = [t for t in sandbox_transactions(provider)
             if reference in (t.get("reference"), t.get("purchase_order_id"))]
    assert found, f"the {provider} sandbox has no transaction {reference!r}"
    return found[-1]


def sandbox_pay(provider, reference, action="pay"):
    """Pay (or cancel, ...) in the sandbox without a browser; returns
    {"redirect": URL or None, "status", ...}."""
    return control("/pay", {"provider": provider, "reference": reference, "action": action})


def sandbox_next(provider, **rule):
    """Queue a /_control/next rule: the next status answers say `status`, fail, or are slow."""
    return control("/next", {"provider": provider, **rule})


def sandbox_rules(provider):
    return control("/next")["rules"].get(provider, [])


def drain_rules(provider):
    """Use up rules a test left queued, so that they do not answer for the next test."""
    khalti_key = {"Authorization": "Key 05bf95cc57244045b8df5fad06748dab"}  # a built-in sandbox merchant
    for _ in range(50):
        rules = sandbox_rules(provider)
        if not rules:
            return
        endpoint = rules[0]["endpoint"]
        if provider == "esewa":
            sandbox("GET", "/esewa/api/epay/transaction/status/?product_code=X&total_amount=1&transaction_uuid=drain")
        elif provider == "fonepay":
            sandbox("GET", "/fonepay/api/merchantRequest/verificationMerchant?PRN=drain&PID=X")
        elif endpoint == "initiate":
            sandbox("POST", "/khalti/api/v2/epayment/initiate/", {}, headers=khalti_key)
        elif endpoint == "refund":
            sandbox("POST", "/khalti/api/merchant-transaction/drain/refund/", {}, headers=khalti_key)
        else:
            sandbox("POST", "/khalti/api/v2/epayment/lookup/", {"pidx": "drain"}, headers=khalti_key)


def sandbox_merchant(provider):
    """A fresh merchant account in the sandbox with its own secrets; returns the
    body that configures it with us (POST /v1/integrations/payment/:provider)."""
    tag = uuid.uuid4().hex
    if provider == "esewa":
        creds = {"merchantId": "E2E" + tag[:10].upper(), "secretKey": f"e2e/{tag[:12]}:&Q.{tag[12:16]}"}
        control("/merchants", {"provider": "esewa", "product_code": creds["merchantId"],
                               "secret_key": creds["secretKey"]})
    elif provider == "khalti":
        creds = {"publicKey": "live_public_key_" + tag, "secretKey": "live_secret_key_" + tag[::-1]}
        control("/merchants", {"provider": "khalti", "secret_key": creds["secretKey"]})
    else:
        creds = {"merchantCode": "E2E" + tag[:10].upper(), "secretKey": tag[::-1],
                 "apiUsername": "e2e" + tag[:8], "apiPassword": "pw-" + tag[8:24]}
        control("/merchants", {"provider": "fonepay", "merchant_code": creds["merchantCode"],
                               "secret_key": creds["secretKey"], "api_username": creds["apiUsername"],
                               "api_password": creds["apiPassword"]})
    return creds


def configure_gateway(token, provider, creds=None, **flags):
    """Configure a gateway (a fresh sandbox merchant unless creds are given); returns creds."""
    creds = creds if creds is not None else sandbox_merchant(provider)
    data = assert_ok(call("POST", f"/v1/integrations/payment/{provider}", {**creds, **flags}, token=token))
    want = {"provider": provider, "status": "disabled" if flags.get("enabled") is False else "active",
            "testMode": flags.get("testMode", True)}
    assert data == want, f"configure {provider}: {data}, expected {want}"
    return creds


def assert_no_secrets(resp, secrets):
    """None of the secret strings appears in the response, however JSON escapes it."""
    texts = [resp.text, resp.text.replace("\\/", "/")]
    if resp.json is not None:
        texts.append(json.dumps(resp.json, ensure_ascii=False))
    for secret in secrets:
        assert not any(secret in t for t in texts), f"a secret ({secret[:4]}...) appears in: {resp.text[:300]}"


def rupees_text(amount):
    """Plain rupee text of an API amount: 1599.99 -> '1599.99', 1600 -> '1600'."""
    text = format(Decimal(str(amount)).quantize(Decimal("0.01")).normalize(), "f")
    return text


def paisa(amount):
    return int((Decimal(str(amount)) * 100).to_integral_value())


def payment_order(token, price=1499.99, quantity=1, shipping=100):
    """A fresh product and an order for it (total 1599.99 by default: at least Rs 10 for Khalti)."""
    p = create_product(token, price=price, stock=100)
    return create_order(token, [(p["id"], quantity)], shipping=shipping)


def start_payment(token, order_id, provider, **kw):
    return assert_ok(call("POST", "/v1/payments", {"orderId": order_id, "provider": provider}, token=token, **kw),
                     201)


def get_payment(token, payment_id):
    return assert_ok(call("GET", f"/v1/payments/{payment_id}", token=token))


def get_order_by_id(token, order_id):
    return assert_ok(call("GET", f"/v1/orders/{order_id}", token=token))


def assert_payment(p, order=None, provider=None, status=None):
    """The payment object of docs/api.md; with order, that it is for that order's total."""
    assert isinstance(p, dict), f"payment is not an object: {p!r}"
    assert PAYMENT_KEYS <= set(p) <= PAYMENT_KEYS | {"events", "confirmation"}, \
        f"payment keys {sorted(p)}, expected {sorted(PAYMENT_KEYS)}"
    assert isinstance(p["id"], str) and PAY_ID_RE.match(p["id"]), f"bad payment id {p['id']!r}"
    assert p["provider"] in PROVIDERS, p
    if provider is not None:
        assert p["provider"] == provider, f"provider {p['provider']!r}, expected {provider!r}"
    if status is not None:
        assert p["status"] == status, f"payment status {p['status']!r}, expected {status!r}: {p}"
    if order is not None:
        assert (p["orderId"], p["orderNumber"]) == (order["id"], order["orderNumber"]), p
        assert p["amount"] == order["totals"]["total"], f"amount {p['amount']} != order total {order['totals']}"
    assert isinstance(p["reference"], str) and re.fullmatch(r"[A-Za-z0-9-]{3,25}", p["reference"]), \
        f"reference {p['reference']!r} is not 3-25 of [A-Za-z0-9-] (all gateways take it)"
    assert PAY_LINK_RE.match(p["payLink"] or ""), f"payLink {p['payLink']!r} is not http(s)://host/pay/pl_..."
    created = parse_ts(p["createdAt"])
    assert abs((now() - created).total_seconds()) < 3600, p["createdAt"]
    assert parse_ts(p["expiresAt"]) > created, f"expiresAt {p['expiresAt']} not after createdAt"
    assert (p["paidAt"] is None) == (p["status"] not in ("paid", "refunded", "partially_refunded")), \
        f"paidAt {p['paidAt']!r} with status {p['status']!r}"
    if p["paidAt"] is not None:
        parse_ts(p["paidAt"])
    return p


class _Page(html.parser.HTMLParser):
    """What a browser would act on in one of our HTML pages."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.links, self.refresh, self.text, self.title = [], [], None, [], ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "GET").upper(), "action": a.get("action"),
                               "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            m = re.search(r"url=(.+)$", a.get("content") or "", re.I)
            self.refresh = m.group(1).strip().strip("'\"") if m else None
        elif tag == "title":
            self._in_title = True
        elif tag in ("style", "script"):
            self._skip = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in ("style", "script"):
            self._skip = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif data.strip() and not getattr(self, "_skip", False):
            self.text.append(data.strip())


def html_page(resp, status=200):
    """Check an HTML answer (not JSON); returns the parsed page (.text is the visible text)."""
    assert resp.status == status, f"expected HTTP {status}, got {resp.status}: {resp.text[:300]}"
    ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    assert ctype == "text/html", f"Content-Type is {ctype!r}, not text/html: {resp.text[:200]}"
    assert resp.json is None, f"an HTML page that parses as JSON: {resp.text[:200]}"
    page = _Page()
    page.feed(resp.text)
    page.text = " ".join([page.title] + page.text)
    return page


def assert_page_says(resp, pattern, status=200, not_pattern=None):
    page = html_page(resp, status)
    assert pattern.search(page.text), f"page does not say /{pattern.pattern}/: {page.text[:300]!r}"
    if not_pattern is not None:
        assert not not_pattern.search(page.text), f"page says /{not_pattern.pattern}/: {page.text[:300]!r}"
    return page


def our_path(url):
    """Path and query of a link to our own host (payLink, a gateway's return URL)."""
    parts = urllib.parse.urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def open_pay_link(payment, ip=None):
    """GET the payment's /pay/<token> page; returns (response, where the browser goes
    next: {"method", "url", "fields"}, or None when the page leads nowhere)."""
    resp = call("GET", our_path(payment["payLink"]), ip=ip or fake_ip())
    if resp.status in (301, 302, 303, 307):
        return resp, {"method": "GET", "url": resp.headers.get("Location"), "fields": None}
    page = html_page(resp)
    if page.forms:
        form = page.forms[0]
        return resp, {"method": form["method"], "url": form["action"], "fields": form["fields"]}
    url = page.refresh or (page.links[0] if page.links else None)
    return resp, ({"method": "GET", "url": url, "fields": None} if url else None)


def to_gateway(payment, ip=None):
    """Play the customer's browser from our pay link to the gateway's own pay page,
    so that the sandbox knows the payment (eSewa and Fonepay learn of it only
    from the browser). Returns the gateway's answer."""
    resp, target = open_pay_link(payment, ip)
    assert target, f"the pay page leads nowhere: {resp.text[:300]}"
    assert target["url"] and target["url"].startswith(SANDBOX_URL + "/"), \
        f"the pay link leads to {target['url']!r}, not the sandbox at {SANDBOX_URL} (test-mode gateway URLs)"
    if target["method"] == "POST":
        resp = http_url("POST", target["url"], form=target["fields"])
    else:
        resp = http_url("GET", target["url"])
    if payment["provider"] == "khalti":
        html_page(resp, 200)  # Khalti's pay page itself
    else:
        assert resp.status == 302 and "/pay?sid=" in (resp.headers.get("Location") or ""), \
            f"the {payment['provider']} sandbox refused the payment request: {resp.status} {resp.text[:300]}"
    return resp


def follow_return(url, ip=None):
    """GET the URL the gateway sends the customer back to, on our host."""
    path = our_path(url)
    assert path.startswith("/payment/"), f"the gateway sends the customer to {url!r}, not /payment/..."
    return call("GET", path, ip=ip or fake_ip(), timeout=30)


def sql_value(sql):
    """One value from scripts/psql as the table owner (an operator's view)."""
    p = script("psql", "-At", "-c", sql)
    assert p.returncode == 0, f"scripts/psql failed ({p.returncode}): {p.stderr or p.stdout}"
    return p.stdout.strip()


def _sql_id(value):
    assert re.fullmatch(r"[a-z]{2,4}_[A-Za-z0-9]{8,40}", value or ""), f"not an id: {value!r}"
    return f"'{value}'"


def confirmation_jobs(order_id):
    """How many "payment received" jobs the outbox holds for an order."""
    return int(sql_value("SELECT count(*) FROM outbox WHERE kind = 'payment_confirmation' "
                         f"AND payload->>'orderId' = {_sql_id(order_id)}"))


def make_due(payment_id):
    """An operator's "check now": the reconciler's next look at this payment is now
    (instead of 60 s after it started, backing off from 15 s)."""
    sql_value(f"UPDATE payments SET next_check_at = now() WHERE id = {_sql_id(payment_id)} "
              "AND status IN ('initiated', 'pending')")


def quiet_reconciler(*keep):
    """Put off the reconciler's look at every other open payment for an hour, so
    that it does not use up a /_control/next rule (rules are per provider, not
    per payment) that this test queued for its own payment."""
    keep_sql = ", ".join(_sql_id(k) for k in keep) or "''"
    sql_value("UPDATE payments SET next_check_at = now() + interval '1 hour' "
              f"WHERE status IN ('initiated', 'pending') AND id NOT IN ({keep_sql})")


def wait_payment(token, payment_id, pred, timeout=20, interval=0.25, due=False):
    """Poll GET /v1/payments/:id until pred(payment); with due, make it due each round."""
    last = {}

    def probe():
        if due:
            make_due(payment_id)
        last["p"] = get_payment(token, payment_id)
        return pred(last["p"])

    wait_for(probe, timeout, interval)
    return last["p"]


def wait_confirmation(token, payment_id, status="waiting", timeout=15):
    """The payment's confirmation job once the worker has put it in `status`
    (waiting: no messaging channel exists yet to carry it)."""
    p = wait_payment(token, payment_id, lambda p: (p.get("confirmation") or {}).get("status") == status, timeout)
    conf = p.get("confirmation")
    assert isinstance(conf, dict) and set(conf) == {"status", "lastError", "attempts"}, f"confirmation {conf!r}"
    assert conf["status"] == status, f"confirmation status {conf['status']!r}, expected {status!r} within {timeout}s"
    return p


def event_sources(p):
    events = p.get("events")
    assert isinstance(events, list), f"events is not a list: {events!r}"
    for e in events:
        assert set(e) == {"source", "note", "at"}, f"event {e}"
        parse_ts(e["at"])
    return [e["source"] for e in events]


def paid_payment(token, provider, ip=None, order=None):
    """Configure a gateway (fresh sandbox merchant), pay an order through it the
    way a customer does and come back; returns (payment, order, creds, return URL)."""
    ip = ip or fake_ip()
    creds = configure_gateway(token, provider)
    order = order or payment_order(token)
    pay = start_payment(token, order["id"], provider)
    to_gateway(pay, ip)
    done = sandbox_pay(provider, pay["reference"])
    assert done["redirect"], f"sandbox pay gave no redirect: {done}"
    assert_page_says(follow_return(done["redirect"], ip), PAGE_PAID, not_pattern=PAGE_NOT_COMPLETED)
    pay = get_payment(token, pay["id"])
    assert pay["status"] == "paid", f"payment {pay['status']!r} after the return: {pay}"
    return pay, order, creds, done["redirect"]


# webhooks (POST /v1/webhooks/payment/:provider)

def webhook_secret():
    """The seed scheme's shared secret: $VAR_DIR/secrets/webhook.secret, or WEBHOOK_SECRET(S)."""
    path = os.path.join(VAR_DIR, "secrets", "webhook.secret")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    value = os.environ.get("WEBHOOK_SECRET") or os.environ.get("WEBHOOK_SECRETS", "").split(",")[0].strip()
    assert value, f"no webhook secret: {path} is missing and WEBHOOK_SECRET(S) unset"
    return value


def seed_headers(raw, secret=None, ts_ms=None):
    """x-timestamp (ms) and x-signature = hex HMAC-SHA256(secret, timestamp + "." + body)."""
    ts = str(int(time.time() * 1000) if ts_ms is None else ts_ms)
    data = raw.encode() if isinstance(raw, str) else raw
    sig = hmac.new((secret or webhook_secret()).encode(), ts.encode() + b"." + data, hashlib.sha256).hexdigest()
    return {"x-timestamp": ts, "x-signature": sig}


def post_webhook(provider, raw, headers=None, ip=None, content_type="application/json", request_id=None):
    hdrs = {"Content-Type": content_type, **(headers or {})}
    if request_id is not None:
        hdrs["X-Request-Id"] = request_id
    return call("POST", f"/v1/webhooks/payment/{provider}", raw=raw, headers=hdrs, ip=ip or fake_ip(), timeout=30)


def webhook_receipt(request_id):
    """The stored delivery of a webhook sent with this X-Request-Id, as an operator
    reads it: {"verdict", "http_status", "payment_id", "body"}, or None."""
    assert REQUEST_ID_RE.match(request_id), request_id
    row = sql_value("SELECT verdict || '|' || coalesce(http_status::text, '') || '|' || "
                    "coalesce(payment_id, '') || '|' || encode(body, 'base64') FROM webhook_receipts "
                    f"WHERE request_id = '{request_id}' ORDER BY id DESC LIMIT 1")
    if not row:
        return None
    verdict, status, payment_id, body = row.split("|", 3)
    return {"verdict": verdict, "http_status": int(status) if status else None, "payment_id": payment_id or None,
            "body": base64.b64decode("".join(body.split())).decode("utf-8", "replace")}


def esewa_signature(secret, values, names):
    """Base64 HMAC-SHA256 over name=value of each signed field, in order (payments.md 1.4)."""
    message = ",".join(f"{n}={values[n]}" for n in names.split(","))
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


def esewa_amount_text(amount):
    """eSewa's callback spelling: one decimal for whole rupees ('1600.0'), else as is ('1599.99')."""
    whole, _, frac = rupees_text(amount).partition(".")
    return f"{whole}.{frac or '0'}"


def esewa_webhook(creds, payment, status="COMPLETE", amount=None, transaction_code="000E2E0", forge=False):
    """eSewa's webhook body: the seed's fields plus transaction_uuid (which names
    the payment), signed with the merchant's eSewa secret over signed_field_names;
    forge signs with another key."""
    body = {"transaction_code": transaction_code, "status": status,
            "total_amount": esewa_amount_text(payment["amount"] if amount is None else amount),
            "transaction_uuid": payment["reference"], "product_code": creds["merchantId"],
            "signed_field_names": "transaction_code,status,total_amount,transaction_uuid,product_code,"
                                  "signed_field_names"}
    key = "not-the-secret" if forge else creds["secretKey"]
    body["signature"] = esewa_signature(key, {**body, "total_amount": body["total_amount"].replace(",", "")},
                                        body["signed_field_names"])
    return json.dumps(body, separators=(",", ":"))


FONEPAY_RETURN_FIELDS = ("PRN", "PID", "PS", "RC", "UID", "BC", "INI", "P_AMT", "R_AMT")


def fonepay_webhook(creds, payment, uid="43210", ps="true", rc="successful", forge=False):
    """Fonepay's webhook body: the return parameters (PRN, PID, PS, RC, DV, UID,
    BC, INI, P_AMT, R_AMT) with the response DV, HMAC-SHA512 upper-case hex over
    PRN,PID,PS,RC,UID,BC,INI,P_AMT,R_AMT (payments.md 3.3, 3.4)."""
    amt = rupees_text(payment["amount"])
    values = {"PRN": payment["reference"], "PID": creds["merchantCode"], "PS": ps, "RC": rc, "UID": uid,
              "BC": "NICENPKA" if ps == "true" else "N/A", "INI": "9841000000" if ps == "true" else "N/A",
              "P_AMT": esewa_amount_text(payment["amount"]), "R_AMT": amt}
    key = "not-the-secret" if forge else creds["secretKey"]
    dv = hmac.new(key.encode(), ",".join(values[n] for n in FONEPAY_RETURN_FIELDS).encode(),
                  hashlib.sha512).hexdigest().upper()
    ordered = [(n, values[n]) for n in ("PRN", "PID", "PS", "RC")] + [("DV", dv)] + \
              [(n, values[n]) for n in ("UID", "BC", "INI", "P_AMT", "R_AMT")]
    return json.dumps(dict(ordered), separators=(",", ":"))


def khalti_pidx(payment):
    """Khalti's pidx: in the payment_url the payment redirects to."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(payment["redirect"]["url"]).query)
    assert query.get("pidx"), f"no pidx in {payment['redirect']}"
    return query["pidx"][0]


def khalti_webhook(payment, status="Completed", transaction_id=None, amount_paisa=None, pidx=None):
    """Khalti's webhook body (its return parameters as JSON; Khalti signs nothing,
    so the delivery carries the seed's x-signature)."""
    tid = transaction_id or ("" if status != "Completed" else uuid.uuid4().hex[:22])
    amount = str(paisa(payment["amount"]) if amount_paisa is None else amount_paisa)
    body = {"pidx": pidx or khalti_pidx(payment), "txnId": tid, "amount": amount, "total_amount": amount,
            "status": status, "mobile": "98XXXXX000" if tid else "", "tidx": tid,
            "purchase_order_id": payment["reference"], "purchase_order_name": payment["orderNumber"],
            "transaction_id": tid}
    return json.dumps(body, separators=(",", ":"))


def webhook_for(provider, creds, payment, forge=False, **kw):
    """(raw body, headers) of a valid (or forged) webhook telling of this payment."""
    if provider == "esewa":
        return esewa_webhook(creds, payment, forge=forge, **kw), {}
    if provider == "fonepay":
        return fonepay_webhook(creds, payment, forge=forge, **kw), {}
    raw = khalti_webhook(payment, **kw)
    return raw, seed_headers(raw, secret="not-the-secret" if forge else None)


def genuine_webhook(provider, creds, pay, **kw):
    """(raw body, headers) of the webhook the gateway itself would send about a
    payment the sandbox knows, with the sandbox's own ids in it."""
    txn = sandbox_transaction(provider, pay["reference"])
    if provider == "esewa":
        kw.setdefault("transaction_code", txn.get("transaction_code") or "000E2E0")
    elif provider == "khalti":
        kw.setdefault("transaction_id", txn.get("transaction_id"))
        kw.setdefault("pidx", txn["id"])
    else:
        kw.setdefault("uid", txn.get("uid") or "43210")
    return webhook_for(provider, creds, pay, **kw)
