"""eSewa ePay v2 simulator (payments.md section 1, simulator notes 1.8).

Prefixes: /esewa stands for rc-epay.esewa.com.np (payment form, and the status
API as several SDKs use it); /esewa-status stands for rc.esewa.com.np (the
status host of the official docs). Both prefixes serve every path below.

  POST {prefix}/api/epay/main/v2/form          browser form post (1.2)
  GET  {prefix}/api/epay/transaction/status/   status check (1.5)
  GET  {prefix}/pay?sid=...                    simulated login/confirm page
  POST {prefix}/pay                            its Pay / Cancel buttons
"""

import base64
import hashlib
import hmac
import json
import re
import time
from decimal import Decimal, InvalidOperation

import common
from common import esc, json_response, redirect, StateError

PROVIDER = "esewa"
FORM_PATH = "/api/epay/main/v2/form"
STATUS_PATH = "/api/epay/transaction/status/"
PAY_PATH = "/pay"

TEST_MERCHANTS = {
    "EPAYTEST": {"product_code": "EPAYTEST", "secret_key": "8gBm/:&EnhH.1/q", "name": "eSewa test merchant (EPAYTEST)"},
}
TEST_PAYER_IDS = tuple(f"98068000{n:02d}" for n in range(1, 6))  # 9806800001 .. 9806800005 (1.1)
TEST_PAYER_PASSWORD = "Nepal@123"

AMOUNT_FIELDS = ("amount", "tax_amount", "product_service_charge", "product_delivery_charge")
FORM_FIELDS = AMOUNT_FIELDS + ("total_amount", "transaction_uuid", "product_code", "success_url",
                               "failure_url", "signed_field_names", "signature")
REQUEST_SIGNED_FIELD_NAMES = "total_amount,transaction_uuid,product_code"
RESPONSE_SIGNED_FIELD_NAMES = "transaction_code,status,total_amount,transaction_uuid,product_code,signed_field_names"
# Docs: alphanumerics and '-'; underscores were observed to work in UAT (1.2).
TRANSACTION_UUID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
AMOUNT_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")

STATUSES = ("COMPLETE", "PENDING", "FULL_REFUND", "PARTIAL_REFUND", "AMBIGUOUS", "NOT_FOUND", "CANCELED")
# What the status API says after the customer presses Cancel: UNCONFIRMED (docs silent);
# NOT_FOUND = "terminated at eSewa", the closest documented meaning.
STATUS_AFTER_CANCEL = "NOT_FOUND"
MONEY_MOVED_STATUSES = ("COMPLETE", "FULL_REFUND", "PARTIAL_REFUND", "AMBIGUOUS")
RULE_ENDPOINTS = ("status",)
ACTIONS = ("pay", "cancel", "expire")

MERCHANT_KEY_ERROR = "Unable to fetch merchant key. Please try again later."  # 1.2, 1.8
SERVICE_UNAVAILABLE = "Service is currently unavailable"                       # 1.5


# --------------------------------------------------------------------------
# signatures and callback encoding (1.3, 1.4)


def sign(secret_key, message):
    """Base64 HMAC-SHA256 of message with the merchant secret (1.4)."""
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_message(values, signed_field_names):
    """'name=value' for each listed field, in order, joined by ',' (1.4)."""
    return ",".join(f"{name}={values[name]}" for name in signed_field_names.split(","))


def callback_signing_values(payload):
    """The callback's values as signed: total_amount without thousands commas (1.4 quirk)."""
    values = dict(payload)
    values["total_amount"] = str(values["total_amount"]).replace(",", "")
    return values


def callback_payload(secret_key, transaction_code, status, total_amount_text, transaction_uuid, product_code):
    """The success callback object with the key order of 1.3, signed per 1.4."""
    payload = {
        "transaction_code": transaction_code,
        "status": status,
        "total_amount": total_amount_text,
        "transaction_uuid": transaction_uuid,
        "product_code": product_code,
        "signed_field_names": RESPONSE_SIGNED_FIELD_NAMES,
    }
    message = signed_message(callback_signing_values(payload), RESPONSE_SIGNED_FIELD_NAMES)
    payload["signature"] = sign(secret_key, message)
    return payload


