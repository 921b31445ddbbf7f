"""Fonepay web-redirect simulator (payments.md section 3, simulator notes 3.8).

/fonepay stands for dev-clientapi.fonepay.com, /fonepay-merchant for the
merchant API host (merchantapi.fonepay.com). Both prefixes serve every path:

  GET|POST {prefix}/api/merchantRequest                                    (3.2)
  GET      {prefix}/api/merchantRequest/verificationMerchant              legacy check (3.5 b)
  POST     {prefix}/api/merchant/merchantDetailsForThirdParty/txnVerification (3.5 a)
  GET      {prefix}/pay?sid=...      simulated payment page
  POST     {prefix}/pay              its Pay / Cancel buttons
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape as xml_escape

import common
from common import esc, json_response, redirect, StateError

PROVIDER = "fonepay"
REQUEST_PATH = "/api/merchantRequest"
LEGACY_VERIFY_PATH = "/api/merchantRequest/verificationMerchant"
TXN_VERIFICATION_PATH = "/api/merchant/merchantDetailsForThirdParty/txnVerification"
PAY_PATH = "/pay"

# txnVerification 'auth' HMAC message: user,pass,POST,application/json,<path>,<body> (3.5 a, F15).
# The path signed is WITHOUT the "/api" prefix of the URL. Whole scheme UNCONFIRMED.
TXN_VERIFICATION_SIGNED_PATH = "/merchant/merchantDetailsForThirdParty/txnVerification"
TXN_VERIFICATION_SIGNED_CONTENT_TYPE = "application/json"

TEST_MERCHANTS = {
    # 3.1: official spec merchant; API user/password from the Dynamic-QR spec.
    "fonepay123": {"merchant_code": "fonepay123", "secret_key": "fonepay", "name": "Fonepay test merchant",
                   "api_username": "bijayk", "api_password": "password"},
    # 3.1: widely used dev merchant; no API user/password is published (register them via control).
    "NBQM": {"merchant_code": "NBQM", "secret_key": "a7e3512f5032480a83137793cb2021dc", "name": "NBQM dev merchant",
             "api_username": None, "api_password": None},
}
BANKS = (("NICENPKA", "NIC Asia Bank"), ("GLBBNPKA", "Global IME Bank"), ("esewa", "eSewa via Fonepay"))
DEFAULT_INITIATOR = "9841000000"

REQUEST_FIELDS = ("PID", "MD", "PRN", "AMT", "CRN", "DT", "R1", "R2", "RU")          # request DV order (3.4)
RESPONSE_FIELDS = ("PRN", "PID", "PS", "RC", "UID", "BC", "INI", "P_AMT", "R_AMT")  # response DV order (3.4)
LEGACY_FIELDS = ("PID", "AMT", "PRN", "BID", "UID")                                # legacy DV order (3.4)
LENGTH_LIMITS = {"PID": (3, 20), "MD": (1, 3), "PRN": (3, 25), "AMT": (1, 18), "CRN": (3, 3),
                 "DT": (10, 10), "R1": (1, 160), "R2": (1, 50), "RU": (1, 150)}  # 3.2

RC_SUCCESS = "successful"
RC_FAILED = "failed"   # 3.3: spec lists "failed, cancel"; exact strings UNCONFIRMED
RC_CANCEL = "cancel"
STATUSES = ("pending", "success", "failed")  # txnVerification paymentStatus words (3.5 a, 3.8)
RULE_ENDPOINTS = ("status",)
ACTIONS = ("pay", "cancel", "fail", "expire")
API_ERROR_STATUS = 406  # merchant-API rejections; 406 as in the Dynamic-QR API (3.6), UNCONFIRMED here
ERROR_PAGE_STATUS = 400  # "Invalid Request" page; real status and text UNCONFIRMED (3.8)


# --------------------------------------------------------------------------
# DV hashes (3.4)


def hmac_sha512_hex(secret_key, message):
    """Lower-case hex HMAC-SHA512 (3.4)."""
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha512).hexdigest()


def dv(secret_key, values, order):
    """DV over the raw values of the named fields joined by ',' (3.4)."""
    return hmac_sha512_hex(secret_key, ",".join(str(values[name]) for name in order))


def response_dv(secret_key, values):
    """Response DV, upper-case hex as delivered (3.3)."""
    return dv(secret_key, values, RESPONSE_FIELDS).upper()


def dv_matches(expected_hex, received):
    return hmac.compare_digest(expected_hex.lower(), (received or "").lower())


def txn_verification_auth(secret_key, username, password, body_text):
    """The 'auth' header of txnVerification (3.5 a, F15)."""
    message = ",".join((username, password, "POST", TXN_VERIFICATION_SIGNED_CONTENT_TYPE,
                        TXN_VERIFICATION_SIGNED_PATH, body_text))
    return hmac_sha512_hex(secret_key, message)


def basic_credentials(header):
    """(user, password) from 'Basic base64(user:password)', or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def double_text(amount_text):
    """Amount 'formatted like a double': 200 -> 200.0, 100.5 -> 100.5 (3.3 P_AMT)."""
    whole, _, fraction = format(Decimal(amount_text).normalize(), "f").partition(".")
    return f"{whole}.{fraction or '0'}"


