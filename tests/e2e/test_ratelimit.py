"""Fixed-window rate limits: per credential on protected routes, per address on open routes."""

import json
import os

from client import (OPEN_RATE_LIMIT, PASSWORD, RATE_LIMIT, assert_envelope_error, assert_ok, call, create_key,
                    fake_ip, in_fresh_window, login, register)

WEBHOOK_RATE_LIMIT = int(os.environ.get("RATE_LIMIT_WEBHOOK_PER_MINUTE", "50"))


def limit_headers(resp):
    values = [resp.headers.get(h) for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")]
    assert all(v is not None and v.isdigit() for v in values), f"rate-limit headers {values} on {resp}"
    return [int(v) for v in values]


def assert_limited(resp, limit):
    assert_envelope_error(resp, 429, "rate_limited")
    got_limit, remaining, reset = limit_headers(resp)
    retry = resp.headers.get("Retry-After")
    assert retry is not None and retry.isdigit() and 1 <= int(retry) <= 60, f"Retry-After {retry!r}"
    assert (got_limit, remaining) == (limit, 0) and 0 <= reset <= 60, f"limit headers {got_limit, remaining, reset}"


def exhaust(start, send, limit, status=200):
    """start() takes a fresh credential or address and sends the first request,
    send() the next ones: the first `limit` requests of a window pass with
    decreasing X-RateLimit-Remaining, request limit+1 is a 429."""
    responses = [in_fresh_window(start)] + [send() for _ in range(limit)]
    previous_reset = 60
    for i, resp in enumerate(responses[:-1]):
        assert resp.status == status, f"request {i + 1} of {limit}: {resp.status} {resp.text[:200]}"
        got_limit, remaining, reset = limit_headers(resp)
        assert got_limit == limit, f"request {i + 1}: X-RateLimit-Limit {got_limit}, expected {limit}"
        assert remaining == limit - 1 - i, f"request {i + 1}: X-RateLimit-Remaining {remaining}"
        assert 0 <= reset <= previous_reset, f"request {i + 1}: X-RateLimit-Reset {reset} after {previous_reset}"
        previous_reset = reset
    assert_limited(responses[-1], limit)


def test_protected_route_limit_per_credential():
    merchant, _ = register()
    tokens = []

    def send():
        return call("GET", "/v1/me", token=tokens[-1])

    def start():
        tokens.append(assert_ok(login(merchant["email"]))["token"])
        return send()

    exhaust(start, send, RATE_LIMIT)
    assert_limited(send(), RATE_LIMIT)
    # per credential: another session and an API key of the same merchant still pass
    other = assert_ok(login(merchant["email"]))["token"]
    assert_ok(call("GET", "/v1/me", token=other))
    assert_ok(call("GET", "/v1/me", token=create_key(other)["key"]))


def test_open_route_limit_per_address():
    merchant, _ = register()
    ips = []

    def send():
        return login(merchant["email"], ip=ips[-1])

    def start():
        ips.append(fake_ip())
        return send()

    exhaust(start, send, OPEN_RATE_LIMIT)
    other = login(merchant["email"], ip=fake_ip())
    assert_ok(other)
    assert limit_headers(other)[:2] == [OPEN_RATE_LIMIT, OPEN_RATE_LIMIT - 1]


def test_open_route_limit_counts_failed_logins():
    merchant, _ = register()
    ips = []

    def send():
        return login(merchant["email"], "wrong password!", ip=ips[-1])

    def start():
        ips.append(fake_ip())
        return send()

    exhaust(start, send, OPEN_RATE_LIMIT, status=401)
    assert_limited(login(merchant["email"], PASSWORD, ip=ips[-1]), OPEN_RATE_LIMIT)


def test_webhook_limit_per_sender_address():
    """A flood of deliveries from one address stops at the webhook limit
    (each would otherwise cost a stored row); another sender is unaffected."""
    ips = []
    body = json.dumps({"transaction_code": "000FLOOD", "status": "COMPLETE", "total_amount": "100.0",
                       "transaction_uuid": "pay-nosuchpaymentxxxxxxxx", "product_code": "EPAYTEST",
                       "signed_field_names": "transaction_code,status,total_amount,transaction_uuid,"
                                             "product_code,signed_field_names",
                       "signature": "x" * 44})

    def send():
        return call("POST", "/v1/webhooks/payment/esewa", raw=body.encode(),
                    headers={"Content-Type": "application/json"}, ip=ips[-1])

    def start():
        ips.append(fake_ip())
        return send()

    exhaust(start, send, WEBHOOK_RATE_LIMIT, status=404)
    other = call("POST", "/v1/webhooks/payment/esewa", raw=body.encode(),
                 headers={"Content-Type": "application/json"}, ip=fake_ip())
    assert other.status == 404, f"another sender was limited too: {other.status} {other.text[:200]}"