def encode_callback(payload):
    """Standard padded base64 of the compact JSON (1.3)."""
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def verify_callback(data, secret_key):
    """True when a received ?data= value carries a valid signature (1.4)."""
    payload = json.loads(base64.b64decode(data.replace(" ", "+")))
    message = signed_message(callback_signing_values(payload), payload["signed_field_names"])
    return hmac.compare_digest(sign(secret_key, message), payload.get("signature", ""))


def parse_amount(text):
    if not AMOUNT_RE.match(text or ""):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def callback_amount_text(amount, thousands_comma=False):
    """Callback total_amount: '110.0' for whole rupees, '399.99' kept, optional '6,600.0' (1.3)."""
    whole, _, fraction = format(amount.normalize(), "f").partition(".")
    whole = f"{int(whole):,}" if thousands_comma else whole
    return f"{whole}.{fraction or '0'}"


def append_data_param(url, data, always_question_mark):
    """success_url + data; '&' when it already has a query, unless the observed quirk is on (1.3)."""
    if always_question_mark:
        return f"{url}?data={data}"
    return common.append_query(url, f"data={data}")


def new_transaction_code():
    """7 chars: '000' + 4 upper-case alphanumerics (1.8)."""
    return "000" + common.random_text(4, common.UPPER_ALNUM)


# --------------------------------------------------------------------------
# responses


def error_response(message, status=400):
    """eSewa's error shape (1.2/1.5); used for every rejection."""
    return json_response(status, {"error_message": message, "code": 0})


def failure_response(code):
    return error_response(SERVICE_UNAVAILABLE, code)


# --------------------------------------------------------------------------
# transactions


def find_by_uuid(store, product_code, transaction_uuid):
    return common.find_transaction(store, PROVIDER, transaction_uuid, merchant=product_code)


def refresh_expiry(store, txn):
    """A PENDING session older than the timeout is terminated: NOT_FOUND (1.8)."""
    timeout = store.config("esewa_session_timeout_seconds")
    if txn["status"] == "PENDING" and time.time() - txn["created_at"] > timeout:
        return store.update_transaction(PROVIDER, txn["id"], status="NOT_FOUND", event="session timed out")
    return txn


def require_pending(store, txn):
    txn = refresh_expiry(store, txn)
    if txn["status"] != "PENDING":
        raise StateError(f"payment session is no longer active (status {txn['status']})")
    return txn


def complete_payment(store, txn):
    """Pay: COMPLETE with a new transaction_code; returns the success redirect URL (1.8)."""
    with store.lock:
        txn = require_pending(store, txn)
        code = new_transaction_code()
        txn = store.update_transaction(PROVIDER, txn["id"], status="COMPLETE", transaction_code=code,
                                       event="paid")
    merchant = store.merchant(PROVIDER, txn["merchant"])
    amount_text = callback_amount_text(Decimal(txn["total_amount"]), store.config("esewa_thousands_comma"))
    payload = callback_payload(merchant["secret_key"], code, "COMPLETE", amount_text,
                               txn["reference"], txn["merchant"])
    url = append_data_param(txn["success_url"], encode_callback(payload), store.config("esewa_data_query_quirk"))
    store.update_transaction(PROVIDER, txn["id"], callback=payload, redirect=url)
    return url


def cancel_payment(store, txn):
    """Cancel: failure_url with no parameters (1.8)."""
    with store.lock:
        txn = require_pending(store, txn)
        store.update_transaction(PROVIDER, txn["id"], status=STATUS_AFTER_CANCEL, redirect=txn["failure_url"],
                                 event="cancelled by customer")
    return txn["failure_url"]


def expire_payment(store, txn):
    """Abandoned session: NOT_FOUND, the browser never comes back (1.8)."""
    with store.lock:
        txn = require_pending(store, txn)
        store.update_transaction(PROVIDER, txn["id"], status="NOT_FOUND", event="session expired")
    return None


ACTION_HANDLERS = {"pay": complete_payment, "cancel": cancel_payment, "expire": expire_payment}


