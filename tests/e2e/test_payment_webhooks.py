"""Payment webhooks and settling: POST /v1/webhooks/payment/:provider for each
gateway (eSewa's signed callback body, Fonepay's return parameters with their
DV, Khalti's return parameters with the seed's x-signature), forged
signatures, a tampered amount, the status API reporting another amount,
replays, the return page and webhooks racing, the status API saying PENDING
and the reconciler settling it later, the status API down (503, then the
retry succeeds), and a payment nobody calls back about. The status API is the
truth throughout: a payment is paid once, with one confirmation job.

Needs the provider sandbox (tests/sandbox) at SANDBOX_URL (default: PORT+1 of
BASE_URL) and the webhook secret ($VAR_DIR/secrets/webhook.secret)."""

import json
import time
import uuid

from client import (PAGE_CONFIRMING, PAGE_NOT_COMPLETED, PAGE_PAID, PAGE_REVIEW, PROVIDERS, assert_envelope_error,
                    assert_ok, assert_page_says, assert_validation, check_each, configure_gateway, confirmation_jobs, drain_rules,
                    esewa_webhook, event_sources, fake_ip, follow_return, genuine_webhook, get_order_by_id, get_payment,
                    payment_order, post_webhook, quiet_reconciler, register, require_sandbox, run_parallel,
                    sandbox_merchant, sandbox_next, sandbox_pay, sandbox_rules, seed_headers,
                    sql_value, start_payment, to_gateway, wait_confirmation, wait_payment, webhook_receipt)

# The word each gateway's status API uses for "not finished yet".
PENDING_WORD = {"esewa": "PENDING", "khalti": "Pending", "fonepay": "pending"}
OPEN = ("initiated", "pending")


def merchant_with_gateways():
    """A fresh merchant with all three gateways (each its own sandbox account)."""
    require_sandbox()
    _, token = register()
    return token, {p: configure_gateway(token, p) for p in PROVIDERS}


def started(token, provider, ip):
    """An order and a payment for it, with the customer's browser at the gateway."""
    order = payment_order(token)
    pay = start_payment(token, order["id"], provider)
    to_gateway(pay, ip)
    return pay, order


def snapshot(token, pay, order):
    """Everything a webhook could change."""
    p = get_payment(token, pay["id"])
    o = get_order_by_id(token, order["id"])
    return {"status": p["status"], "paidAt": p["paidAt"], "refunded": p["refunded"], "flag": p["flag"],
            "providerRef": p["providerRef"], "confirmation": p["confirmation"],
            "order": o["payment"]["status"], "jobs": confirmation_jobs(order["id"])}


def assert_accepted(resp, pay, status, duplicate=None):
    data = assert_ok(resp)
    assert set(data) == {"received", "duplicate", "payment"}, f"webhook answer keys {sorted(data)}"
    assert data["received"] is True, data
    assert data["payment"] == {"id": pay["id"], "status": status}, f"webhook answer {data}, expected {status!r}"
    if duplicate is not None:
        assert data["duplicate"] is duplicate, f"duplicate is {data['duplicate']}, expected {duplicate}"
    return data


def assert_paid_once(token, pay, order):
    p = wait_confirmation(token, pay["id"], "waiting")
    assert p["status"] == "paid" and p["paidAt"], p
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "paid"
    assert confirmation_jobs(order["id"]) == 1, "not exactly one confirmation job"
    return p


def rid():
    return "e2e-" + uuid.uuid4().hex


# --- a webhook alone ------------------------------------------------------------------

def test_webhook_settles_payment_without_return():
    token, creds = merchant_with_gateways()
    ip = fake_ip()

    def check(provider):
        pay, order = started(token, provider, ip)
        sandbox_pay(provider, pay["reference"])  # paid; the browser never comes back
        raw, headers = genuine_webhook(provider, creds[provider], pay)
        request_id = rid()
        assert_accepted(post_webhook(provider, raw, headers, ip, request_id=request_id), pay, "paid", False)
        p = assert_paid_once(token, pay, order)
        assert "webhook" in event_sources(p) and "status" in event_sources(p), p["events"]
        receipt = webhook_receipt(request_id)
        assert receipt and receipt["http_status"] == 200 and receipt["payment_id"] == pay["id"], receipt
        assert receipt["body"] == raw, "the delivery is not kept byte for byte"

    check_each(list(PROVIDERS), check)


