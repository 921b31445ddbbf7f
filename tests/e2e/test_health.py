"""Health endpoint (the outage cases are in test_outage.py)."""

from client import OPEN_RATE_LIMIT, assert_ok, assert_security_headers, call, fake_ip


def test_health_ok():
    resp = call("GET", "/v1/health")
    assert assert_ok(resp) == {"status": "ok", "database": "up", "redis": "up"}, resp.text
    assert_security_headers(resp)


def test_health_needs_no_credential():
    resp = call("GET", "/v1/health", headers={"Authorization": "Bearer not-a-token"})
    assert_ok(resp)


def test_health_not_rate_limited():
    ip = fake_ip()
    for i in range(OPEN_RATE_LIMIT * 2):
        resp = call("GET", "/v1/health", ip=ip)
        assert resp.status == 200, f"request {i + 1} from one address: {resp.status} {resp.text[:200]}"