def same_amount(a, b):
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except InvalidOperation:
        return False


# --------------------------------------------------------------------------
# responses


def error_page(message):
    body = f'<p class="error">Invalid Request</p><p>{esc(message)}</p>'
    return common.html_response(ERROR_PAGE_STATUS, common.html_page("Fonepay", body))


def api_error(message, status=API_ERROR_STATUS):
    """Merchant-API error body; shape UNCONFIRMED (modelled on 3.6)."""
    return json_response(status, {"message": message, "success": False, "statusCode": status})


def failure_response(code):
    return api_error("Internal Server Error", code)


# --------------------------------------------------------------------------
# payment request (3.2, 3.8)


def request_problem(store, params):
    """Why a payment request is refused (None if acceptable), per 3.2 / 3.8."""
    missing = [name for name in REQUEST_FIELDS + ("DV",) if not params.get(name, "").strip()]
    if missing:
        return f"Missing parameter(s): {', '.join(missing)}"
    merchant = store.merchant(PROVIDER, params["PID"])
    if merchant is None:
        return "Invalid merchant (PID)"
    for name, (low, high) in LENGTH_LIMITS.items():
        if not low <= len(params[name]) <= high:
            return f"{name} must be {low}-{high} characters"
    if params["MD"] != "P":
        return "MD must be P"
    if params["CRN"] != "NPR":
        return "CRN must be NPR"
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", params["AMT"]) or Decimal(params["AMT"]) <= 0:
        return "AMT must be a positive amount"
    if not valid_date(params["DT"]):
        return "DT must be MM/DD/YYYY"
    if not common.is_http_url(params["RU"]):
        return "RU must be an absolute http(s) URL"
    if not dv_matches(dv(merchant["secret_key"], params, REQUEST_FIELDS), params["DV"]):
        return "Data validation failed (DV)"
    if common.find_transaction(store, PROVIDER, params["PRN"], merchant=params["PID"]):
        return "Duplicate PRN"
    return None


def valid_date(text):
    try:
        datetime.strptime(text, "%m/%d/%Y")
    except ValueError:
        return False
    return re.fullmatch(r"\d\d/\d\d/\d{4}", text) is not None


def handle_request(store, req):
    params = {**req.query(), **(req.form() if req.method == "POST" else {})}
    with store.lock:
        problem = request_problem(store, params)
        if problem:
            return error_page(problem)
        txn = {
            "id": common.new_token(),
            "merchant": params["PID"],
            "reference": params["PRN"],
            "status": "pending",
            "created_at": time.time(),
            "params": {name: params[name] for name in REQUEST_FIELDS + ("DV",)},
            "signed_message": ",".join(params[name] for name in REQUEST_FIELDS),
            "amount": params["AMT"],
            "uid": None, "bc": None, "ini": None, "p_amt": None, "rc": None,
            "history": [],
        }
        store.add_transaction(PROVIDER, txn)
    store.link_request(PROVIDER, req.record_id, txn["id"])
    return redirect(f"{req.base_url}/fonepay{PAY_PATH}?sid={txn['id']}")


# --------------------------------------------------------------------------
# outcomes (3.3, 3.8)


def new_uid():
    """Fonepay trace id: numeric (e.g. 36463, 82146)."""
    return str(10000 + int(common.random_text(6, "0123456789")) % 90000)


def require_pending(txn):
    if txn["status"] != "pending":
        raise StateError(f"payment is no longer pending (status {txn['status']})")


def return_url(store, txn):
    """RU + PRN, PID, PS, RC, DV, UID, BC, INI, P_AMT, R_AMT (3.3 / 3.8 order)."""
    merchant = store.merchant(PROVIDER, txn["merchant"])
    values = {"PRN": txn["reference"], "PID": txn["merchant"], "PS": "true" if txn["rc"] == RC_SUCCESS else "false",
              "RC": txn["rc"], "UID": txn["uid"], "BC": txn["bc"], "INI": txn["ini"],
              "P_AMT": txn["p_amt"], "R_AMT": txn["amount"]}
    values["DV"] = response_dv(merchant["secret_key"], values)
    order = ("PRN", "PID", "PS", "RC", "DV", "UID", "BC", "INI", "P_AMT", "R_AMT")
    query = common.encode_params([(name, values[name]) for name in order], safe="/")
    return common.append_query(txn["params"]["RU"], query)