def test_webhook_bad_requests():
    token, creds = merchant_with_gateways()
    ip = fake_ip()
    pay, _ = started(token, "esewa", ip)
    raw = esewa_webhook(creds["esewa"], pay)
    assert_envelope_error(post_webhook("paypal", raw, ip=ip), 404, "not_found")
    assert_envelope_error(post_webhook("esewa", raw, ip=ip, content_type="text/plain"), 415,
                          "unsupported_media_type")
    assert_envelope_error(post_webhook("esewa", "{not json", ip=ip), 400, "invalid_json")
    assert_envelope_error(post_webhook("esewa", "[1]", ip=ip), 400, "invalid_json")
    no_uuid = json.loads(raw)
    del no_uuid["transaction_uuid"]
    assert_validation(post_webhook("esewa", json.dumps(no_uuid), ip=ip), "transaction_uuid")
    # a payment nobody started (signed with a real merchant's key): 404
    other = dict(pay, reference="pay-" + "q" * 20)
    assert_envelope_error(post_webhook("esewa", esewa_webhook(creds["esewa"], other), ip=ip), 404, "not_found")
    assert get_payment(token, pay["id"])["status"] in OPEN


# --- forged and tampered ------------------------------------------------------------------

def test_webhook_forged_signature_401():
    token, creds = merchant_with_gateways()
    ip = fake_ip()

    def check(provider):
        pay, order = started(token, provider, ip)
        # paid at the gateway: a server that skipped the signature would find it paid
        sandbox_pay(provider, pay["reference"])
        before = snapshot(token, pay, order)
        raw, headers = genuine_webhook(provider, creds[provider], pay, forge=True)
        request_id = rid()
        assert_envelope_error(post_webhook(provider, raw, headers, ip, request_id=request_id), 401,
                              "invalid_signature")
        assert snapshot(token, pay, order) == before, "a forged webhook changed something"
        receipt = webhook_receipt(request_id)
        assert receipt and receipt["http_status"] == 401 and receipt["body"] == raw, \
            f"the forged delivery is not kept with its verdict: {receipt}"
        # a genuine body changed after signing fails too
        raw, headers = genuine_webhook(provider, creds[provider], pay)
        body = json.loads(raw)
        key = {"esewa": "status", "khalti": "status", "fonepay": "RC"}[provider]
        body[key] = {"esewa": "PENDING", "khalti": "Pending", "fonepay": "pending"}[provider]
        assert_envelope_error(post_webhook(provider, json.dumps(body, separators=(",", ":")), headers, ip), 401,
                              "invalid_signature")
        assert snapshot(token, pay, order) == before, "a tampered webhook changed something"
        if provider != "khalti":
            # the seed headers are optional here, but checked when present
            bad = seed_headers(raw, secret="e2e-not-the-webhook-secret")
            assert_envelope_error(post_webhook(provider, raw, bad, ip), 401, "invalid_signature")
            assert snapshot(token, pay, order) == before, "a webhook with a bad x-signature changed something"
            headers = seed_headers(raw)  # and a good one is fine
        # the genuine one is taken
        assert_accepted(post_webhook(provider, raw, headers, ip), pay, "paid")

    check_each(list(PROVIDERS), check)