def control_action(store, txn, action):
    return ACTION_HANDLERS[action](store, txn)


def control_set_status(store, txn, status):
    changes = {"status": status, "event": f"status set to {status} by control"}
    if status in MONEY_MOVED_STATUSES and not txn.get("transaction_code"):
        changes["transaction_code"] = new_transaction_code()
    return store.update_transaction(PROVIDER, txn["id"], **changes)


def find_for_control(store, reference, merchant=None):
    return common.find_transaction(store, PROVIDER, reference, merchant)


def merchant_from_control(body):
    """{product_code, secret_key, name?} -> (key, record); ValueError when incomplete."""
    code, secret = body.get("product_code"), body.get("secret_key")
    if not isinstance(code, str) or not code or not isinstance(secret, str) or not secret:
        raise ValueError("esewa merchants need product_code and secret_key")
    return code, {"product_code": code, "secret_key": secret, "name": str(body.get("name") or code)}


# --------------------------------------------------------------------------
# form POST (1.2, 1.8)


def form_problem(store, fields):
    """Why a form post is rejected (None if it is acceptable), per 1.2 and 1.8."""
    missing = [name for name in FORM_FIELDS if not fields.get(name, "").strip()]
    if missing:
        return f"Missing or empty field(s): {', '.join(missing)}"
    merchant = store.merchant(PROVIDER, fields["product_code"])
    if merchant is None:
        return MERCHANT_KEY_ERROR
    amounts = {name: parse_amount(fields[name]) for name in AMOUNT_FIELDS + ("total_amount",)}
    bad = [name for name, value in amounts.items() if value is None]
    if bad:
        return f"Invalid amount in field(s): {', '.join(bad)}"
    if sum(amounts[name] for name in AMOUNT_FIELDS) != amounts["total_amount"]:
        return "total_amount must equal amount + tax_amount + product_service_charge + product_delivery_charge"
    if not TRANSACTION_UUID_RE.match(fields["transaction_uuid"]):
        return "transaction_uuid may contain only letters, digits and hyphens"
    if not (common.is_http_url(fields["success_url"]) and common.is_http_url(fields["failure_url"])):
        return "success_url and failure_url must be absolute http(s) URLs"
    if fields["signed_field_names"] != REQUEST_SIGNED_FIELD_NAMES:
        return f"signed_field_names must be {REQUEST_SIGNED_FIELD_NAMES}"
    expected = sign(merchant["secret_key"], signed_message(fields, REQUEST_SIGNED_FIELD_NAMES))
    if not hmac.compare_digest(expected, fields["signature"]):
        return "Invalid payload signature"
    if find_by_uuid(store, fields["product_code"], fields["transaction_uuid"]):
        return "Duplicate transaction_uuid"  # real behaviour UNCONFIRMED (1.8)
    return None


def handle_form(store, req):
    if req.method != "POST":
        return error_response("Method not allowed", 405)
    fields = req.form()
    with store.lock:
        problem = form_problem(store, fields)
        if problem:
            return error_response(problem)
        txn = {
            "id": common.new_token(),
            "merchant": fields["product_code"],
            "reference": fields["transaction_uuid"],
            "status": "PENDING",
            "created_at": time.time(),
            "form": {name: fields[name] for name in FORM_FIELDS},
            "signed_message": signed_message(fields, REQUEST_SIGNED_FIELD_NAMES),
            "total_amount": fields["total_amount"],
            "success_url": fields["success_url"],
            "failure_url": fields["failure_url"],
            "transaction_code": None,
            "history": [],
        }
        store.add_transaction(PROVIDER, txn)
    store.link_request(PROVIDER, req.record_id, txn["id"])
    return redirect(f"{req.base_url}/esewa{PAY_PATH}?sid={txn['id']}")


# --------------------------------------------------------------------------
# simulated login/confirm page


