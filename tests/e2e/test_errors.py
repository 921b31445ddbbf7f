"""Cross-cutting behaviour: body parsing, size caps, routing, headers, request ids."""

import json

from client import (REQUEST_ID_RE, assert_envelope_error, assert_ok, assert_security_headers, call, check_each,
                    fake_ip, register, register_body)


def expect_error(resp, status, code, desc):
    try:
        return assert_envelope_error(resp, status, code)
    except AssertionError as exc:
        raise AssertionError(f"{desc}: {exc}") from None


def assert_body_refused(raws, status, code):
    """Each raw body is refused on an open and on a protected route."""
    _, token = register()

    def check(raw):
        expect_error(call("POST", "/v1/auth/register", raw=raw, ip=fake_ip()), status, code, "register")
        expect_error(call("POST", "/v1/api-keys", raw=raw, token=token), status, code, "api-keys")

    check_each(raws, check)


def test_malformed_json_400():
    assert_body_refused(('{"email": ', "{'name': \"k\"}", "{'name': 'k'}", '{"name": "k",}', '{"name": NaN}',
                         '{"name": Infinity}', "nul", "{} {}", b'{"name": "\xff"}'), 400, "invalid_json")


def test_non_object_json_400():
    assert_body_refused(("[]", json.dumps([register_body()]), '"text"', "42", "null", "true"), 400, "invalid_json")


def test_wrong_content_type_415():
    _, token = register()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        desc = f"Content-Type {ctype}"
        expect_error(call("POST", "/v1/auth/register", raw=json.dumps(register_body()), ip=fake_ip(),
                          headers={"Content-Type": ctype}), 415, "unsupported_media_type", desc)
        expect_error(call("POST", "/v1/api-keys", raw='{"name": "k"}', token=token,
                          headers={"Content-Type": ctype}), 415, "unsupported_media_type", desc)
    # a charset parameter is still JSON
    resp = call("POST", "/v1/auth/register", raw=json.dumps(register_body()), ip=fake_ip(),
                headers={"Content-Type": "application/json; charset=utf-8"})
    assert_ok(resp, 201)


def test_body_over_handler_cap_413():
    _, token = register()
    big = json.dumps(register_body(businessName="x" * 100 * 1024))  # ~100 KiB: over 64 KiB, under 1 MiB
    expect_error(call("POST", "/v1/auth/register", raw=big, ip=fake_ip()), 413, "payload_too_large", "register")
    resp = call("POST", "/v1/api-keys", {"name": "x" * 100 * 1024}, token=token)
    expect_error(resp, 413, "payload_too_large", "api-keys")
    assert_security_headers(resp)
    # just under the cap the body is read and validated instead
    near = json.dumps(register_body(businessName="x" * 60 * 1024))
    err = expect_error(call("POST", "/v1/auth/register", raw=near, ip=fake_ip()), 422, "validation_failed", "60 KiB")
    assert err["details"]["field"] == "businessName", err


def test_body_over_nginx_cap_413():
    _, token = register()
    huge = json.dumps(register_body(businessName="x" * 2 * 1024 * 1024))
    for desc, resp in (("register", call("POST", "/v1/auth/register", raw=huge, ip=fake_ip())),
                       ("api-keys", call("POST", "/v1/api-keys", raw=huge, token=token))):
        expect_error(resp, 413, "payload_too_large", desc)
        assert_security_headers(resp)


def test_unknown_route_404():
    _, token = register()
    for method, path in (("GET", "/v1/nope"), ("POST", "/v1/nope"), ("GET", "/v1/auth/nope"),
                         ("POST", "/v1/auth/nope"), ("GET", "/v1/me/nope"), ("GET", "/v1/api-keys/a/b"),
                         ("GET", "/v1/health/nope"), ("GET", "/v1"), ("GET", "/nope"), ("GET", "/")):
        resp = call(method, path, token=token, ip=fake_ip())
        expect_error(resp, 404, "not_found", f"{method} {path}")
        assert_security_headers(resp)


