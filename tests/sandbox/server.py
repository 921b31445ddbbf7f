"""Payment-provider sandbox: eSewa, Khalti and Fonepay simulators on one port.

    python3 tests/sandbox/server.py --host 127.0.0.1 --port PORT [--state-file PATH] [--public-url URL]

Each provider lives under a path prefix standing for its host (see the
provider modules and docs/sandbox.md); /_control/ is the JSON test interface
(loopback clients only). Behaviour follows /work/shared/providers/payments.md.
"""

import argparse
import ipaddress
import signal
import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import common
import esewa
import fonepay
import khalti
from common import json_response, StateError

PROVIDERS = {module.PROVIDER: module for module in (esewa, khalti, fonepay)}
ROUTES = [(prefix, module, handler) for module in PROVIDERS.values() for prefix, handler in module.PREFIXES.items()]
CONTROL_PREFIX = "/_control"
MAX_DELAY_MS = 600_000
CONFIG_CHECKS = {
    "esewa_data_query_quirk": lambda v: isinstance(v, bool),
    "esewa_thousands_comma": lambda v: isinstance(v, bool),
    "esewa_session_timeout_seconds": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "khalti_expires_in": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "khalti_space_encoding": lambda v: v in ("%20", "+"),
}


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------
# control interface


def provider_module(data):
    module = PROVIDERS.get(data.get("provider"))
    if module is None:
        raise ControlError(400, f"provider must be one of {', '.join(PROVIDERS)}")
    return module


