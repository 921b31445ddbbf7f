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
