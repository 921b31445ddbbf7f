"""Payments: gateway configuration (secrets masked and never echoed), starting a
payment with each gateway (eSewa's signed form, Khalti's initiate in paisa,
Fonepay's signed URL), the /pay/<token> page, the whole flow through the
provider sandbox (pay, come back, order paid, one confirmation queued, a
webhook after the return changes nothing), a customer who cancels, refunds
(Khalti through its API, eSewa and Fonepay recorded as manual), and merchant
isolation. Webhook-specific cases are in test_payment_webhooks.py.

Needs the provider sandbox (tests/sandbox) at SANDBOX_URL (default: PORT+1 of
BASE_URL), with the test-mode gateway URLs pointed at it."""

import glob
import hashlib
import hmac
import json
import os
import urllib.parse

from client import (OPEN_RATE_LIMIT, PAGE_NOT_COMPLETED, PAGE_PAID, PAYMENT_KEYS, PROVIDERS, SANDBOX_URL, SECRET_MASK, VAR_DIR,
                    assert_envelope_error, assert_no_secrets, assert_not_found, assert_ok, assert_page_says,
                    assert_payment, assert_validation, call, check_each, configure_gateway, confirmation_jobs, drain_rules,
                    esewa_signature, event_sources, fake_ip, follow_return, genuine_webhook, get_order_by_id, get_payment,
                    html_page, http_url, khalti_pidx, list_page, open_pay_link, our_path, paid_payment, paisa,
                    payment_order, post_webhook, register, require_sandbox, sandbox_merchant,
                    sandbox_pay, sandbox_next, sandbox_transaction, start_payment, to_gateway, wait_confirmation)

CREDENTIAL_FIELDS = {
    "esewa": ["merchantId", "secretKey"],
    "khalti": ["publicKey", "secretKey"],
    "fonepay": ["merchantCode", "secretKey", "apiUsername", "apiPassword"],
}
PUBLIC_FIELDS = {"esewa": ["merchantId"], "khalti": ["publicKey"], "fonepay": ["merchantCode", "apiUsername"]}
SECRET_FIELDS = {"esewa": ["secretKey"], "khalti": ["secretKey"], "fonepay": ["secretKey", "apiPassword"]}
ESEWA_FORM_FIELDS = {"amount", "tax_amount", "product_service_charge", "product_delivery_charge", "total_amount",
                     "transaction_uuid", "product_code", "success_url", "failure_url", "signed_field_names",
                     "signature"}
FONEPAY_PARAMS = ("PID", "MD", "PRN", "AMT", "CRN", "DT", "R1", "R2", "RU", "DV")


def integrations(token):
    data = assert_ok(call("GET", "/v1/integrations", token=token))
    assert set(data) == {"payment", "messaging"}, f"integrations keys {sorted(data)}"
    assert isinstance(data["payment"], list), data
    return {g["provider"]: g for g in data["payment"]}


def secrets_of(creds_by_provider):
    return [creds[f] for p, creds in creds_by_provider.items() for f in SECRET_FIELDS[p]]


# --- gateways ----------------------------------------------------------------------

