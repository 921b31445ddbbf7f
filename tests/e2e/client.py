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