def test_webhook_khalti_seed_signature_rules():
    token, creds = merchant_with_gateways()
    ip = fake_ip()
    pay, order = started(token, "khalti", ip)
    sandbox_pay("khalti", pay["reference"])
    before = snapshot(token, pay, order)
    raw, good = genuine_webhook("khalti", creds["khalti"], pay)
    now_ms = int(time.time() * 1000)
    cases = [
        ("no headers", {}),
        ("signature only", {"x-signature": good["x-signature"]}),
        ("timestamp only", {"x-timestamp": good["x-timestamp"]}),
        ("not hex", {**good, "x-signature": "z" * 64}),
        ("the signature of another body", {**good, "x-signature": seed_headers(raw + " ")["x-signature"]}),
        ("seconds, not milliseconds", seed_headers(raw, ts_ms=now_ms // 1000)),
        ("six minutes old", seed_headers(raw, ts_ms=now_ms - 6 * 60 * 1000)),
        ("six minutes ahead", seed_headers(raw, ts_ms=now_ms + 6 * 60 * 1000)),
        ("another secret", seed_headers(raw, secret="e2e-not-the-webhook-secret")),
        ("timestamp swapped after signing", {**good, "x-timestamp": str(now_ms + 1)}),
    ]

    def check(case):
        err = assert_envelope_error(post_webhook("khalti", raw, case[1], ip), 401, "invalid_signature")
        if "minutes" in case[0] or "seconds" in case[0]:
            assert "five-minute window" in err["message"], f"stale message {err['message']!r}"

    check_each(cases, check)
    assert snapshot(token, pay, order) == before, "a refused Khalti webhook changed something"
    # four minutes old is still inside the window
    assert_accepted(post_webhook("khalti", raw, seed_headers(raw, ts_ms=now_ms - 4 * 60 * 1000), ip), pay, "paid")


def test_webhook_esewa_tampered_amount_not_paid():
    token, creds = merchant_with_gateways()
    ip = fake_ip()
    pay, order = started(token, "esewa", ip)  # at eSewa's page; nobody has paid
    before = snapshot(token, pay, order)
    # correctly signed (eSewa's own scheme) and claiming COMPLETE for another amount:
    # the status API is asked, says PENDING, and nothing is paid
    for amount in (1, pay["amount"]):
        raw = esewa_webhook(creds["esewa"], pay, amount=amount, transaction_code="000FAKE")
        data = assert_ok(post_webhook("esewa", raw, ip=ip))
        assert data["payment"]["status"] in OPEN, f"a claim of Rs {amount} made the payment {data['payment']}"
        after = snapshot(token, pay, order)
        assert after["status"] in OPEN and after["paidAt"] is None, after
        assert (after["order"], after["jobs"], after["confirmation"]) == (before["order"], 0, None), after
    # once the customer really pays, the same kind of webhook settles it
    sandbox_pay("esewa", pay["reference"])
    raw, _ = genuine_webhook("esewa", creds["esewa"], pay)
    assert_accepted(post_webhook("esewa", raw, ip=ip), pay, "paid")
    assert_paid_once(token, pay, order)


def test_status_api_reports_another_amount_mismatch():
    token, creds = merchant_with_gateways()
    ip = fake_ip()
    pay, order = started(token, "khalti", ip)
    # The sandbox cannot be told to report another amount, so the amount we
    # expect is moved instead (as the table owner): Khalti's lookup then
    # reports 159999 paisa for a payment we hold at 160099.
    sql_value(f"UPDATE payments SET amount_paisa = amount_paisa + 100 WHERE id = '{pay['id']}'")
    done = sandbox_pay("khalti", pay["reference"])
    assert_page_says(follow_return(done["redirect"], ip), PAGE_REVIEW, not_pattern=PAGE_PAID)
    p = get_payment(token, pay["id"])
    assert p["status"] == "mismatch", f"payment {p['status']!r}, expected mismatch"
    assert isinstance(p["flag"], str) and "amount" in p["flag"], f"flag {p['flag']!r} does not say amount"
    assert p["paidAt"] is None and p["confirmation"] is None, p
    assert get_order_by_id(token, order["id"])["payment"]["status"] != "paid"
    assert confirmation_jobs(order["id"]) == 0
    # the gateway's webhook changes nothing
    raw, headers = genuine_webhook("khalti", creds["khalti"], pay)
    assert_accepted(post_webhook("khalti", raw, headers, ip), pay, "mismatch")
    assert confirmation_jobs(order["id"]) == 0
    assert get_order_by_id(token, order["id"])["payment"]["status"] != "paid"


# --- replays and retries ----------------------------------------------------------------

def test_webhook_replay_409():
    token, creds = merchant_with_gateways()
    ip = fake_ip()
    pay, order = started(token, "khalti", ip)
    sandbox_pay("khalti", pay["reference"])
    raw, headers = genuine_webhook("khalti", creds["khalti"], pay)
    assert_accepted(post_webhook("khalti", raw, headers, ip), pay, "paid", False)
    p = assert_paid_once(token, pay, order)
    # the same signed delivery again: a replay
    request_id = rid()
    assert_envelope_error(post_webhook("khalti", raw, headers, ip, request_id=request_id), 409, "replayed")
    assert (webhook_receipt(request_id) or {}).get("http_status") == 409, webhook_receipt(request_id)
    # Khalti's retry of the same event, signed afresh: served, a duplicate, nothing more
    time.sleep(0.01)
    assert_accepted(post_webhook("khalti", raw, seed_headers(raw), ip), pay, "paid", True)
    after = assert_paid_once(token, pay, order)
    assert after["paidAt"] == p["paidAt"], "paidAt moved"
    assert event_sources(after).count("webhook") == 1, f"one event per delivered body: {after['events']}"

    # eSewa signs its own body (no nonce): a redelivery is served as a duplicate
    pay, order = started(token, "esewa", ip)
    sandbox_pay("esewa", pay["reference"])
    raw, _ = genuine_webhook("esewa", creds["esewa"], pay)
    assert_accepted(post_webhook("esewa", raw, ip=ip), pay, "paid", False)
    assert_accepted(post_webhook("esewa", raw, ip=ip), pay, "paid", True)
    assert_paid_once(token, pay, order)


def test_return_and_webhooks_racing():
    token, creds = merchant_with_gateways()
    ip = fake_ip()

    def check(provider):
        pay, order = started(token, provider, ip)
        done = sandbox_pay(provider, pay["reference"])
        raw, _ = genuine_webhook(provider, creds[provider], pay)
        base_ms = int(time.time() * 1000)
        calls = [lambda: follow_return(done["redirect"], ip) for _ in range(3)]
        for i in range(3):
            # Khalti: each delivery signed on its own (the same signature twice is a replay)
            headers = seed_headers(raw, ts_ms=base_ms + i) if provider == "khalti" else {}
            calls.append(lambda headers=headers: post_webhook(provider, raw, headers, ip))
        results = run_parallel(calls)
        for resp in results[:3]:
            assert_page_says(resp, PAGE_PAID, not_pattern=PAGE_NOT_COMPLETED)
        for resp in results[3:]:
            assert_accepted(resp, pay, "paid")
        dups = [r.json["data"]["duplicate"] for r in results[3:]]
        assert dups.count(False) == 1, f"the same body is one event: duplicate flags {dups}"
        assert_paid_once(token, pay, order)

    check_each(list(PROVIDERS), check)


def test_status_api_down_webhook_503_then_retry():
    token, creds = merchant_with_gateways()
    ip = fake_ip()

    def check(provider):
        pay, order = started(token, provider, ip)
        sandbox_pay(provider, pay["reference"])
        raw, headers = genuine_webhook(provider, creds[provider], pay)
        quiet_reconciler()
        sandbox_next(provider, fail=500, count=2)
        try:
            for attempt in (1, 2):
                # the provider retries the same delivery (Khalti: the same signature too)
                resp = post_webhook(provider, raw, headers, ip)
                assert_envelope_error(resp, 503, "unavailable")
                s = snapshot(token, pay, order)
                assert s["status"] in OPEN and s["order"] == "pending" and s["jobs"] == 0, \
                    f"attempt {attempt}: changed on a guess: {s}"
            assert sandbox_rules(provider) == [], "the status API was not asked once per delivery"
            assert_accepted(post_webhook(provider, raw, headers, ip), pay, "paid")
        finally:
            drain_rules(provider)
        assert_paid_once(token, pay, order)

    check_each(list(PROVIDERS), check)


# --- the reconciler ------------------------------------------------------------------------

def test_status_pending_then_complete_reconciler_settles():
    token, _ = merchant_with_gateways()
    ip = fake_ip()

    def check(provider):
        pay, order = started(token, provider, ip)
        quiet_reconciler(pay["id"])
        sandbox_next(provider, status=PENDING_WORD[provider], count=1)
        try:
            done = sandbox_pay(provider, pay["reference"])
            assert_page_says(follow_return(done["redirect"], ip), PAGE_CONFIRMING,
                             not_pattern=PAGE_NOT_COMPLETED)
            p = get_payment(token, pay["id"])
            assert p["status"] == "pending", f"payment {p['status']!r} while the gateway says pending"
            assert p["paidAt"] is None and p["confirmation"] is None, p
            assert get_order_by_id(token, order["id"])["payment"]["status"] == "pending"
            assert confirmation_jobs(order["id"]) == 0
        finally:
            drain_rules(provider)
        # The status API now answers COMPLETE. Rather than wait for the reconciler's
        # back-off (15 s, doubling), make the payment due now, as an operator's
        # "check now" does (payments.next_check_at), and let the worker settle it.
        p = wait_payment(token, pay["id"], lambda p: p["status"] == "paid", timeout=30, interval=0.5, due=True)
        assert p["status"] == "paid", f"the reconciler did not settle the payment: {p['status']!r}"
        assert event_sources(p).count("status") >= 2, f"events {p['events']}"
        assert_paid_once(token, pay, order)

    check_each(list(PROVIDERS), check)


def test_reconciler_settles_payment_nobody_called_back():
    token, _ = merchant_with_gateways()
    ip = fake_ip()

    def check(provider):
        pay, order = started(token, provider, ip)
        sandbox_pay(provider, pay["reference"])  # paid; no return, no webhook
        assert get_payment(token, pay["id"])["status"] in OPEN
        # due now instead of 60 s after it started (an operator's "check now")
        p = wait_payment(token, pay["id"], lambda p: p["status"] == "paid", timeout=30, interval=0.5, due=True)
        assert p["status"] == "paid", f"the reconciler did not settle the payment: {p['status']!r}"
        assert_paid_once(token, pay, order)

    check_each(list(PROVIDERS), check)


def test_reconciler_closes_abandoned_payment():
    token, _ = merchant_with_gateways()
    ip = fake_ip()
    pay, order = started(token, "khalti", ip)
    sandbox_pay("khalti", pay["reference"], "expire")  # the link expired unpaid
    p = wait_payment(token, pay["id"], lambda p: p["status"] not in OPEN, timeout=30, interval=0.5, due=True)
    assert p["status"] in ("expired", "failed"), f"an expired Khalti link left the payment {p['status']!r}"
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "failed"
    assert confirmation_jobs(order["id"]) == 0


def test_webhook_payment_of_other_merchant_stays_apart():
    """A webhook signed with merchant A's eSewa key naming merchant B's payment is refused."""
    require_sandbox()
    _, token_a = register()
    _, token_b = register()
    creds_a = configure_gateway(token_a, "esewa")
    configure_gateway(token_b, "esewa", creds=sandbox_merchant("esewa"))
    ip = fake_ip()
    pay_b, order_b = started(token_b, "esewa", ip)
    sandbox_pay("esewa", pay_b["reference"])
    before = snapshot(token_b, pay_b, order_b)
    raw = esewa_webhook(creds_a, pay_b)  # A's product code and key
    assert_envelope_error(post_webhook("esewa", raw, ip=ip), 401, "invalid_signature")
    assert snapshot(token_b, pay_b, order_b) == before