def finish(store, txn, rc, bank, initiator, event):
    with store.lock:
        txn = store.transaction(PROVIDER, txn["id"])
        require_pending(txn)
        txn = store.update_transaction(
            PROVIDER, txn["id"], status="success" if rc == RC_SUCCESS else "failed", rc=rc, uid=new_uid(),
            bc=bank, ini=initiator, p_amt=double_text(txn["amount"]), event=event)
    url = return_url(store, txn)
    store.update_transaction(PROVIDER, txn["id"], redirect=url)
    return url


def complete_payment(store, txn, bank="NICENPKA", initiator=DEFAULT_INITIATOR):
    return finish(store, txn, RC_SUCCESS, bank, initiator, "paid")


def cancel_payment(store, txn):
    return finish(store, txn, RC_CANCEL, "N/A", "N/A", "cancelled by customer")


def fail_payment(store, txn):
    return finish(store, txn, RC_FAILED, "N/A", "N/A", "payment failed")


def expire_payment(store, txn):
    """Abandoned: the customer never returns; verification answers failed."""
    with store.lock:
        require_pending(store.transaction(PROVIDER, txn["id"]))
        store.update_transaction(PROVIDER, txn["id"], status="failed", event="abandoned (control)")
    return None


ACTION_HANDLERS = {"pay": complete_payment, "cancel": cancel_payment, "fail": fail_payment,
                   "expire": expire_payment}


def control_action(store, txn, action):
    return ACTION_HANDLERS[action](store, txn)


def control_set_status(store, txn, status):
    changes = {"status": status, "event": f"status set to {status} by control"}
    if status == "success" and not txn.get("uid"):
        changes["uid"] = new_uid()
    return store.update_transaction(PROVIDER, txn["id"], **changes)


def find_for_control(store, reference, merchant=None):
    return common.find_transaction(store, PROVIDER, reference, merchant)


def merchant_from_control(body):
    """{merchant_code, secret_key, api_username?, api_password?, name?} -> (key, record)."""
    code, secret = body.get("merchant_code"), body.get("secret_key")
    if not isinstance(code, str) or not code or not isinstance(secret, str) or not secret:
        raise ValueError("fonepay merchants need merchant_code and secret_key")
    return code, {"merchant_code": code, "secret_key": secret, "name": str(body.get("name") or code),
                  "api_username": body.get("api_username"), "api_password": body.get("api_password")}


# --------------------------------------------------------------------------
# payment page


def pay_page(txn, merchant, error=""):
    params = txn["params"]
    details = common.detail_table([
        ("Merchant", f"{merchant['name']} ({merchant['merchant_code']})"),
        ("Amount", f"NPR {params['AMT']}"),
        ("Reference (PRN)", params["PRN"]),
        ("Description", params["R1"]),
    ])
    action = f"/fonepay{PAY_PATH}"
    pay = common.post_form(action, {"sid": txn["id"], "action": "pay"}, "Pay",
                           [("Mobile number", "mobile", DEFAULT_INITIATOR, "text")],
                           common.select_input("Bank", "bank", BANKS, BANKS[0][0]))
    cancel = common.post_form(action, {"sid": txn["id"], "action": "cancel"}, "Cancel")
    error_html = f'<p class="error">{esc(error)}</p>' if error else ""
    return common.html_page("Fonepay — pay", details + error_html + pay + cancel)


def handle_pay_page(store, req):
    fields = req.form() if req.method == "POST" else req.query()
    txn = store.transaction(PROVIDER, fields.get("sid", ""))
    if txn is None:
        return common.message_page(404, "Fonepay", "Unknown payment session.")
    store.link_request(PROVIDER, req.record_id, txn["id"])
    merchant = store.merchant(PROVIDER, txn["merchant"])
    try:
        require_pending(txn)
        if req.method != "POST":
            return common.html_response(200, pay_page(txn, merchant))
        action = fields.get("action")
        if action == "cancel":
            return redirect(cancel_payment(store, txn))
        if action != "pay":
            return common.message_page(400, "Fonepay", "Unknown action.")
        bank, mobile = fields.get("bank", ""), fields.get("mobile", "").strip()
        if bank not in dict(BANKS) or not re.fullmatch(r"9[0-9]{9}", mobile):
            return common.html_response(200, pay_page(txn, merchant, "Choose a bank and enter a 10-digit mobile."))
        return redirect(complete_payment(store, txn, bank, mobile))
    except StateError as exc:
        return common.message_page(410, "Fonepay", str(exc))


