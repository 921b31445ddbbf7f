"""Dependency outages: Redis, PostgreSQL and the FastCGI pools (each restored in finally)."""

import os

from client import (assert_envelope_error, assert_ok, call, create_key, fake_ip, login, register, register_body,
                    svc, wait_for)


def health(status):
    """Poll /v1/health until it answers `status`; returns the last response."""
    last = []

    def probe():
        last.append(call("GET", "/v1/health", timeout=5))
        return last[-1].status == status

    wait_for(probe, 10)
    return last[-1]


def restore(service, timeout):
    svc("start", service)
    return wait_for(lambda: call("GET", "/v1/health", timeout=5).status == 200, timeout)


def recovered(request, timeout=5, status=200):
    """After a restart, request() answers `status` within `timeout` seconds
    (each pool worker may hold off reconnecting briefly) and then keeps doing
    so for as many requests again as there are workers, twice over."""
    workers = int(os.environ.get("FCGI_WORKERS", "4"))
    assert wait_for(lambda: request().status == status, timeout), f"no {status} within {timeout} s: {request()}"
    for i in range(2 * workers):
        resp = request()
        assert resp.status == status, f"request {i + 1} after recovery: {resp}"
    return resp


def assert_degraded(database, redis):
    err = assert_envelope_error(health(503), 503, "unavailable")
    details = err.get("details")
    assert details == {"status": "degraded", "database": database, "redis": redis}, f"details {details}"


def test_redis_down_protected_routes_work_open_routes_fail_closed():
    merchant, token = register()
    key = create_key(token)["key"]
    _, revoked = register()
    assert_ok(call("POST", "/v1/auth/logout", token=revoked))
    svc("stop", "redis")
    try:
        assert_degraded("up", "down")
        for _ in range(3):
            assert_ok(call("GET", "/v1/me", token=token))
            assert_ok(call("GET", "/v1/me", token=key))
        assert_envelope_error(call("GET", "/v1/me", token=revoked), 401, "unauthorized")
        assert_envelope_error(login(merchant["email"]), 503, "unavailable")
        assert_envelope_error(call("POST", "/v1/auth/register", register_body(), ip=fake_ip()), 503, "unavailable")
    finally:
        back = restore("redis", 10)
    assert back, "health is not 200 within 10 s of starting Redis"
    recovered(lambda: login(merchant["email"]))
    resp = recovered(lambda: call("GET", "/v1/me", token=token))
    assert resp.headers.get("X-RateLimit-Limit"), "rate limiting did not resume after Redis came back"


def test_postgres_down_503_then_recovers():
    merchant, token = register()
    svc("stop", "postgres")
    try:
        assert_degraded("down", "up")
        assert_envelope_error(call("GET", "/v1/me", token=token), 503, "unavailable")
        assert_envelope_error(login(merchant["email"]), 503, "unavailable")
    finally:
        back = restore("postgres", 30)
    assert back, "health is not 200 within 30 s of starting PostgreSQL"
    assert assert_ok(recovered(lambda: call("GET", "/v1/me", token=token)))["id"] == merchant["id"]
    recovered(lambda: login(merchant["email"]))


def test_pool_down_502_from_nginx():
    svc("stop", "pools")
    try:
        assert_envelope_error(health(502), 502, "bad_gateway")
        assert_envelope_error(call("GET", "/v1/me", token="mst_x"), 502, "bad_gateway")
    finally:
        back = restore("pools", 15)
    assert back, "health is not 200 within 15 s of starting the pools"
    token = register()[1]
    recovered(lambda: call("GET", "/v1/me", token=token))
