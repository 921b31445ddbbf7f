"""Khalti KPG-2 ePayment simulator (payments.md section 2, simulator notes 2.8).

/khalti stands for dev.khalti.com, /khalti-pay for test-pay.khalti.com:

  POST /khalti/api/v2/epayment/initiate/                       (2.3)
  POST /khalti/api/v2/epayment/lookup/                         (2.5)
  POST /khalti/api/merchant-transaction/{transaction_id}/refund/ (2.6)
  GET  /khalti-pay/?pidx=...      pay page (the payment_url)
  POST /khalti-pay/               its Pay / Cancel buttons
"""

import re
import time

import common
from common import esc, json_response, redirect, StateError

PROVIDER = "khalti"
INITIATE_PATH = "/api/v2/epayment/initiate/"
LOOKUP_PATH = "/api/v2/epayment/lookup/"
REFUND_PATH_RE = re.compile(r"^/api/merchant-transaction/([^/]+)/refund/$")

# Published sample keys (2.1); whether the real sandbox still accepts them is UNCONFIRMED.
TEST_MERCHANTS = {
    key: {"secret_key": key, "name": f"Khalti test merchant {n}"}
    for n, key in enumerate(("live_secret_key_68791341fdd94846a146f0457ff7b455",
                             "05bf95cc57244045b8df5fad06748dab"), start=1)
}
TEST_PAYER_IDS = tuple(f"980000000{n}" for n in range(6))  # 9800000000 .. 9800000005 (2.1)
TEST_PAYER_MPIN = "1111"

STATUSES = ("Initiated", "Pending", "Completed", "Refunded", "Partially Refunded",
            "Expired", "User canceled", "Canceled", "Failed")
# Lookup answers these with HTTP 400 (2.5). The docs list Expired and User canceled;
# Canceled and Failed are assumed to behave alike (UNCONFIRMED).
HTTP_400_STATUSES = ("Expired", "User canceled", "Canceled", "Failed")
PAID_STATUSES = ("Completed", "Refunded", "Partially Refunded")
REFUNDABLE_STATUSES = ("Completed", "Partially Refunded")
RULE_ENDPOINTS = ("status", "initiate", "refund")
ACTIONS = ("pay", "pending", "cancel", "expire")

MIN_AMOUNT_PAISA = 1000
REQUIRED_FIELDS = ("return_url", "website_url", "amount", "purchase_order_id", "purchase_order_name")
# Authorization prefix: the docs write both "Key" and "key"; Khalti is a Django REST
# framework service, which compares the keyword case-insensitively. UNCONFIRMED (2.2).
AUTH_KEYWORD = "key"
NOT_FOUND_HTTP_STATUS = 404  # lookup of an unknown pidx; the code is UNCONFIRMED, the body is per 2.5

MSG_REQUIRED = "This field is required."
MSG_BLANK = "This field may not be blank."
MSG_URL = "Enter a valid URL."
MSG_INTEGER = "A valid integer is required."
MSG_MIN_AMOUNT = "Amount should be greater than Rs. 10, that is 1000 paisa."
MSG_BREAKDOWN = "Amount Breakdown mismatch."


# --------------------------------------------------------------------------
# responses


def unauthorized(detail):
    """401 bodies of 2.2."""
    return json_response(401, {"detail": detail, "status_code": 401}, [("WWW-Authenticate", "Key")])


def validation_error(errors, status=400):
    """Field-keyed message arrays plus error_key (2.3)."""
    return json_response(status, {**errors, "error_key": "validation_error"})


def not_found():
    return json_response(NOT_FOUND_HTTP_STATUS, {"detail": "Not found.", "error_key": "validation_error"})


def failure_response(code):
    """Body for a /_control/next 'fail' (real body UNCONFIRMED)."""
    return json_response(code, {"detail": "Service temporarily unavailable.", "status_code": code})


# --------------------------------------------------------------------------
# helpers


def authenticate(store, req):
    """(merchant, None) or (None, 401 response) per 2.2."""
    header = (req.header("Authorization") or "").strip()
    keyword, _, key = header.partition(" ")
    if keyword.lower() != AUTH_KEYWORD or not key.strip():
        return None, unauthorized("Authentication credentials were not provided.")
    merchant = store.merchant(PROVIDER, key.strip())
    if merchant is None:
        return None, unauthorized("Invalid token.")
    return merchant, None