def pay_page(txn, merchant, error=""):
    form = txn["form"]
    details = common.detail_table([
        ("Merchant", f"{merchant['name']} ({merchant['product_code']})"),
        ("Amount", f"Rs. {form['amount']}"),
        ("Tax", f"Rs. {form['tax_amount']}"),
        ("Service charge", f"Rs. {form['product_service_charge']}"),
        ("Delivery charge", f"Rs. {form['product_delivery_charge']}"),
        ("Total", f"Rs. {form['total_amount']}"),
        ("Reference", txn["reference"]),
    ])
    hidden = {"sid": txn["id"]}
    pay = common.post_form(f"/esewa{PAY_PATH}", {**hidden, "action": "pay"}, "Pay", [
        ("eSewa ID", "esewa_id", TEST_PAYER_IDS[0], "text"),
        ("Password", "password", TEST_PAYER_PASSWORD, "password"),
    ])
    cancel = common.post_form(f"/esewa{PAY_PATH}", {**hidden, "action": "cancel"}, "Cancel")
    error_html = f'<p class="error">{esc(error)}</p>' if error else ""
    return common.html_page("eSewa — confirm payment", details + error_html + pay + cancel)


def handle_pay_page(store, req):
    fields = req.form() if req.method == "POST" else req.query()
    txn = store.transaction(PROVIDER, fields.get("sid", ""))
    if txn is None:
        return common.message_page(404, "eSewa", "Unknown payment session.")
    store.link_request(PROVIDER, req.record_id, txn["id"])
    merchant = store.merchant(PROVIDER, txn["merchant"])
    try:
        txn = require_pending(store, txn)
        if req.method != "POST":
            return common.html_response(200, pay_page(txn, merchant))
        action = fields.get("action")
        if action == "pay" and not payer_ok(fields):
            return common.html_response(200, pay_page(txn, merchant, "Invalid eSewa ID or password."))
        if action not in ("pay", "cancel"):
            return common.message_page(400, "eSewa", "Unknown action.")
        return redirect(ACTION_HANDLERS[action](store, txn))
    except StateError as exc:
        return common.message_page(410, "eSewa", str(exc))


def payer_ok(fields):
    return fields.get("esewa_id") in TEST_PAYER_IDS and fields.get("password") == TEST_PAYER_PASSWORD


# --------------------------------------------------------------------------
# status API (1.5, 1.8)


def status_body(product_code, transaction_uuid, total_amount, status, ref_id):
    """Status answer with the key order of 1.5; total_amount is a JSON number."""
    return {"product_code": product_code, "transaction_uuid": transaction_uuid,
            "total_amount": float(total_amount), "status": status, "ref_id": ref_id}


def handle_status(store, req):
    if req.method != "GET":
        return error_response("Method not allowed", 405)
    query = req.query()
    failure, override = common.apply_rule(store, PROVIDER, "status", failure_response)
    if failure:
        return failure
    code, uuid, amount_text = (query.get(k, "") for k in ("product_code", "transaction_uuid", "total_amount"))
    amount = parse_amount(amount_text)
    if not code or not uuid or amount is None:
        return error_response("product_code, total_amount and transaction_uuid are required; "
                              "total_amount must be a plain number")
    txn = find_by_uuid(store, code, uuid)
    if txn is None or Decimal(txn["total_amount"]) != amount:
        return json_response(200, status_body(code, uuid, amount, override or "NOT_FOUND", None))
    store.link_request(PROVIDER, req.record_id, txn["id"])
    txn = refresh_expiry(store, txn)
    status = override or txn["status"]
    return json_response(200, status_body(code, uuid, txn["total_amount"], status, reference_id(txn, status)))


def reference_id(txn, status):
    """ref_id: eSewa's reference once money moved, null when not paid (1.5)."""
    if status in ("PENDING", "NOT_FOUND"):
        return None
    if status in MONEY_MOVED_STATUSES:
        return txn.get("transaction_code") or new_transaction_code()
    return txn.get("transaction_code")


def handle(store, req, subpath):
    if subpath == FORM_PATH:
        return handle_form(store, req)
    if subpath in (STATUS_PATH, STATUS_PATH.rstrip("/")):
        return handle_status(store, req)
    if subpath == PAY_PATH:
        return handle_pay_page(store, req)
    return None


PREFIXES = {"/esewa": handle, "/esewa-status": handle}