# --------------------------------------------------------------------------
# txnVerification (3.5 a, 3.8)


def verification_auth_problem(store, req, body_text, body):
    """(merchant, None) or (None, error response): Basic credentials and the auth HMAC."""
    merchant = store.merchant(PROVIDER, str(body.get("merchantCode", "")))
    if merchant is None:
        return None, api_error("Invalid Merchant Code")
    credentials = basic_credentials(req.header("Authorization"))
    expected = (merchant.get("api_username"), merchant.get("api_password"))
    if credentials is None or None in expected or credentials != expected:
        return None, api_error("Invalid username")
    auth = txn_verification_auth(merchant["secret_key"], credentials[0], credentials[1], body_text)
    if not dv_matches(auth, req.header("auth")):
        return None, api_error("Data Validation Failed")
    return merchant, None


def handle_txn_verification(store, req):
    if req.method != "POST":
        return api_error("Method not allowed", 405)
    body_text = req.body_text()
    try:
        body = json.loads(body_text)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("prn", "merchantCode", "amount")):
        return api_error("Data Validation Failed")
    merchant, error = verification_auth_problem(store, req, body_text, body)
    if error:
        return error
    failure, override = common.apply_rule(store, PROVIDER, "status", failure_response)
    if failure:
        return failure
    txn = common.find_transaction(store, PROVIDER, body["prn"], merchant=merchant["merchant_code"])
    if txn:
        store.link_request(PROVIDER, req.record_id, txn["id"])
    return json_response(200, verification_body(txn, body, override))


def verification_body(txn, body, override):
    """{fonepayTraceId, merchantCode, paymentStatus, prn} (3.5 a, shape UNCONFIRMED).

    Unknown PRN or an amount matching neither the requested AMT nor P_AMT
    answers 'failed' with a null trace id (the sandbox's choice; undocumented).
    """
    known = txn is not None and (same_amount(body["amount"], txn["amount"])
                                 or (txn["p_amt"] and same_amount(body["amount"], txn["p_amt"])))
    status = override or (txn["status"] if known else "failed")
    trace_id = int(txn["uid"]) if known and txn.get("uid") else None
    if trace_id is None and status == "success":
        trace_id = int(new_uid())
    return {"fonepayTraceId": trace_id, "merchantCode": body["merchantCode"],
            "paymentStatus": status, "prn": body["prn"]}


# --------------------------------------------------------------------------
# legacy verificationMerchant (3.5 b)


def legacy_xml(fields):
    inner = "".join(f"<{name}>{xml_escape(str(value))}</{name}>" for name, value in fields)
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><response>{inner}</response>'


def handle_legacy_verification(store, req):
    """XML answer of 3.5 b. statusCode/message values are the sandbox's own (UNCONFIRMED)."""
    query = req.query()
    failure, override = common.apply_rule(store, PROVIDER, "status", failure_response)
    if failure:
        return failure
    merchant = store.merchant(PROVIDER, query.get("PID", ""))
    values = {name: query.get(name, "") for name in LEGACY_FIELDS}
    txn = common.find_transaction(store, PROVIDER, values["PRN"], merchant=values["PID"])
    ok = (merchant is not None and dv_matches(dv(merchant["secret_key"], values, LEGACY_FIELDS), query.get("DV"))
          and txn is not None and same_amount(values["AMT"], txn["amount"]) and values["UID"] == (txn["uid"] or ""))
    if txn:
        store.link_request(PROVIDER, req.record_id, txn["id"])
    status = override or (txn["status"] if ok else "failed")
    success = status == "success"
    fields = [("amount", values["AMT"]), ("bankCode", (txn or {}).get("bc") or "N/A"),
              ("initiator", (txn or {}).get("ini") or "N/A"),
              ("message", "Transaction successful" if success else "Transaction failed"),
              ("response_code", RC_SUCCESS if success else RC_FAILED),
              ("statusCode", "0" if success else "1"), ("success", "true" if success else "false"),
              ("txnAmount", (txn or {}).get("p_amt") or values["AMT"]), ("uniqueId", values["UID"])]
    return common.text_response(200, legacy_xml(fields), "application/xml")


def handle(store, req, subpath):
    if subpath == REQUEST_PATH:
        return handle_request(store, req)
    if subpath == LEGACY_VERIFY_PATH:
        return handle_legacy_verification(store, req)
    if subpath == TXN_VERIFICATION_PATH:
        return handle_txn_verification(store, req)
    if subpath == PAY_PATH:
        return handle_pay_page(store, req)
    return None


PREFIXES = {"/fonepay": handle, "/fonepay-merchant": handle}