def read_body(req):
    """JSON body (form-encoded accepted too, as a Django REST service would); None if unparsable."""
    if not req.body.strip():
        return {}
    if "application/x-www-form-urlencoded" in (req.header("Content-Type") or ""):
        return req.form()
    try:
        body = req.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def parse_paisa(value):
    """An integer amount given as a JSON number or digit string (2.3); None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    return None


def masked_mobile(khalti_id):
    """'98XXXXX904' style (2.4)."""
    return khalti_id[:2] + "XXXXX" + khalti_id[-3:]


def rupees(paisa):
    return f"{paisa // 100}.{paisa % 100:02d}"


# --------------------------------------------------------------------------
# initiate (2.3)


def initiate_errors(body):
    """Field-keyed validation errors of 2.3 (empty dict when the request is valid)."""
    errors = {}
    for name in REQUIRED_FIELDS:
        value = body.get(name)
        if value is None:
            errors[name] = [MSG_REQUIRED]
        elif isinstance(value, str) and not value.strip():
            errors[name] = [MSG_BLANK]
    for name in ("return_url", "website_url"):
        if name not in errors and not common.is_http_url(str(body[name])):
            errors[name] = [MSG_URL]
    if "amount" not in errors:
        amount = parse_paisa(body["amount"])
        if amount is None:
            errors["amount"] = [MSG_INTEGER]
        elif amount < MIN_AMOUNT_PAISA:
            errors["amount"] = [MSG_MIN_AMOUNT]
        elif breakdown_mismatch(body.get("amount_breakdown"), amount):
            errors["amount"] = [MSG_BREAKDOWN]
    return errors


def breakdown_mismatch(breakdown, amount):
    if breakdown is None:
        return False
    if not isinstance(breakdown, list):
        return True
    parts = [parse_paisa(item.get("amount")) if isinstance(item, dict) else None for item in breakdown]
    return None in parts or sum(parts) != amount


def handle_initiate(store, req):
    merchant, error = authenticate(store, req)
    if error:
        return error
    failure, _ = common.apply_rule(store, PROVIDER, "initiate", failure_response)
    if failure:
        return failure
    body = read_body(req)
    if body is None:
        return json_response(400, {"detail": "JSON parse error", "error_key": "validation_error"})
    errors = initiate_errors(body)
    if errors:
        return validation_error(errors)
    txn = new_transaction(store, merchant, body)
    store.link_request(PROVIDER, req.record_id, txn["id"])
    return json_response(200, {
        "pidx": txn["id"],
        "payment_url": f"{req.base_url}/khalti-pay/?pidx={txn['id']}",
        "expires_at": common.nepal_iso(txn["expires_at"]),
        "expires_in": txn["expires_in"],
    })


def new_transaction(store, merchant, body):
    expires_in = int(store.config("khalti_expires_in"))
    now = time.time()
    pidx = common.random_text(22)
    txn = {
        "id": pidx,
        "reference": pidx,
        "merchant": merchant["secret_key"],
        "status": "Initiated",
        "created_at": now,
        "expires_in": expires_in,
        "expires_at": now + expires_in,
        "amount": parse_paisa(body["amount"]),
        "purchase_order_id": str(body["purchase_order_id"]),
        "purchase_order_name": str(body["purchase_order_name"]),
        "return_url": str(body["return_url"]),
        "website_url": str(body["website_url"]),
        "merchant_extra": {k: v for k, v in body.items() if k.startswith("merchant_")},
        "request": body,
        "transaction_id": None,
        "mobile": None,
        "fee": 0,
        "refunded_amount": 0,
        "refunds": [],
        "history": [],
    }
    store.add_transaction(PROVIDER, txn)
    return txn


# --------------------------------------------------------------------------
# payment outcomes (2.4, 2.8)


def refresh_expiry(store, txn):
    """An unpaid link past expires_at becomes Expired (2.8, pitfall 10)."""
    if txn["status"] == "Initiated" and time.time() >= txn["expires_at"]:
        return store.update_transaction(PROVIDER, txn["id"], status="Expired", event="link expired")
    return txn


def require_initiated(store, txn):
    txn = refresh_expiry(store, txn)
    if txn["status"] != "Initiated":
        raise StateError(f"payment link is no longer payable (status {txn['status']})")
    return txn


def return_url_for(store, txn, pairs):
    query = common.encode_params(pairs, store.config("khalti_space_encoding"))
    return common.append_query(txn["return_url"], query)


def complete_payment(store, txn, payer_id=TEST_PAYER_IDS[0], status="Completed"):
    """Pay: Completed (or Pending), new transaction_id, redirect with the success params of 2.4."""
    with store.lock:
        txn = require_initiated(store, txn)
        txn = store.update_transaction(PROVIDER, txn["id"], status=status,
                                       transaction_id=common.random_text(22),
                                       mobile=masked_mobile(payer_id), event=f"paid ({status})")
    tid, amount = txn["transaction_id"], str(txn["amount"])
    pairs = [("pidx", txn["id"]), ("txnId", tid), ("amount", amount), ("total_amount", amount),
             ("status", status), ("mobile", txn["mobile"]), ("tidx", tid),
             ("purchase_order_id", txn["purchase_order_id"]),
             ("purchase_order_name", txn["purchase_order_name"]), ("transaction_id", tid)]
    pairs += [(k, v if isinstance(v, str) else str(v)) for k, v in txn["merchant_extra"].items()]
    url = return_url_for(store, txn, pairs)
    store.update_transaction(PROVIDER, txn["id"], redirect=url)
    return url


def cancel_payment(store, txn):
    """Cancel: 'User canceled' with empty ids (2.4 cancel sample)."""
    with store.lock:
        txn = require_initiated(store, txn)
        txn = store.update_transaction(PROVIDER, txn["id"], status="User canceled", event="cancelled by customer")
    amount = str(txn["amount"])
    pairs = [("pidx", txn["id"]), ("transaction_id", ""), ("tidx", ""), ("amount", amount),
             ("total_amount", amount), ("mobile", ""), ("status", "User canceled"),
             ("purchase_order_id", txn["purchase_order_id"]),
             ("purchase_order_name", txn["purchase_order_name"])]
    url = return_url_for(store, txn, pairs)
    store.update_transaction(PROVIDER, txn["id"], redirect=url)
    return url


def expire_payment(store, txn):
    with store.lock:
        txn = require_initiated(store, txn)
        store.update_transaction(PROVIDER, txn["id"], status="Expired", event="link expired (control)")
    return None


def pending_payment(store, txn):
    """Return with status=Pending (2.4); params shaped like the success return (UNCONFIRMED)."""
    return complete_payment(store, txn, status="Pending")


ACTION_HANDLERS = {"pay": complete_payment, "pending": pending_payment, "cancel": cancel_payment,
                   "expire": expire_payment}


def control_action(store, txn, action):
    return ACTION_HANDLERS[action](store, txn)


def control_set_status(store, txn, status):
    changes = {"status": status, "event": f"status set to {status} by control"}
    if status in PAID_STATUSES + ("Pending",) and not txn.get("transaction_id"):
        changes["transaction_id"] = common.random_text(22)
    return store.update_transaction(PROVIDER, txn["id"], **changes)


def find_for_control(store, reference, merchant=None):
    """By pidx, or by purchase_order_id (most recent attempt)."""
    return common.find_transaction(store, PROVIDER, reference, merchant, alias_fields=("purchase_order_id",))


def merchant_from_control(body):
    """{secret_key, name?} -> (key, record)."""
    key = body.get("secret_key")
    if not isinstance(key, str) or not key.strip() or " " in key:
        raise ValueError("khalti merchants need a secret_key without spaces")
    return key, {"secret_key": key, "name": str(body.get("name") or "Khalti merchant")}


# --------------------------------------------------------------------------
# pay page (the payment_url)


def pay_page(txn, merchant, error=""):
    details = common.detail_table([
        ("Merchant", merchant["name"]),
        ("Amount", f"Rs. {rupees(txn['amount'])}"),
        ("Order", f"{txn['purchase_order_name']} ({txn['purchase_order_id']})"),
        ("Payment id", txn["id"]),
    ])
    pay = common.post_form("/khalti-pay/", {"pidx": txn["id"], "action": "pay"}, "Pay", [
        ("Khalti ID", "khalti_id", TEST_PAYER_IDS[0], "text"),
        ("MPIN", "mpin", TEST_PAYER_MPIN, "password"),
    ])
    cancel = common.post_form("/khalti-pay/", {"pidx": txn["id"], "action": "cancel"}, "Cancel")
    error_html = f'<p class="error">{esc(error)}</p>' if error else ""
    return common.html_page("Khalti — pay", details + error_html + pay + cancel)


def handle_pay_page(store, req, subpath):
    if subpath not in ("", "/"):
        return None
    fields = req.form() if req.method == "POST" else req.query()
    txn = store.transaction(PROVIDER, fields.get("pidx", ""))
    if txn is None:
        return common.message_page(404, "Khalti", "Unknown payment link.")
    store.link_request(PROVIDER, req.record_id, txn["id"])
    merchant = store.merchant(PROVIDER, txn["merchant"]) or {"name": "Khalti merchant"}
    try:
        txn = require_initiated(store, txn)
        if req.method != "POST":
            return common.html_response(200, pay_page(txn, merchant))
        action = fields.get("action")
        if action == "cancel":
            return redirect(cancel_payment(store, txn))
        if action != "pay":
            return common.message_page(400, "Khalti", "Unknown action.")
        if fields.get("khalti_id") not in TEST_PAYER_IDS or fields.get("mpin") != TEST_PAYER_MPIN:
            return common.html_response(200, pay_page(txn, merchant, "Invalid Khalti ID or MPIN."))
        return redirect(complete_payment(store, txn, fields["khalti_id"]))
    except StateError as exc:
        return common.message_page(410, "Khalti", str(exc))


# --------------------------------------------------------------------------
# lookup (2.5)


def lookup_body(txn, status):
    """Lookup object with the key order of 2.5."""
    transaction_id = txn.get("transaction_id")
    if status in PAID_STATUSES + ("Pending",) and not transaction_id:
        transaction_id = common.random_text(22)  # a forced status on an unpaid link
    if status in ("Initiated", "Expired", "User canceled", "Canceled"):
        transaction_id = None
    return {"pidx": txn["id"], "total_amount": txn["amount"], "status": status,
            "transaction_id": transaction_id, "fee": txn["fee"],
            "refunded": status in ("Refunded", "Partially Refunded") or txn["refunded_amount"] > 0}


def handle_lookup(store, req):
    merchant, error = authenticate(store, req)
    if error:
        return error
    failure, override = common.apply_rule(store, PROVIDER, "status", failure_response)
    if failure:
        return failure
    body = read_body(req)
    pidx = body.get("pidx") if body is not None else None
    if not isinstance(pidx, str) or not pidx.strip():
        return validation_error({"pidx": [MSG_REQUIRED if not pidx else MSG_BLANK]})
    txn = store.transaction(PROVIDER, pidx)
    if txn is None or txn["merchant"] != merchant["secret_key"]:
        return not_found()
    store.link_request(PROVIDER, req.record_id, txn["id"])
    txn = refresh_expiry(store, txn)
    status = override or txn["status"]
    return json_response(400 if status in HTTP_400_STATUSES else 200, lookup_body(txn, status))


# --------------------------------------------------------------------------
# refund (2.6)


def refund_problem(txn, amount, body):
    """Why a refund is refused (None if acceptable). Messages are the sandbox's own (UNCONFIRMED)."""
    if txn["status"] not in REFUNDABLE_STATUSES:
        return f"Transaction with status {txn['status']} cannot be refunded."
    if "amount" in body and (amount is None or amount <= 0):
        return "A valid integer is required."
    if amount is not None and amount > txn["amount"] - txn["refunded_amount"]:
        return "Refund amount exceeds the refundable amount."
    if "mobile" in body and not str(body["mobile"]).strip():
        return "This field may not be blank."
    return None