def test_wrong_method_405():
    _, token = register()
    for method, path, allowed in (("GET", "/v1/auth/login", {"POST"}), ("GET", "/v1/auth/register", {"POST"}),
                                  ("GET", "/v1/auth/logout", {"POST"}), ("DELETE", "/v1/me", {"GET"}),
                                  ("POST", "/v1/me", {"GET"}), ("PUT", "/v1/api-keys", {"GET", "POST"}),
                                  ("GET", "/v1/api-keys/key_x", {"DELETE"}), ("POST", "/v1/health", {"GET"})):
        desc = f"{method} {path}"
        resp = call(method, path, token=token, ip=fake_ip())
        expect_error(resp, 405, "method_not_allowed", desc)
        allow = {m.strip().upper() for m in (resp.headers.get("Allow") or "").split(",") if m.strip()}
        assert allowed <= allow and method not in allow, f"{desc}: Allow is {resp.headers.get('Allow')!r}"


def test_security_headers_on_every_response():
    merchant, token = register()
    cases = ((200, call("GET", "/v1/me", token=token)),
             (201, call("POST", "/v1/api-keys", {"name": "k"}, token=token)),
             (401, call("GET", "/v1/me")),
             (404, call("GET", "/v1/nope")),
             (405, call("DELETE", "/v1/me", token=token)),
             (409, call("POST", "/v1/auth/register", register_body(email=merchant["email"]), ip=fake_ip())),
             (422, call("POST", "/v1/auth/register", {}, ip=fake_ip())),
             (200, call("GET", "/v1/health")))
    for status, resp in cases:
        try:
            assert resp.status == status, f"status {resp.status}: {resp.text[:200]}"
            assert_security_headers(resp)
            assert resp.headers.get("X-Request-Id"), "X-Request-Id missing"
        except AssertionError as exc:
            raise AssertionError(f"HTTP {status}: {exc}") from None


def test_request_id_echoed_when_valid():
    _, token = register()
    for rid in ("abc-123", "A.b_C-9", "r" * 64):
        for desc, resp in (("200", call("GET", "/v1/me", token=token, headers={"X-Request-Id": rid})),
                           ("401", call("GET", "/v1/me", headers={"X-Request-Id": rid})),
                           ("422", call("POST", "/v1/auth/register", {}, ip=fake_ip(), headers={"X-Request-Id": rid}))):
            got = resp.headers.get("X-Request-Id")
            assert got == rid, f"{desc}: sent X-Request-Id {rid!r}, got {got!r}"
            assert len(resp.headers.get_all("X-Request-Id")) == 1, f"{desc}: several X-Request-Id headers"


def test_request_id_replaced_when_invalid():
    seen = set()
    for rid in ("has space", "r" * 65, "x" * 100, "bad/char", "semi;colon", "ünïcode"):
        resp = call("GET", "/v1/health", headers={"X-Request-Id": rid.encode().decode("latin-1")})
        got = resp.headers.get("X-Request-Id")
        assert got and got != rid and REQUEST_ID_RE.match(got), f"sent {rid!r}, got X-Request-Id {got!r}"
        assert len(resp.headers.get_all("X-Request-Id")) == 1, f"several X-Request-Id headers for {rid!r}"
        seen.add(got)
    assert len(seen) == 6, f"generated request ids are not unique: {seen}"


def test_malformed_query_string_400():
    """A query parameter that does not decode is refused, not silently dropped
    (a list would otherwise answer unfiltered)."""
    _, token = register()
    cases = ["/v1/products?limit=%ZZ", "/v1/orders?status=%4", "/v1/customers?search=a%00b",
             "/v1/customers?search=%FF%FE"]

    def check(path):
        expect_error(call("GET", path, token=token), 400, "bad_request", path)

    check_each(cases, check)
    assert_ok(call("GET", "/v1/customers?search=Sita%20Sharma", token=token))