def test_gateway_configure_each_provider_secrets_masked():
    require_sandbox()
    _, token = register()
    assert integrations(token) == {}, "a new merchant has gateways configured"
    creds = {p: sandbox_merchant(p) for p in PROVIDERS}
    secrets = secrets_of(creds)
    responses = []
    for provider in PROVIDERS:
        resp = call("POST", f"/v1/integrations/payment/{provider}", {**creds[provider], "enabled": True},
                    token=token)
        responses.append(resp)
        data = assert_ok(resp)
        assert data == {"provider": provider, "status": "active", "testMode": True}, f"{provider}: {data}"
    resp = call("GET", "/v1/integrations", token=token)
    responses.append(resp)
    listed = integrations(token)
    assert set(listed) == set(PROVIDERS), f"listed providers {sorted(listed)}"
    for provider in PROVIDERS:
        g = listed[provider]
        want_keys = {"provider", "status", "testMode", "updatedAt"} | set(CREDENTIAL_FIELDS[provider])
        assert set(g) == want_keys, f"{provider} keys {sorted(g)}, expected {sorted(want_keys)}"
        assert (g["status"], g["testMode"]) == ("active", True), g
        for field in PUBLIC_FIELDS[provider]:
            assert g[field] == creds[provider][field], f"{provider}.{field} is {g[field]!r}"
        for field in SECRET_FIELDS[provider]:
            assert g[field] == SECRET_MASK, f"{provider}.{field} is not masked: {g[field]!r}"
    # testMode false selects the live hosts; it is kept and shown
    data = assert_ok(call("POST", "/v1/integrations/payment/khalti", {"testMode": False}, token=token))
    assert data == {"provider": "khalti", "status": "active", "testMode": False}, data
    assert integrations(token)["khalti"]["testMode"] is False
    data = assert_ok(call("POST", "/v1/integrations/payment/khalti", {"testMode": True}, token=token))
    assert data["testMode"] is True, data
    # replacing the credentials replaces them (and still shows none of the secrets)
    new = sandbox_merchant("esewa")
    secrets += secrets_of({"esewa": new})
    responses.append(call("POST", "/v1/integrations/payment/esewa", new, token=token))
    assert_ok(responses[-1])
    assert integrations(token)["esewa"]["merchantId"] == new["merchantId"]
    # a payment started with each shows no secret either
    order = payment_order(token)
    for provider in PROVIDERS:
        responses.append(call("POST", "/v1/payments", {"orderId": order["id"], "provider": provider}, token=token))
        assert_ok(responses[-1], 201)
        responses.append(call("GET", f"/v1/payments/{responses[-1].json['data']['id']}", token=token))
    responses.append(call("GET", "/v1/payments", token=token))
    for resp in responses:
        assert_no_secrets(resp, secrets)
    # nor in a log line of this instance (when the tests run beside it; the
    # sandbox's own log is the gateways', not ours)
    logs = [p for p in sorted(glob.glob(os.path.join(VAR_DIR, "log", "*.log")))
            if os.path.basename(p) != "sandbox.log"]
    for path in logs:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        leaked = [s[:4] + "..." for s in secrets if s in text or s.replace("/", "\\/") in text]
        assert not leaked, f"secrets {leaked} appear in {path}"


def test_gateway_configure_422():
    _, token = register()
    err = assert_validation(call("POST", "/v1/integrations/payment/paypal",
                                 {"merchantId": "X", "secretKey": "y"}, token=token), "provider")
    assert "paypal" not in err.get("details", {}).get("field", ""), err
    assert_validation(call("POST", "/v1/integrations/payment/ESEWA",
                           {"merchantId": "X", "secretKey": "y"}, token=token), "provider")
    full = {"esewa": {"merchantId": "EPAYTEST", "secretKey": "s3cret-e2e-value"},
            "khalti": {"publicKey": "test_public_key_x", "secretKey": "s3cret-e2e-value"},
            "fonepay": {"merchantCode": "fonepay123", "secretKey": "s3cret-e2e-value", "apiUsername": "u",
                        "apiPassword": "s3cret-e2e-password"}}
    cases = []
    for provider, fields in CREDENTIAL_FIELDS.items():
        for field in fields:
            body = {k: v for k, v in full[provider].items() if k != field}
            cases.append((provider, body, field))
            cases.append((provider, {**full[provider], field: ""}, field))
            cases.append((provider, {**full[provider], field: 12345}, field))
        cases.append((provider, {**full[provider], "enabled": "yes"}, "enabled"))
        cases.append((provider, {**full[provider], "testMode": 1}, "testMode"))
        # only a switch, but nothing configured yet: names the first credential field
        cases.append((provider, {"enabled": True}, fields[0]))

    def check(case):
        provider, body, field = case
        resp = call("POST", f"/v1/integrations/payment/{provider}", body, token=token)
        assert_validation(resp, field)
        assert_no_secrets(resp, ["s3cret-e2e-value", "s3cret-e2e-password"])

    check_each(cases, check)
    assert integrations(token) == {}, "a refused configuration was stored"


def test_gateway_disable_keeps_config():
    require_sandbox()
    _, token = register()
    creds = configure_gateway(token, "esewa")
    order = payment_order(token)
    data = assert_ok(call("POST", "/v1/integrations/payment/esewa", {"enabled": False}, token=token))
    assert data == {"provider": "esewa", "status": "disabled", "testMode": True}, data
    g = integrations(token)["esewa"]
    assert (g["status"], g["merchantId"], g["secretKey"]) == ("disabled", creds["merchantId"], SECRET_MASK), g
    # a disabled gateway takes no payment
    assert_validation(call("POST", "/v1/payments", {"orderId": order["id"], "provider": "esewa"}, token=token),
                      "provider")
    # switched back on, with the credentials kept: the sandbox accepts the signed form
    data = assert_ok(call("POST", "/v1/integrations/payment/esewa", {"enabled": True}, token=token))
    assert data["status"] == "active", data
    pay = start_payment(token, order["id"], "esewa")
    assert pay["redirect"]["fields"]["product_code"] == creds["merchantId"]
    to_gateway(pay)


# --- starting a payment --------------------------------------------------------------