def handle_refund(store, req, transaction_id):
    if req.method != "POST":
        return json_response(405, {"detail": f'Method "{req.method}" not allowed.'})
    merchant, error = authenticate(store, req)
    if error:
        return error
    failure, _ = common.apply_rule(store, PROVIDER, "refund", failure_response)
    if failure:
        return failure
    body = read_body(req)
    if body is None:
        return json_response(400, {"detail": "JSON parse error", "error_key": "validation_error"})
    with store.lock:
        matches = store.find_transactions(PROVIDER, lambda t: t.get("transaction_id") == transaction_id
                                          and t["merchant"] == merchant["secret_key"])
        if not matches:
            return json_response(404, {"detail": "Not found."})
        txn = matches[-1]
        store.link_request(PROVIDER, req.record_id, txn["id"])
        amount = parse_paisa(body["amount"]) if "amount" in body else None
        problem = refund_problem(txn, amount, body)
        if problem:
            return json_response(400, {"detail": problem, "error_key": "validation_error"})
        apply_refund(store, txn, amount, body.get("mobile"))
    return json_response(200, {"detail": "Transaction refund successful."})


def apply_refund(store, txn, amount, mobile):
    """Full (no amount) or partial refund: Refunded / Partially Refunded (2.8)."""
    remaining = txn["amount"] - txn["refunded_amount"]
    amount = remaining if amount is None else amount
    refunded = txn["refunded_amount"] + amount
    status = "Refunded" if refunded >= txn["amount"] else "Partially Refunded"
    refunds = txn["refunds"] + [{"amount": amount, "mobile": mobile, "at": common.nepal_iso(time.time())}]
    store.update_transaction(PROVIDER, txn["id"], status=status, refunded_amount=refunded, refunds=refunds,
                             event=f"refund of {amount} paisa")


def handle_api(store, req, subpath):
    if subpath in (INITIATE_PATH, LOOKUP_PATH) and req.method != "POST":
        return json_response(405, {"detail": f'Method "{req.method}" not allowed.'})
    if subpath == INITIATE_PATH:
        return handle_initiate(store, req)
    if subpath == LOOKUP_PATH:
        return handle_lookup(store, req)
    match = REFUND_PATH_RE.match(subpath)
    if match:
        return handle_refund(store, req, match.group(1))
    return None


PREFIXES = {"/khalti": handle_api, "/khalti-pay": handle_pay_page}
