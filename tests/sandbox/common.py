"""Shared pieces of the payment sandbox: request/response types, the state
store, control rules, HTML helpers and small formatting utilities.

Provider behaviour lives in esewa.py, khalti.py and fonepay.py; this module
knows nothing about any one provider.
"""

import copy
import html
import json
import os
import secrets
import string
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

NEPAL_TZ = timezone(timedelta(hours=5, minutes=45))  # payments.md: all gateway times are UTC+05:45
ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
REQUEST_LOG_LIMIT = 5000  # per provider; the oldest entries are dropped first

DEFAULT_CONFIG = {
    # eSewa (1.3 / pitfall 7): append "?data=" even when success_url already has "?".
    "esewa_data_query_quirk": False,
    # eSewa (1.3 / pitfall 5): send total_amount as "6,600.0" (signature over "6600.0").
    "esewa_thousands_comma": False,
    # eSewa (1.8): a PENDING session left alone this long answers NOT_FOUND. Real value UNCONFIRMED.
    "esewa_session_timeout_seconds": 1800,
    # Khalti (2.3 / 2.8): expires_in of new payment links (sample shows 1800).
    "khalti_expires_in": 1800,
    # Khalti (2.4): "User canceled" arrives as User%20canceled or User+canceled.
    "khalti_space_encoding": "%20",
}


# --------------------------------------------------------------------------
# HTTP request / response


@dataclass
class Request:
    method: str
    path: str                 # full path, without the query string
    query_string: str         # raw, undecoded
    headers: list             # [(name, value), ...] as received
    body: bytes
    client_ip: str
    base_url: str             # "http://host:port" the client used to reach us
    record_id: int = None     # id of this request in the provider's request log

    def header(self, name, default=None):
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    def query(self):
        """Query parameters, first value of each, '+' decoded as space."""
        return first_values(self.query_string)

    def form(self):
        """application/x-www-form-urlencoded body, first value of each."""
        return first_values(self.body.decode("utf-8", "replace"))

    def json(self):
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def body_text(self):
        return self.body.decode("utf-8", "replace")


def first_values(encoded):
    parsed = urllib.parse.parse_qs(encoded, keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list = field(default_factory=list)
    disconnect: bool = False  # close the connection without answering


def json_response(status, obj, headers=()):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(status, body, "application/json", list(headers))


def html_response(status, page_html):
    return Response(status, page_html.encode(), "text/html; charset=utf-8")


def text_response(status, text, content_type="text/plain; charset=utf-8"):
    return Response(status, text.encode(), content_type)


def redirect(location, status=302):
    return Response(status, b"", "text/plain; charset=utf-8", [("Location", location)])


def disconnect():
    return Response(0, disconnect=True)


def append_query(url, encoded_params):
    """Join encoded params to url with '&' if it already has a query, else '?'."""
    separator = "&" if "?" in url else "?"
    return url + separator + encoded_params


def encode_params(pairs, space="%20", safe=""):
    """URL-encode (name, value) pairs in order; spaces as '%20' or '+'."""
    out = []
    for name, value in pairs:
        quoted = urllib.parse.quote(str(value), safe=safe)
        if space == "+":
            quoted = quoted.replace("%20", "+")
        out.append(f"{urllib.parse.quote(name, safe='')}={quoted}")
    return "&".join(out)


def is_http_url(value):
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


# --------------------------------------------------------------------------
# small helpers


def random_text(length, alphabet=ALNUM):
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_token():
    return secrets.token_urlsafe(12)


def nepal_iso(epoch):
    """ISO-8601 with microseconds and the +05:45 offset, e.g. 2023-05-25T16:26:16.471649+05:45."""
    return datetime.fromtimestamp(epoch, NEPAL_TZ).isoformat(timespec="microseconds")


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


# --------------------------------------------------------------------------
# HTML pages (the simulated provider pages; plain, no scripts)

PAGE_STYLE = (
    "body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}td{padding:.25em .75em .25em 0}"
    "form{display:inline-block;margin:.5em .5em 0 0}label{display:block;margin:.4em 0}"
    "button{font-size:1.1em;padding:.4em 1.2em}.error{color:#b00}.note{color:#666;font-size:.9em}"
)


def html_page(title, body):
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{PAGE_STYLE}</style></head>"
        f"<body><h1>{esc(title)}</h1>\n{body}\n"
        "<p class=\"note\">Payment sandbox — simulated provider page, no real money moves.</p>"
        "</body></html>\n"
    )