def is_int(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def rule_from(module, body):
    """Validate a /_control/next body into a stored rule."""
    rule = {"endpoint": body.get("endpoint", "status"), "status": body.get("status"), "fail": body.get("fail"),
            "delay_ms": body.get("delay_ms", 0), "disconnect": bool(body.get("disconnect", False)),
            "count": body.get("count", 1)}
    if rule["endpoint"] not in module.RULE_ENDPOINTS:
        raise ControlError(400, f"endpoint must be one of {', '.join(module.RULE_ENDPOINTS)}")
    if rule["status"] is not None and (rule["endpoint"] != "status" or rule["status"] not in module.STATUSES):
        raise ControlError(400, f"status must be one of {', '.join(module.STATUSES)} (status endpoint only)")
    if rule["fail"] is not None and not is_int(rule["fail"], 400, 599):
        raise ControlError(400, "fail must be an HTTP status code 400-599")
    if not is_int(rule["delay_ms"], 0, MAX_DELAY_MS) or not is_int(rule["count"], 1, 1_000_000):
        raise ControlError(400, "delay_ms must be 0-600000 and count >= 1")
    if not (rule["status"] or rule["fail"] or rule["delay_ms"] or rule["disconnect"]):
        raise ControlError(400, "give at least one of status, fail, delay_ms, disconnect")
    return rule


def control_transaction(store, module, body):
    reference = body.get("reference")
    if not isinstance(reference, str) or not reference:
        raise ControlError(400, "reference is required")
    txn = module.find_for_control(store, reference, body.get("merchant"))
    if txn is None:
        raise ControlError(404, f"no {module.PROVIDER} transaction with reference {reference}")
    return txn


def control_health(store, query, body):
    return {"status": "ok", "providers": sorted(PROVIDERS),
            "prefixes": {module.PROVIDER: sorted(module.PREFIXES) for module in PROVIDERS.values()}}


def control_reset(store, query, body):
    store.reset()
    return {"reset": True}


def control_list_merchants(store, query, body):
    modules = [provider_module(query)] if query.get("provider") else PROVIDERS.values()
    return {"merchants": {module.PROVIDER: store.merchants(module.PROVIDER) for module in modules}}


def control_add_merchant(store, query, body):
    module = provider_module(body)
    try:
        key, record = module.merchant_from_control(body)
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None
    store.put_merchant(module.PROVIDER, key, record)
    return {"provider": module.PROVIDER, "merchant": record}


def control_list_rules(store, query, body):
    return {"rules": {name: store.rules(name) for name in PROVIDERS}}


def control_push_rule(store, query, body):
    module = provider_module(body)
    rule = rule_from(module, body)
    store.push_rule(module.PROVIDER, rule)
    return {"provider": module.PROVIDER, "rule": rule}


def control_pay(store, query, body):
    module = provider_module(body)
    if body.get("action") not in module.ACTIONS:
        raise ControlError(400, f"action must be one of {', '.join(module.ACTIONS)}")
    txn = control_transaction(store, module, body)
    try:
        url = module.control_action(store, txn, body["action"])
    except StateError as exc:
        raise ControlError(409, str(exc)) from None
    txn = store.transaction(module.PROVIDER, txn["id"])
    return {"redirect": url, "status": txn["status"], "reference": txn["reference"], "transaction": txn}


def control_set_status(store, query, body):
    module = provider_module(body)
    if body.get("status") not in module.STATUSES:
        raise ControlError(400, f"status must be one of {', '.join(module.STATUSES)}")
    txn = control_transaction(store, module, body)
    txn = module.control_set_status(store, txn, body["status"])
    return {"status": txn["status"], "reference": txn["reference"], "transaction": txn}


def control_transactions(store, query, body):
    """Every recorded transaction with the raw requests tied to it, plus the untied requests."""
    modules = [provider_module(query)] if query.get("provider") else PROVIDERS.values()
    transactions, unmatched = [], []
    for module in modules:
        requests = store.requests(module.PROVIDER)
        for txn in store.transactions(module.PROVIDER):
            if query.get("reference") and query["reference"] != txn["reference"]:
                continue
            tied = [r for r in requests if r["transaction"] == txn["id"]]
            transactions.append({"provider": module.PROVIDER, **txn, "requests": tied})
        unmatched += [{"provider": module.PROVIDER, **r} for r in requests if r["transaction"] is None]
    return {"transactions": transactions, "unmatched_requests": unmatched}


def control_get_config(store, query, body):
    return {"config": store.all_config()}


def control_set_config(store, query, body):
    for name, value in body.items():
        check = CONFIG_CHECKS.get(name)
        if check is None or not check(value):
            raise ControlError(400, f"bad config entry {name!r}; known: {', '.join(CONFIG_CHECKS)}")
    store.set_config(body)
    return {"config": store.all_config()}


CONTROL_ROUTES = {
    ("GET", "/health"): control_health,
    ("POST", "/reset"): control_reset,
    ("GET", "/merchants"): control_list_merchants,
    ("POST", "/merchants"): control_add_merchant,
    ("GET", "/next"): control_list_rules,
    ("POST", "/next"): control_push_rule,
    ("POST", "/pay"): control_pay,
    ("POST", "/set_status"): control_set_status,
    ("GET", "/transactions"): control_transactions,
    ("GET", "/config"): control_get_config,
    ("POST", "/config"): control_set_config,
}


def is_loopback(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)


def handle_control(store, req):
    if not is_loopback(req.client_ip):
        return json_response(403, {"error": "control interface is for loopback clients only"})
    action = CONTROL_ROUTES.get((req.method, req.path[len(CONTROL_PREFIX):].rstrip("/") or "/"))
    if action is None:
        return json_response(404, {"error": "unknown control endpoint",
                                   "endpoints": [f"{m} {CONTROL_PREFIX}{p}" for m, p in CONTROL_ROUTES]})
    try:
        body = req.json() if req.method == "POST" and req.body.strip() else {}
    except ValueError:
        return json_response(400, {"error": "body is not valid JSON"})
    try:
        if not isinstance(body, dict):
            raise ControlError(400, "body must be a JSON object")
        return json_response(200, action(store, req.query(), body))
    except ControlError as exc:
        return json_response(exc.status, {"error": str(exc)})


# --------------------------------------------------------------------------
# routing and HTTP


def route(store, req):
    if req.path == CONTROL_PREFIX or req.path.startswith(CONTROL_PREFIX + "/"):
        return handle_control(store, req)
    for prefix, module, handler in ROUTES:
        if req.path == prefix or req.path.startswith(prefix + "/"):
            req.record_id = store.record_request(module.PROVIDER, req)
            response = handler(store, req, req.path[len(prefix):])
            return response or json_response(404, {"detail": "Not found."})
    return json_response(404, {"error": "no such provider path", "prefixes": [p for p, _, _ in ROUTES]})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PaymentSandbox/1.0"
    # Headers and body leave in one send (a buffered writer, flushed after
    # each request by http.server): as two sends, the body waited for the
    # client's delayed ACK, 40 ms per request on a kept-alive connection,
    # which no real gateway makes its clients wait.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def dispatch(self):
        started = time.monotonic()
        try:
            req = self.read_request()
            response = route(self.server.store, req)
        except Exception:  # a sandbox bug must not kill the connection silently
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"error": "sandbox internal error"})
        self.write_response(response)
        status = "disconnect" if response.disconnect else response.status
        elapsed = (time.monotonic() - started) * 1000
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} {self.command} "
                         f"{self.path[:200]} -> {status} ({elapsed:.0f} ms)\n")

    def read_request(self):
        path, _, query = self.path.partition("?")
        base = self.server.public_url or f"http://{self.headers.get('Host') or self.server.default_host}"
        return common.Request(self.command, path, query, list(self.headers.items()), self.read_body(),
                              self.client_address[0], base.rstrip("/"))

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def read_chunked(self):
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def write_response(self, response):
        if response.disconnect:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code="-", size="-"):
        pass  # dispatch() logs one line per request

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} {fmt % args}\n")


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, store, public_url=None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.store = store
        self.public_url = public_url
        host, port = self.server_address[:2]
        self.default_host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def builtin_merchants():
    return {name: module.TEST_MERCHANTS for name, module in PROVIDERS.items()}


def make_server(host, port, state_file=None, public_url=None):
    return SandboxServer((host, port), common.Store(builtin_merchants(), state_file), public_url)


def main(argv=None):
    parser = argparse.ArgumentParser(description="eSewa / Khalti / Fonepay sandbox (see docs/sandbox.md)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--state-file", help="persist state as JSON here after every change")
    parser.add_argument("--public-url", help="base URL for links the sandbox hands out (default: the request's Host)")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.state_file, args.public_url)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write(f"payment sandbox listening on http://{server.default_host}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
