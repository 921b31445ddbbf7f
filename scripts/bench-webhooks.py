#!/usr/bin/env python3
"""Prepares the payment-webhook benchmark row of scripts/bench.

Makes N eSewa payments for fresh orders of one merchant and has the
sandbox complete each one (the browser's form POST, then the customer
paying), so that the status API answers COMPLETE for every one. Then writes
one validly signed eSewa webhook body per payment, one per line, to OUT: a
request per line marks one order paid.

    scripts/bench-webhooks.py BASE_URL SANDBOX_URL TOKEN N OUT
"""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import sys
import urllib.parse
import urllib.request

ESEWA_CODE = "EPAYTEST"
ESEWA_SECRET = "8gBm/:&EnhH.1/q"  # eSewa's published UAT secret (payments.md 1.1)
SIGNED = "transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names"


def call(method, url, body=None, token=None, form=False):
    data, headers = None, {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def api(base, token, method, path, body=None):
    status, raw = call(method, base + path, body, token)
    if status >= 300:
        sys.exit(f"{method} {path}: {status} {raw[:300]!r}")
    return json.loads(raw)["data"]


def signed_body(reference, rupees, code):
    fields = {
        "transaction_code": code,
        "status": "COMPLETE",
        "total_amount": rupees,
        "transaction_uuid": reference,
        "product_code": ESEWA_CODE,
        "signed_field_names": SIGNED,
    }
    message = ",".join(f"{name}={fields[name]}" for name in SIGNED.split(","))
    digest = hmac.new(ESEWA_SECRET.encode(), message.encode(), hashlib.sha256).digest()
    fields["signature"] = base64.b64encode(digest).decode()
    return json.dumps(fields, separators=(",", ":"))


def one_payment(base, sandbox, token, customer, product, i):
    order = api(base, token, "POST", "/v1/orders", {
        "customerId": customer,
        "items": [{"productId": product, "quantity": 1}],
        "shippingAddress": {"street": "Thamel", "city": "Kathmandu"},
        "payment": {"method": "esewa"},
    })
    payment = api(base, token, "POST", "/v1/payments", {"orderId": order["id"], "provider": "esewa"})
    redirect = payment["redirect"]
    status, raw = call("POST", redirect["url"], redirect["fields"], form=True)
    if status not in (200, 302, 303):
        sys.exit(f"sandbox form: {status} {raw[:200]!r}")
    status, raw = call("POST", sandbox + "/_control/pay",
                       {"provider": "esewa", "reference": payment["reference"], "action": "pay"})
    if status != 200:
        sys.exit(f"sandbox pay: {status} {raw[:200]!r}")
    code = json.loads(raw).get("transaction", {}).get("transaction_code") or f"000B{i:03d}"
    return signed_body(payment["reference"], redirect["fields"]["total_amount"], code)


def main():
    base, sandbox, token, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    api(base, token, "POST", "/v1/integrations/payment/esewa",
        {"merchantId": ESEWA_CODE, "secretKey": ESEWA_SECRET, "enabled": True})
    product = api(base, token, "POST", "/v1/products",
                  {"name": "Webhook bench", "price": 2600, "sku": f"WH-{n}", "stock": 1000000})["id"]
    customer = api(base, token, "POST", "/v1/customers",
                   {"firstName": "Webhook", "phone": "9851234567"})["id"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda i: one_payment(base, sandbox, token, customer, product, i), range(n)))
    with open(out, "w") as f:
        f.write("\n".join(bodies) + "\n")


if __name__ == "__main__":
    main()