def test_payment_start_esewa_signed_form():
    require_sandbox()
    _, token = register()
    creds = configure_gateway(token, "esewa")
    order = payment_order(token, price=1499.99, shipping=100)
    assert order["totals"]["total"] == 1599.99
    resp = call("POST", "/v1/payments", {"orderId": order["id"], "provider": "esewa"}, token=token)
    pay = assert_ok(resp, 201)
    assert set(pay) == PAYMENT_KEYS, f"payment keys {sorted(pay)}"
    assert_payment(pay, order, "esewa", "initiated")
    assert (pay["refunded"], pay["flag"], pay["paidAt"]) == (0, None, None), pay
    rd = pay["redirect"]
    assert rd["method"] == "POST", rd
    assert rd["url"] == SANDBOX_URL + "/esewa/api/epay/main/v2/form", f"eSewa form URL {rd['url']!r}"
    f = rd["fields"]
    assert set(f) == ESEWA_FORM_FIELDS, f"eSewa fields {sorted(f)}"
    assert all(isinstance(v, str) and v for v in f.values()), f"every eSewa field is non-empty text: {f}"
    assert (f["amount"], f["total_amount"]) == ("1599.99", "1599.99"), f
    assert (f["tax_amount"], f["product_service_charge"], f["product_delivery_charge"]) == ("0", "0", "0"), f
    assert f["transaction_uuid"] == pay["reference"] and f["product_code"] == creds["merchantId"], f
    assert our_path(f["success_url"]) == f"/payment/success/esewa/{pay['reference']}", f["success_url"]
    assert our_path(f["failure_url"]) == f"/payment/failure/esewa/{pay['reference']}", f["failure_url"]
    assert f["signed_field_names"] == "total_amount,transaction_uuid,product_code", f
    want = esewa_signature(creds["secretKey"], f, f["signed_field_names"])
    assert f["signature"] == want, f"eSewa signature {f['signature']!r}, recomputed {want!r}"
    assert_no_secrets(resp, [creds["secretKey"]])
    # GET shows the same payment, with no events but its start and no confirmation yet
    got = get_payment(token, pay["id"])
    assert {k: got[k] for k in PAYMENT_KEYS} == pay, f"GET differs from the created payment: {got}"
    assert got["confirmation"] is None, got["confirmation"]
    assert set(event_sources(got)) <= {"initiate"}, got["events"]
    # the sandbox takes the form as a browser posts it
    to_gateway(pay)
    txn = sandbox_transaction("esewa", pay["reference"])
    assert txn["status"] == "PENDING" and txn["total_amount"] == "1599.99", txn
    # an order whose total is whole rupees is sent without decimals, still signed over the exact text
    order2 = payment_order(token, price=2500, shipping=100)
    f2 = start_payment(token, order2["id"], "esewa")["redirect"]["fields"]
    assert f2["total_amount"] == "2600" and f2["amount"] == "2600", f2
    assert f2["signature"] == esewa_signature(creds["secretKey"], f2, f2["signed_field_names"]), f2


def test_payment_start_khalti_initiate_in_paisa():
    require_sandbox()
    _, token = register()
    creds = configure_gateway(token, "khalti")
    order = payment_order(token, price=1499.99, shipping=100)
    resp = call("POST", "/v1/payments", {"orderId": order["id"], "provider": "khalti"}, token=token)
    pay = assert_ok(resp, 201)
    assert_payment(pay, order, "khalti", "initiated")
    rd = pay["redirect"]
    assert rd["method"] == "GET" and not rd.get("fields"), rd
    pidx = khalti_pidx(pay)
    assert rd["url"] == f"{SANDBOX_URL}/khalti-pay/?pidx={pidx}", f"Khalti payment_url {rd['url']!r}"
    txn = sandbox_transaction("khalti", pidx)
    # the initiate call as the sandbox received it
    initiate = [r for r in txn["requests"] if r["path"].endswith("/epayment/initiate/")]
    assert len(initiate) == 1, f"{len(initiate)} initiate calls for one payment: {txn['requests']}"
    req = initiate[0]
    auth = dict((k.lower(), v) for k, v in req["headers"]).get("authorization")
    assert auth == f"Key {creds['secretKey']}", "initiate not sent with Authorization: Key <secret>"
    body = json.loads(req["body"])
    assert str(body["amount"]) == "159999" and "." not in str(body["amount"]), \
        f"Khalti amount {body['amount']!r}, expected 159999 paisa"
    assert txn["amount"] == 159999, txn["amount"]
    assert body["purchase_order_id"] == pay["reference"], body
    assert isinstance(body["purchase_order_name"], str) and body["purchase_order_name"], body
    assert our_path(body["return_url"]) == f"/payment/success/khalti/{pay['reference']}", body["return_url"]
    assert urllib.parse.urlsplit(body["website_url"]).scheme in ("http", "https"), body["website_url"]
    assert_no_secrets(resp, [creds["secretKey"]])
    # below Khalti's minimum (Rs 10): Khalti refuses, 422 naming provider, with its reason
    small = payment_order(token, price=5, shipping=0)
    err = assert_validation(call("POST", "/v1/payments", {"orderId": small["id"], "provider": "khalti"},
                                 token=token), "provider")
    assert "1000" in err["message"] or "10" in err["message"], f"Khalti's reason missing: {err['message']!r}"
    # Khalti not answering: 503
    sandbox_next("khalti", endpoint="initiate", fail=503)
    try:
        assert_envelope_error(call("POST", "/v1/payments", {"orderId": order["id"], "provider": "khalti"},
                                   token=token, timeout=60), 503, "unavailable")
    finally:
        drain_rules("khalti")