def detail_table(rows):
    cells = "".join(f"<tr><td>{esc(k)}</td><td><b>{esc(v)}</b></td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def post_form(action, hidden, button, inputs=(), extra_html=""):
    """A form POSTing hidden fields plus visible inputs [(label, name, value, type)]."""
    parts = [f'<form method="post" action="{esc(action)}">']
    parts += [f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in hidden.items()]
    for label, name, value, kind in inputs:
        parts.append(f'<label>{esc(label)} <input type="{kind}" name="{esc(name)}" value="{esc(value)}"></label>')
    parts.append(f'{extra_html}<button type="submit">{esc(button)}</button></form>')
    return "".join(parts)


def select_input(label, name, options, selected):
    opts = "".join(
        f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(text)}</option>'
        for v, text in options)
    return f'<label>{esc(label)} <select name="{esc(name)}">{opts}</select></label>'


def message_page(status, title, message):
    return html_response(status, html_page(title, f"<p class=\"error\">{esc(message)}</p>"))


# --------------------------------------------------------------------------
# state


class StateError(Exception):
    """A control or page action that does not fit the transaction's state."""


class Store:
    """All sandbox state, guarded by one re-entrant lock.

    Layout (JSON-serialisable, persisted to state_file after every change):
      merchants[provider][key] -> record
      transactions[provider][id] -> dict (insertion order = creation order)
      requests[provider] -> [raw request records]
      rules[provider] -> [pending /_control/next rules]
      config -> DEFAULT_CONFIG overrides
    """

    def __init__(self, builtin_merchants, state_file=None):
        self.lock = threading.RLock()
        self.builtin_merchants = builtin_merchants  # {provider: {key: record}}
        self.state_file = state_file
        self.state = self._fresh_state()
        if state_file and os.path.exists(state_file):
            self._load()

    # -- lifecycle

    def _fresh_state(self):
        providers = list(self.builtin_merchants)
        return {
            "merchants": {p: copy.deepcopy(self.builtin_merchants[p]) for p in providers},
            "transactions": {p: {} for p in providers},
            "requests": {p: [] for p in providers},
            "rules": {p: [] for p in providers},
            "config": dict(DEFAULT_CONFIG),
            "next_request_id": 1,
        }

    def _load(self):
        """Restore a saved state; built-in merchants are always present."""
        with open(self.state_file, encoding="utf-8") as f:
            loaded = json.load(f)
        state = self._fresh_state()
        for section in ("merchants", "transactions", "requests", "rules"):
            for provider in state[section]:
                saved = loaded.get(section, {}).get(provider)
                if saved is None:
                    continue
                if section == "merchants":
                    state[section][provider].update(saved)
                else:
                    state[section][provider] = saved
        state["config"].update(loaded.get("config", {}))
        state["next_request_id"] = loaded.get("next_request_id", 1)
        self.state = state

    def save(self):
        if not self.state_file:
            return
        with self.lock:
            tmp = f"{self.state_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.state, f, indent=1)
            os.replace(tmp, self.state_file)

    def reset(self):
        with self.lock:
            self.state = self._fresh_state()
            self.save()

    # -- merchants

    def merchant(self, provider, key):
        with self.lock:
            record = self.state["merchants"][provider].get(key)
            return dict(record) if record else None

    def merchants(self, provider):
        with self.lock:
            return [dict(r) for r in self.state["merchants"][provider].values()]

    def put_merchant(self, provider, key, record):
        with self.lock:
            self.state["merchants"][provider][key] = dict(record)
            self.save()

    # -- transactions

    def add_transaction(self, provider, txn):
        with self.lock:
            self.state["transactions"][provider][txn["id"]] = copy.deepcopy(txn)
            self.save()

    def transaction(self, provider, txn_id):
        with self.lock:
            txn = self.state["transactions"][provider].get(txn_id)
            return copy.deepcopy(txn) if txn else None

    def transactions(self, provider):
        with self.lock:
            return copy.deepcopy(list(self.state["transactions"][provider].values()))

    def find_transactions(self, provider, predicate):
        """Copies of the transactions predicate (a pure read) accepts; only
        those are copied, so a lookup stays cheap with thousands stored."""
        with self.lock:
            return [copy.deepcopy(t) for t in self.state["transactions"][provider].values() if predicate(t)]

    def update_transaction(self, provider, txn_id, **changes):
        """Apply changes; a key 'event' is appended to the transaction's history."""
        with self.lock:
            txn = self.state["transactions"][provider][txn_id]
            event = changes.pop("event", None)
            txn.update(changes)
            if event:
                txn.setdefault("history", []).append({"at": nepal_iso(time.time()), "event": event})
            self.save()
            return copy.deepcopy(txn)

    # -- raw request log

    def record_request(self, provider, req):
        with self.lock:
            request_id = self.state["next_request_id"]
            self.state["next_request_id"] += 1
            log = self.state["requests"][provider]
            log.append({
                "id": request_id,
                "at": nepal_iso(time.time()),
                "method": req.method,
                "path": req.path,
                "query": req.query_string,
                "headers": [list(h) for h in req.headers],
                "body": req.body_text(),
                "transaction": None,
            })
            del log[:-REQUEST_LOG_LIMIT]
            self.save()
            return request_id

    def link_request(self, provider, request_id, txn_id):
        if request_id is None:
            return
        with self.lock:
            for entry in reversed(self.state["requests"][provider]):
                if entry["id"] == request_id:
                    entry["transaction"] = txn_id
                    self.save()
                    return

    def requests(self, provider):
        with self.lock:
            return copy.deepcopy(self.state["requests"][provider])

    # -- /_control/next rules

    def push_rule(self, provider, rule):
        with self.lock:
            self.state["rules"][provider].append(dict(rule))
            self.save()

    def rules(self, provider):
        with self.lock:
            return copy.deepcopy(self.state["rules"][provider])

    def take_rule(self, provider, endpoint):
        """Consume one use of the oldest rule for this endpoint; None if there is none."""
        with self.lock:
            queue = self.state["rules"][provider]
            for rule in queue:
                if rule["endpoint"] == endpoint:
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        queue.remove(rule)
                    self.save()
                    return dict(rule)
            return None

    # -- config

    def config(self, name):
        with self.lock:
            return self.state["config"].get(name, DEFAULT_CONFIG[name])

    def all_config(self):
        with self.lock:
            return dict(self.state["config"])

    def set_config(self, changes):
        with self.lock:
            self.state["config"].update(changes)
            self.save()


def apply_rule(store, provider, endpoint, failure_body):
    """Take the next /_control/next rule for an endpoint and apply its delay.

    Returns (response_or_None, status_override_or_None): a response when the
    rule says to fail or disconnect, else the status word to report (if any).
    failure_body(code) builds the provider's error response for that code.
    """
    rule = store.take_rule(provider, endpoint)
    if rule is None:
        return None, None
    if rule.get("delay_ms"):
        time.sleep(rule["delay_ms"] / 1000.0)
    if rule.get("disconnect"):
        return disconnect(), None
    if rule.get("fail"):
        return failure_body(rule["fail"]), None
    return None, rule.get("status")


def find_transaction(store, provider, reference, merchant=None, alias_fields=()):
    """Most recent transaction whose reference (or an alias field) matches."""
    def matches(txn):
        if merchant is not None and txn.get("merchant") != merchant:
            return False
        return txn.get("reference") == reference or any(txn.get(f) == reference for f in alias_fields)
    found = store.find_transactions(provider, matches)
    return found[-1] if found else None