def test_payment_start_fonepay_signed_url():
    require_sandbox()
    _, token = register()
    creds = configure_gateway(token, "fonepay")
    order = payment_order(token, price=1499.99, shipping=100)
    pay = start_payment(token, order["id"], "fonepay")
    assert_payment(pay, order, "fonepay", "initiated")
    rd = pay["redirect"]
    assert rd["method"] == "GET", rd
    url = urllib.parse.urlsplit(rd["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == SANDBOX_URL + "/fonepay/api/merchantRequest", rd["url"]
    q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
    assert set(q) == set(FONEPAY_PARAMS), f"Fonepay parameters {sorted(q)}"
    assert (q["PID"], q["MD"], q["PRN"], q["AMT"], q["CRN"]) == \
        (creds["merchantCode"], "P", pay["reference"], "1599.99", "NPR"), q
    assert len(q["DT"]) == 10 and q["DT"][2] == "/" and q["DT"][5] == "/", f"DT {q['DT']!r} is not MM/DD/YYYY"
    assert 1 <= len(q["R1"]) <= 160 and 1 <= len(q["R2"]) <= 50 and len(q["RU"]) <= 150, q
    assert our_path(q["RU"]) == f"/payment/success/fonepay/{pay['reference']}", q["RU"]
    message = ",".join(q[k] for k in FONEPAY_PARAMS[:-1])
    want = hmac.new(creds["secretKey"].encode(), message.encode(), hashlib.sha512).hexdigest()
    assert q["DV"].lower() == want, f"Fonepay DV {q['DV']!r}, recomputed {want!r} over {message!r}"
    to_gateway(pay)
    assert sandbox_transaction("fonepay", pay["reference"])["status"] == "pending"


def test_payment_start_rules():
    require_sandbox()
    _, token = register()
    _, token_b = register()
    configure_gateway(token, "esewa")
    configure_gateway(token_b, "esewa")
    order = payment_order(token)
    foreign = payment_order(token_b)

    def post(body, tok=token):
        return call("POST", "/v1/payments", body, token=tok)

    # another merchant's order, an unknown one: 404, never a payment
    assert_not_found(post({"orderId": foreign["id"], "provider": "esewa"}))
    assert_not_found(post({"orderId": "ord_" + "a" * 20, "provider": "esewa"}))
    assert list_page(token, "/v1/payments", "payments")[0] == [], "a payment was made for another's order"
    cases = [({"provider": "esewa"}, "orderId"), ({"orderId": order["id"]}, "provider"),
             ({"orderId": order["id"], "provider": "paypal"}, "provider"),
             ({"orderId": order["id"], "provider": "khalti"}, "provider"),  # not configured
             ({"orderId": order["id"], "provider": "fonepay"}, "provider"),
             ({"orderId": 5, "provider": "esewa"}, "orderId")]
    check_each(cases, lambda c: assert_validation(post(c[0]), c[1]))
    assert_envelope_error(call("POST", "/v1/payments", raw="{", token=token), 400, "invalid_json")
    assert_envelope_error(call("POST", "/v1/payments", {"orderId": order["id"], "provider": "esewa"}),
                          401, "unauthorized")
    # a cancelled order takes no payment
    cancelled = payment_order(token)
    assert_ok(call("POST", f"/v1/orders/{cancelled['id']}/cancel", token=token))
    assert_envelope_error(post({"orderId": cancelled["id"], "provider": "esewa"}), 409, "conflict")
    # several attempts for one unpaid order are fine, each with its own reference
    a = start_payment(token, order["id"], "esewa")
    b = start_payment(token, order["id"], "esewa")
    assert a["id"] != b["id"] and a["reference"] != b["reference"], (a, b)
    assert a["payLink"] != b["payLink"]


# --- the customer's pages ------------------------------------------------------------

def test_pay_link_page_leads_to_gateway():
    require_sandbox()
    _, token = register()
    for provider in PROVIDERS:
        configure_gateway(token, provider)
    order = payment_order(token)
    ip = fake_ip()

    def check(provider):
        pay = start_payment(token, order["id"], provider)
        resp, target = open_pay_link(pay, ip)
        assert target, f"the pay page leads nowhere: {resp.text[:300]}"
        if resp.status == 200:
            page = html_page(resp)
            assert order["orderNumber"] in page.text, f"the pay page does not name the order: {page.text[:200]!r}"
        assert target["url"] == pay["redirect"]["url"], f"leads to {target['url']!r}, not {pay['redirect']['url']!r}"
        assert target["method"] == pay["redirect"]["method"], target
        if provider == "esewa":
            assert target["fields"] == pay["redirect"]["fields"], f"form fields {target['fields']}"
        to_gateway(pay, ip)  # and the gateway takes what the page sends

    check_each(list(PROVIDERS), check)
    for token_path in ("/pay/pl_" + "x" * 30, "/pay/nothing"):
        html_page(call("GET", token_path, ip=ip), 404)


def check_flow(provider):
    """The whole flow for one gateway, as the issue lists it."""
    require_sandbox()
    _, token = register()
    ip = fake_ip()
    creds = configure_gateway(token, provider)
    order = payment_order(token)
    pay = start_payment(token, order["id"], provider)
    assert_payment(pay, order, provider, "initiated")
    to_gateway(pay, ip)
    done = sandbox_pay(provider, pay["reference"])
    assert done["redirect"], f"the sandbox gave no return URL: {done}"
    assert our_path(done["redirect"]).startswith(f"/payment/success/{provider}/{pay['reference']}"), \
        f"{provider} returns the customer to {done['redirect']!r}"
    page = assert_page_says(follow_return(done["redirect"], ip), PAGE_PAID, not_pattern=PAGE_NOT_COMPLETED)
    assert order["orderNumber"] in page.text, f"the page does not name the order: {page.text[:200]!r}"

    o = get_order_by_id(token, order["id"])
    assert o["payment"]["status"] == "paid", f"order payment {o['payment']} after the return"
    assert o["payment"]["method"] == provider, o["payment"]
    p = wait_confirmation(token, pay["id"], "waiting")
    assert_payment(p, order, provider, "paid")
    assert p["providerRef"], f"no providerRef on a paid payment: {p}"
    assert p["flag"] is None, p["flag"]
    sources = event_sources(p)
    assert "return" in sources and "status" in sources, f"events {p['events']}"
    assert confirmation_jobs(order["id"]) == 1, "not exactly one confirmation job"

    # the customer refreshes the page: still paid, still one job
    assert_page_says(follow_return(done["redirect"], ip), PAGE_PAID, not_pattern=PAGE_NOT_COMPLETED)
    # the provider's webhook after the return: 200, nothing changes
    raw, headers = genuine_webhook(provider, creds, pay)
    assert_ok(post_webhook(provider, raw, headers, ip))
    p2 = get_payment(token, pay["id"])
    assert (p2["status"], p2["paidAt"], p2["providerRef"]) == ("paid", p["paidAt"], p["providerRef"]), p2
    assert "webhook" in event_sources(p2), f"the webhook is not kept as an event: {p2['events']}"
    assert p2["confirmation"] == p["confirmation"] or p2["confirmation"]["status"] == "waiting", p2["confirmation"]
    assert confirmation_jobs(order["id"]) == 1, "a second confirmation job after the webhook"
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "paid"

    # the pay link now says it is paid; the order takes no second payment
    resp, target = open_pay_link(pay, ip)
    assert_page_says(resp, PAGE_PAID)
    assert target is None, f"the pay link of a paid payment still leads to the gateway: {target}"
    assert_envelope_error(call("POST", "/v1/payments", {"orderId": order["id"], "provider": provider},
                               token=token), 409, "conflict")
    rows, _ = list_page(token, "/v1/payments", "payments", orderId=order["id"])
    assert [r["id"] for r in rows] == [pay["id"]], rows
    rows, _ = list_page(token, "/v1/payments", "payments", status="paid")
    assert [r["id"] for r in rows] == [pay["id"]], rows


def test_payment_flow_esewa():
    check_flow("esewa")


def test_payment_flow_khalti():
    check_flow("khalti")


def test_payment_flow_fonepay():
    check_flow("fonepay")


def test_payment_customer_cancels():
    require_sandbox()
    _, token = register()
    ip = fake_ip()
    for provider in PROVIDERS:
        configure_gateway(token, provider)

    def check(provider):
        order = payment_order(token)
        pay = start_payment(token, order["id"], provider)
        to_gateway(pay, ip)
        done = sandbox_pay(provider, pay["reference"], "cancel")
        assert done["redirect"], done
        assert_page_says(follow_return(done["redirect"], ip), PAGE_NOT_COMPLETED, not_pattern=PAGE_PAID)
        p = get_payment(token, pay["id"])
        assert p["status"] in ("cancelled", "failed"), f"payment {p['status']!r} after a cancel"
        assert p["paidAt"] is None and p["confirmation"] is None, p
        o = get_order_by_id(token, order["id"])
        assert o["payment"]["status"] == "failed", f"order payment {o['payment']} after a cancel"
        assert confirmation_jobs(order["id"]) == 0
        # the old link is closed; the order can be paid with a new attempt
        html_page(call("GET", our_path(pay["payLink"]), ip=ip), 410)
        start_payment(token, order["id"], provider)

    check_each(list(PROVIDERS), check)


def test_payment_list_and_isolation():
    require_sandbox()
    _, token = register()
    _, token_b = register()
    configure_gateway(token, "esewa")
    configure_gateway(token, "khalti")
    o1, o2 = payment_order(token), payment_order(token)
    a = start_payment(token, o1["id"], "esewa")
    b = start_payment(token, o2["id"], "khalti")
    c = start_payment(token, o1["id"], "khalti")
    rows, cursor = list_page(token, "/v1/payments", "payments")
    assert [r["id"] for r in rows] == [c["id"], b["id"], a["id"]] and cursor is None, "not newest first"
    for r in rows:
        assert_payment(r)
        assert "events" not in r or r["events"] is None or isinstance(r["events"], list)
    rows, _ = list_page(token, "/v1/payments", "payments", orderId=o1["id"])
    assert [r["id"] for r in rows] == [c["id"], a["id"]], rows
    rows, _ = list_page(token, "/v1/payments", "payments", status="initiated", limit=2)
    assert [r["id"] for r in rows] == [c["id"], b["id"]], rows
    assert list_page(token, "/v1/payments", "payments", status="paid")[0] == []
    assert_validation(call("GET", "/v1/payments?status=bogus", token=token), "status")
    # merchant B sees none of it
    assert list_page(token_b, "/v1/payments", "payments")[0] == []
    assert_not_found(call("GET", f"/v1/payments/{a['id']}", token=token_b))
    assert_not_found(call("POST", f"/v1/payments/{a['id']}/refund", {}, token=token_b))
    assert_not_found(call("GET", "/v1/payments/pay_" + "a" * 20, token=token))
    assert_envelope_error(call("GET", "/v1/payments"), 401, "unauthorized")


# --- refunds ---------------------------------------------------------------------------

def refund(token, payment_id, body=None):
    return call("POST", f"/v1/payments/{payment_id}/refund", {} if body is None else body, token=token)


def assert_refund(resp, amount, mode, status, refunded):
    data = assert_ok(resp, 201)
    assert set(data) == {"refund", "payment"}, f"refund answer keys {sorted(data)}"
    r = data["refund"]
    assert set(r) == {"id", "amount", "mode"} and isinstance(r["id"], str) and r["id"], r
    assert (r["amount"], r["mode"]) == (amount, mode), f"refund {r}, expected amount {amount} mode {mode}"
    assert_payment(data["payment"], status=status)
    assert data["payment"]["refunded"] == refunded, f"payment.refunded {data['payment']['refunded']} != {refunded}"
    return data


def khalti_refund_calls(pay):
    txn = sandbox_transaction("khalti", pay["reference"])
    calls = [r for r in txn["requests"] if "/merchant-transaction/" in r["path"] and r["path"].endswith("/refund/")]
    return txn, calls


def test_refund_khalti_full():
    _, token = register()
    pay, order, creds, _ = paid_payment(token, "khalti")
    total = pay["amount"]
    assert_refund(refund(token, pay["id"]), total, "api", "refunded", total)
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "refunded"
    assert get_payment(token, pay["id"])["status"] == "refunded"
    txn, calls = khalti_refund_calls(pay)
    assert len(calls) == 1, f"{len(calls)} refund calls reached Khalti"
    assert calls[0]["method"] == "POST" and calls[0]["path"].endswith(f"/{txn['transaction_id']}/refund/"), calls
    auth = dict((k.lower(), v) for k, v in calls[0]["headers"]).get("authorization")
    assert auth == f"Key {creds['secretKey']}", "refund not sent with Authorization: Key <secret>"
    assert txn["status"] == "Refunded" and txn["refunded_amount"] == paisa(total), txn
    # nothing left: 409; the sandbox hears nothing more
    assert_envelope_error(refund(token, pay["id"]), 409, "conflict")
    assert_envelope_error(refund(token, pay["id"], {"amount": 1}), 409, "conflict")
    assert len(khalti_refund_calls(pay)[1]) == 1


def test_refund_khalti_partial():
    _, token = register()
    pay, order, _, _ = paid_payment(token, "khalti")
    total = pay["amount"]
    assert_refund(refund(token, pay["id"], {"amount": 500.5}), 500.5, "api", "partially_refunded", 500.5)
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "partially_refunded"
    txn, calls = khalti_refund_calls(pay)
    assert len(calls) == 1 and json.loads(calls[0]["body"]).get("amount") == 50050, \
        f"partial refund not sent as 50050 paisa: {[c['body'] for c in calls]}"
    assert txn["status"] == "Partially Refunded", txn["status"]
    left = round(total - 500.5, 2)
    # more than what is left: 422 naming amount; nothing reaches Khalti
    assert_validation(refund(token, pay["id"], {"amount": round(left + 0.01, 2)}), "amount")
    assert len(khalti_refund_calls(pay)[1]) == 1
    # the rest
    assert_refund(refund(token, pay["id"]), left, "api", "refunded", total)
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "refunded"
    txn, calls = khalti_refund_calls(pay)
    assert len(calls) == 2 and txn["status"] == "Refunded" and txn["refunded_amount"] == paisa(total), txn


def test_refund_khalti_refused_or_unreachable():
    _, token = register()
    pay, order, _, _ = paid_payment(token, "khalti")
    try:
        sandbox_next("khalti", endpoint="refund", fail=400)
        assert_envelope_error(refund(token, pay["id"], {"amount": 10}), 409, "conflict")
        sandbox_next("khalti", endpoint="refund", fail=503)
        assert_envelope_error(refund(token, pay["id"], {"amount": 10}), 503, "unavailable")
    finally:
        drain_rules("khalti")
    p = get_payment(token, pay["id"])
    assert (p["status"], p["refunded"]) == ("paid", 0), f"a refused refund changed the payment: {p}"
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "paid"


def test_refund_manual_esewa_and_fonepay():
    _, token = register()

    def check(provider):
        pay, order, _, _ = paid_payment(token, provider)
        total = pay["amount"]
        assert_refund(refund(token, pay["id"], {"amount": 100}), 100, "manual", "partially_refunded", 100)
        assert get_order_by_id(token, order["id"])["payment"]["status"] == "partially_refunded"
        assert_validation(refund(token, pay["id"], {"amount": total}), "amount")
        assert_refund(refund(token, pay["id"]), round(total - 100, 2), "manual", "refunded", total)
        assert get_order_by_id(token, order["id"])["payment"]["status"] == "refunded"
        assert_envelope_error(refund(token, pay["id"]), 409, "conflict")
        assert "refund" in event_sources(get_payment(token, pay["id"]))

    check_each(["esewa", "fonepay"], check)


def test_refund_rules():
    require_sandbox()
    _, token = register()
    configure_gateway(token, "khalti")
    order = payment_order(token)
    unpaid = start_payment(token, order["id"], "khalti")
    assert_envelope_error(refund(token, unpaid["id"]), 409, "conflict")
    assert_envelope_error(refund(token, unpaid["id"], {"amount": 10}), 409, "conflict")
    assert_not_found(refund(token, "pay_" + "b" * 20))
    pay, _, _, _ = paid_payment(token, "khalti", order=payment_order(token))
    cases = [{"amount": 0}, {"amount": -5}, {"amount": 1.001}, {"amount": "5"}, {"amount": True},
             {"amount": pay["amount"] + 1}]
    check_each(cases, lambda body: assert_validation(refund(token, pay["id"], body), "amount"))
    p = get_payment(token, pay["id"])
    assert (p["status"], p["refunded"]) == ("paid", 0), p
    assert len(khalti_refund_calls(pay)[1]) == 0, "a refused refund reached Khalti"


def _reference_of(target, provider):
    """The gateway reference a pay page sends the browser on with."""
    if provider == "esewa":
        return target["fields"]["transaction_uuid"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(target["url"]).query)
    return query["PRN"][0]


def test_pay_link_opened_again_starts_a_new_attempt():
    """A link pasted into a chat is opened more than once. eSewa and Fonepay
    take each reference once, so each later visit goes on with a new one;
    the gateway accepts every visit, and any attempt the customer pays
    settles the order."""
    require_sandbox()
    _, token = register()
    for provider in ("esewa", "fonepay"):
        configure_gateway(token, provider)

    def check(provider):
        order = payment_order(token)
        pay = start_payment(token, order["id"], provider)
        ip = fake_ip()
        references = []
        for _ in range(3):
            resp, target = open_pay_link(pay, ip)
            assert target, f"the pay page leads nowhere: {resp.text[:300]}"
            references.append(_reference_of(target, provider))
            to_gateway_resp = call_gateway(target)
            assert to_gateway_resp.status == 302, \
                f"{provider} refused a later visit of the pay link: {to_gateway_resp.status} {to_gateway_resp.text[:200]}"
        assert references[0] == pay["reference"], references
        assert len(set(references)) == 3, f"visits reused a reference: {references}"
        rows, _ = list_page(token, "/v1/payments", "payments", orderId=order["id"])
        assert len(rows) == 3 and {r["status"] for r in rows} == {"initiated"}, rows
        by_ref = {r["reference"]: r for r in rows}
        chain = [by_ref[ref]["supersededBy"] for ref in references]
        assert chain[:2] == [by_ref[references[1]]["id"], by_ref[references[2]]["id"]] and chain[2] is None, \
            f"supersededBy does not chain the attempts: {chain}"

        # The customer pays the FIRST attempt after all: the order is paid.
        done = sandbox_pay(provider, references[0])
        assert_page_says(follow_return(done["redirect"], ip), PAGE_PAID)
        assert get_order_by_id(token, order["id"])["payment"]["status"] == "paid"
        resp, target = open_pay_link(pay, ip)
        assert_page_says(resp, PAGE_PAID)
        assert target is None, f"the link of a paid order still leads to the gateway: {target}"

    check_each(["esewa", "fonepay"], check)


def call_gateway(target):
    """POST or GET what a pay page sends the browser to (the sandbox)."""
    if target["method"] == "POST":
        return http_url("POST", target["url"], form=target["fields"])
    return http_url("GET", target["url"])


def test_second_payment_of_a_paid_order_is_flagged_not_paid():
    """Two payments started for one order and both paid at the gateway: the
    order is paid once, one confirmation is queued, and the second payment
    is flagged for the merchant to refund."""
    require_sandbox()
    _, token = register()
    configure_gateway(token, "khalti")
    order = payment_order(token)
    first = start_payment(token, order["id"], "khalti")
    second = start_payment(token, order["id"], "khalti")
    ip = fake_ip()
    for pay in (first, second):
        to_gateway(pay, ip)
    for pay in (first, second):
        done = sandbox_pay("khalti", khalti_pidx(pay))
        follow_return(done["redirect"], ip)
    a, b = get_payment(token, first["id"]), get_payment(token, second["id"])
    assert a["status"] == "paid", a
    assert b["status"] == "mismatch", b
    assert b["flag"] and "already paid" in b["flag"], b["flag"]
    assert get_order_by_id(token, order["id"])["payment"]["status"] == "paid"
    assert confirmation_jobs(order["id"]) == 1, "not exactly one confirmation job"


def test_payment_start_idempotent_retry():
    """A retried POST /v1/payments with the same Idempotency-Key gets the
    first payment back and starts no second attempt."""
    require_sandbox()
    _, token = register()
    configure_gateway(token, "khalti")
    order = payment_order(token)
    body = {"orderId": order["id"], "provider": "khalti"}
    headers = {"Idempotency-Key": "start-" + order["id"]}
    first = call("POST", "/v1/payments", body, token=token, headers=headers)
    again = call("POST", "/v1/payments", body, token=token, headers=headers)
    a, b = assert_ok(first, 201), assert_ok(again, 201)
    assert a["id"] == b["id"] and a["redirect"] == b["redirect"], (a, b)
    assert again.headers.get("Idempotent-Replayed") == "true", dict(again.headers)
    rows, _ = list_page(token, "/v1/payments", "payments", orderId=order["id"])
    assert [r["id"] for r in rows] == [a["id"]], rows
    other = dict(body, provider="esewa")
    assert_envelope_error(call("POST", "/v1/payments", other, token=token, headers=headers),
                          422, "idempotency_key_reused")


def test_return_pages_take_many_customers_behind_one_address():
    """Customers on one mobile network often share one public address: the
    return pages are held to the high per-address limit, not sign-in's."""
    require_sandbox()
    _, token = register()
    configure_gateway(token, "esewa")
    ip = fake_ip()
    for _ in range(OPEN_RATE_LIMIT + 5):
        pay = start_payment(token, payment_order(token)["id"], "esewa")
        resp = call("GET", f"/payment/failure/esewa/{pay['reference']}", ip=ip, timeout=30)
        assert resp.status == 200, f"return page {resp.status}: {resp.text[:200]}"
