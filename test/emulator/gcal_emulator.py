#!/usr/bin/python3
"""Stateful emulator of Google's OAuth token endpoint and the Calendar API v3 calls gcalsync
uses, plus a JSON control interface under /_emulator/ (see README.md in this directory).

    python3 test/emulator/gcal_emulator.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
        [--data demo|empty|generate:USERS,CALENDARS,EVENTS[,SEED]|FILE.json]
        [--token-lifetime SECONDS] [--channel-lifetime SECONDS]
        [--client-id ID --client-secret SECRET] [--tls-cert FILE --tls-key FILE] [--workers N]

Token endpoint: http://HOST:PORT/token; API base: http://HOST:PORT/calendar/v3 (https://
with --tls-cert/--tls-key: the same server, every connection TLS).
Python 3 standard library only; all state lives in the process (with --workers N, in
each of N processes serving the same port, which apply every change alike).
"""

import argparse
import base64
import contextlib
import ctypes
import email.utils
import http.client
import ipaddress
import json
import multiprocessing
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gcal_datasets  # noqa: E402
import gcal_errors as E  # noqa: E402
from gcal_errors import ApiError, dumps  # noqa: E402
from gcal_log import FaultTable, RequestLog  # noqa: E402
from gcal_push import PushDeliverer  # noqa: E402
from gcal_store import DEFAULT_SETTINGS, ByteCache, ControlError, Store  # noqa: E402

CONTROL_PREFIX = "/_emulator"
API_PREFIX = ("", "calendar", "v3")
LOGGED_HEADERS = ("user-agent", "accept", "accept-encoding", "content-type", "if-none-match", "if-match",
                  "x-goog-api-client", "connection")
MALFORMED_BODY = b'{"kind":"calendar#events","items":[{"id":"broken","summary":"unterminated'


# --- request identification ----------------------------------------------------------------

def identify(method, segs):
    """Which Google call a path is: (api name, expected method, calendar id) or (None, …)."""
    if segs == ["", "token"]:
        return "token", "POST", None
    if tuple(segs[:3]) != API_PREFIX:
        return None, None, None
    rest = segs[3:]
    if rest == ["users", "me", "calendarList"]:
        return "calendarList.list", "GET", None
    if rest == ["users", "me", "calendarList", "watch"]:
        return "calendarList.watch", "POST", None
    if rest == ["channels", "stop"]:
        return "channels.stop", "POST", None
    if rest == ["freeBusy"]:
        return "freebusy.query", "POST", None
    if len(rest) >= 2 and rest[0] == "calendars" and rest[1]:
        if len(rest) == 2:
            return "calendars.get", "GET", rest[1]
        if rest[2:] == ["events"]:
            if method == "POST":
                return "events.insert", "POST", rest[1]
            return "events.list", "GET", rest[1]
        if len(rest) == 4 and rest[2] == "events" and rest[3] and rest[3] != "watch":
            api = {"PATCH": "events.patch", "DELETE": "events.delete"}.get(method, "events.get")
            return api, method if api != "events.get" else "GET", (rest[1], rest[3])
        if rest[2:] == ["events", "watch"]:
            return "events.watch", "POST", rest[1]
        if len(rest) == 5 and rest[2] == "events" and rest[3] and rest[4] == "instances":
            return "events.instances", "GET", (rest[1], rest[3])
    return None, None, None


def flatten_query(query):
    """Query for the log: a string per parameter, a list when it was repeated."""
    return {k: v[0] if len(v) == 1 else v for k, v in query.items()}


def basic_credentials(authorization):
    """(client_id, secret) from an HTTP Basic Authorization header (client_secret_basic)."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(authorization[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeError):
        return None
    user, _, password = raw.partition(":")
    return unquote(user), unquote(password)


# --- the application --------------------------------------------------------------------------

class Emulator:
    """Store + log + faults + push thread + HTTP server, started and stopped together.

    listen=False: no server yet (--workers: each worker process makes its own)."""

    def __init__(self, host="127.0.0.1", port=0, settings=None, tls_cert=None, tls_key=None, listen=True):
        check_loopback(host)
        self.tls = tls_context(tls_cert, tls_key)
        self.log = RequestLog()
        self.faults = FaultTable()
        self.store = Store(settings)
        self.push = PushDeliverer(self.log, lambda: float(self.store.settings["push_timeout"]))
        self.store.push = self.push
        self.gzip_cache = ByteCache(128 << 20)
        self.control = Control(self)
        self.replicas = None            # --workers: the other processes (Replicas)
        self.server = None
        if listen:
            self.server = EmulatorHTTPServer((host, port), Handler, self, self.tls)
            port = self.server.server_address[1]
        self.set_address(host, port)
        self.thread = None

    def set_address(self, host, port):
        self.host, self.port = host, port
        self.base_url = "%s://%s:%d" % ("https" if self.tls else "http",
                                        host if ":" not in host else "[%s]" % host, self.port)
        self.store.api_base = self.base_url + "/calendar/v3"

    def start(self):
        """Serve in a background thread (returns at once)."""
        self.thread = threading.Thread(target=self.server.serve_forever, name="gcal-http",
                                       kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stop serving, close the socket, stop push delivery."""
        self.server.shutdown()
        self.server.server_close()
        self.push.stop()

    def gzip(self, body, key):
        """gzip-encode a body, cached by key when the body is a cacheable page."""
        if key is not None:
            cached = self.gzip_cache.get(key)
            if cached is not None:
                return cached
        comp = zlib.compressobj(int(self.store.settings["gzip_level"]), zlib.DEFLATED, 31)
        out = comp.compress(body) + comp.flush()
        if key is not None:
            self.gzip_cache.put(key, out)
        return out


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP/1.1 server; connection threads are daemons so stop never hangs."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, app, tls=None, sock=None, internal=False):
        self.app = app
        self.tls = tls
        self.internal = internal        # --workers: the private port the other processes call
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        if sock is None:
            super().__init__(address, handler)
        else:                           # an already listening socket (--workers)
            super().__init__(address, handler, bind_and_activate=False)
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()

    def finish_request(self, request, client_address):
        """Serve one connection; with TLS, the handshake runs here, in the connection's own
        thread (a slow or failing client never holds up accept). A failed handshake (say,
        a client that does not trust the certificate) just closes the connection."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(TLS_HANDSHAKE_TIMEOUT)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()


TLS_HANDSHAKE_TIMEOUT = 30


def tls_context(cert, key):
    """Server-side TLS context of a certificate chain file and its key, or None for plain HTTP."""
    if not cert and not key:
        return None
    if not (cert and key):
        raise SystemExit("gcal_emulator: --tls-cert and --tls-key go together")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise SystemExit("gcal_emulator: cannot load --tls-cert %r / --tls-key %r: %s" % (cert, key, err))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def check_loopback(host):
    """The emulator only ever binds a loopback address."""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit("gcal_emulator: --host must be a loopback address, not %r" % host)


# --- several processes (--workers N) ------------------------------------------------------------
#
# N worker processes, forked after the data is loaded, each with a replica of the state,
# accept connections on the same port (SO_REUSEPORT: the kernel spreads connections over
# them). A change (a control-interface change, a token grant, events.insert/patch/delete)
# is made by the process that received it, under one lock for all processes, with a fixed
# time and random seed (Store.replaying), then sent to every other process's private port
# with that time and seed in REPLAY_HEADER, and answered only when all have made it: ids,
# tokens, sync-token counters and timestamps are the same everywhere, so any process can
# answer the next request. Request-log entries are numbered from one shared counter and
# GET /_emulator/log merges all processes' logs. Faults and watch channels are refused
# (each process would apply them on its own).

REPLAY_HEADER = "X-Emulator-Replay"
REPLICATED_APIS = ("token", "events.insert", "events.patch", "events.delete")


def parse_replay(value):
    """(now, seed) of a REPLAY_HEADER value."""
    now, seed = value.split()
    return float(now), int(seed)


class Replicas:
    """The other worker processes, seen from one of them."""

    def __init__(self, index, host, ports, lock):
        self.index, self.host, self.lock, self.workers = index, host, lock, len(ports)
        self.peers = [p for i, p in enumerate(ports) if i != index]
        self.conns = threading.local()   # keep-alive connections to the peers, per thread

    def _request(self, port, method, path, body, headers):
        conns = self.conns.__dict__
        for attempt in (1, 2):
            conn = conns.get(port)
            if conn is None:
                conn = conns[port] = http.client.HTTPConnection(self.host, port, timeout=300)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                del conns[port]
                if attempt == 2:
                    raise

    def forward(self, method, path, body, headers, now, seed, status):
        """Have every other process make the same change (same time, same seed)."""
        headers = dict(headers, **{REPLAY_HEADER: "%r %d" % (now, seed)})
        for port in self.peers:
            other, answer = self._request(port, method, path, body or None, headers)
            if other != status:
                print("gcal_emulator: worker %d: %s %s answered %s here and %s on port %d (%r): the "
                      "replicas may differ" % (self.index, method, path, status, other, port, answer[:200]),
                      file=sys.stderr, flush=True)

    def ask(self, method, path):
        """The same request to every other process (private port: answered from its own state)."""
        return [self._request(port, method, path, None, {}) for port in self.peers]


def reuseport_socket(family, host, port, listen):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(EmulatorHTTPServer.request_queue_size)
    return sock


def serve_workers(args, doc):
    """--workers N: load the data once, fork N serving processes, wait for a signal."""
    n = args.workers
    check_loopback(args.host)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    reserve = reuseport_socket(family, args.host, args.port, listen=False)   # holds the port meanwhile
    port = reserve.getsockname()[1]
    private = []
    for _ in range(n):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((args.host, 0))
        sock.listen(EmulatorHTTPServer.request_queue_size)
        private.append(sock)
    mp = multiprocessing.get_context("fork")
    lock, counter = mp.Lock(), mp.Value("q", 0)
    app = Emulator(args.host, port, settings_from_args(args), args.tls_cert, args.tls_key, listen=False)
    app.store.portable_pages = True
    app.replicas_lock = lock
    app.store.load(doc)
    app.log.shared = counter
    app.push.stop()                     # no thread survives fork: each worker starts its own
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ready_r, ready_w = os.pipe()
    children = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(ready_r)
                reserve.close()
                code = worker_main(app, i, family, port, private, ready_w)
            except BaseException:       # noqa: B036 - whatever it was, this process ends here
                traceback.print_exc()
            finally:
                os._exit(code)
        children.append(pid)
    os.close(ready_w)
    for sock in private:
        sock.close()
    ready = 0
    while ready < n and not stop.is_set():
        chunk = os.read(ready_r, n - ready)
        if not chunk:
            break
        ready += len(chunk)
    os.close(ready_r)
    reserve.close()
    code = 0
    if ready == n:
        if args.port_file:
            write_port_file(args.port_file, port)
        print("gcal_emulator: %d worker processes" % n, file=sys.stderr, flush=True)
        print("gcal_emulator listening on %s" % app.base_url, flush=True)
        while not stop.wait(0.5):
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                print("gcal_emulator: worker process %d ended (status %d); stopping" % (pid, status),
                      file=sys.stderr, flush=True)
                children.remove(pid)
                code = 1
                break
    else:
        print("gcal_emulator: a worker process did not start", file=sys.stderr, flush=True)
        code = 1
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for pid in children:
        while True:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.05)
    return code


def worker_main(app, index, family, port, private, ready_w):
    """One worker process: the shared port and its private one, until SIGTERM."""
    try:   # end with the parent, whatever ends it
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ports = [s.getsockname()[1] for s in private]
    for i, sock in enumerate(private):
        if i != index:
            sock.close()
    app.push = PushDeliverer(app.log, lambda: float(app.store.settings["push_timeout"]))
    app.store.push = app.push
    app.replicas = Replicas(index, app.host, ports, app.replicas_lock)
    public = EmulatorHTTPServer((app.host, port), Handler, app, app.tls,
                                sock=reuseport_socket(family, app.host, port, listen=True))
    internal = EmulatorHTTPServer((app.host, 0), Handler, app, None, sock=private[index], internal=True)
    app.server = public
    threads = [threading.Thread(target=srv.serve_forever, name="gcal-http", kwargs={"poll_interval": 0.2},
                                daemon=True) for srv in (public, internal)]
    for t in threads:
        t.start()
    os.write(ready_w, b"+")
    os.close(ready_w)
    if os.getppid() == 1:
        return 1
    while not stop.wait(1.0):
        pass
    for srv in (public, internal):
        srv.shutdown()
        srv.server_close()
    app.push.stop()
    return 0


# --- HTTP handler -------------------------------------------------------------------------------

class RequestHeaders(dict):
    """Request headers by lower-case name (the first of repeated ones), answering get, [] and
    `in` like http.client's HTTPMessage; read by Handler.parse_request without the email
    package's parser, which was the largest cost of a small request."""
    __slots__ = ()

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name):
        return dict.get(self, name.lower())

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())


class Handler(BaseHTTPRequestHandler):
    """One connection; keep-alive (HTTP/1.1) with exact Content-Length on every answer."""
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = 300
    disable_nagle_algorithm = True
    _date = (None, "")

    def log_message(self, fmt, *args):
        """Quiet: the emulator's own request log is the record."""

    def parse_request(self):
        """An ordinary HTTP/1.1 request line and its headers, read here (same limits and
        answers as BaseHTTPRequestHandler: 431 for a header line over 64 kB or more than 100
        headers); anything else goes to BaseHTTPRequestHandler.parse_request."""
        words = self.raw_requestline.split()
        if len(words) != 3 or words[2] != b"HTTP/1.1" or words[1].startswith(b"//"):
            return super().parse_request()
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.command, self.path = str(words[0], "iso-8859-1"), str(words[1], "iso-8859-1")
        self.request_version = "HTTP/1.1"
        self.close_connection = False
        headers, name, count = RequestHeaders(), None, 0
        while True:
            raw = self.rfile.readline(65537)
            if len(raw) > 65536:
                self.send_error(431, "Line too long", "header line")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            count += 1
            if count > 100:
                self.send_error(431, "Too many headers", "got more than 100 headers")
                return False
            text = str(raw, "iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t"):          # a folded continuation line
                if name is not None and dict.__contains__(headers, name):
                    dict.__setitem__(headers, name, dict.get(headers, name) + " " + text.strip())
                continue
            key, sep, value = text.partition(":")
            if sep:
                name = key.strip().lower()
                if not dict.__contains__(headers, name):
                    dict.__setitem__(headers, name, value.lstrip(" \t"))
        self.headers = headers
        if headers.get("connection", "").lower() == "close":
            self.close_connection = True
        if headers.get("expect", "").lower() == "100-continue" and not self.handle_expect_100():
            return False
        return True

    def date_time_string(self, timestamp=None):
        """The Date header, formatted once a second."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        cached = Handler._date
        if cached[0] != now:
            cached = Handler._date = (now, email.utils.formatdate(now, usegmt=True))
        return cached[1]

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    @property
    def app(self):
        return self.server.app

    def dispatch(self, method):
        """Read the body, then hand over to the control interface or the Google side."""
        raw_path, _, raw_query = self.path.partition("?")
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_bytes(400, b'{"error":"unreadable request body"}', E.JSON)
            return
        try:
            if raw_path == CONTROL_PREFIX or raw_path.startswith(CONTROL_PREFIX + "/"):
                self.handle_control(method, raw_path, raw_query, body)
            else:
                self.handle_google(method, raw_path, raw_query, body)
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception as exc:      # an emulator bug: answer visibly, never just hang up
            traceback.print_exc()
            self.close_connection = True
            self.send_bytes(500, dumps({"error": {"code": 500, "message": "gcal_emulator internal "
                                                  "error: %s: %s" % (type(exc).__name__, exc)}}), E.JSON)

    def read_body(self):
        """Request body by Content-Length or chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- responses ----

    def accepts_gzip(self):
        return "gzip" in self.headers.get("Accept-Encoding", "").lower()

    def send_bytes(self, status, body, content_type, headers=None, gzip_key=None):
        """Send a complete answer: status, headers, exact Content-Length, body."""
        if body and len(body) > 1024 and self.accepts_gzip():
            body = self.app.gzip(body, gzip_key)
            headers = dict(headers or {}, **{"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Headers and a small body leave in one write (no Nagle/delayed-ACK stall);
        # big bodies are written straight after, without another copy.
        self._headers_buffer.append(b"\r\n")
        if status != 204 and len(body) <= 65536:
            self._headers_buffer.append(body)
            self.flush_headers()
        else:
            self.flush_headers()
            if status != 204:
                self.wfile.write(body)

    def send_json(self, status, obj):
        self.send_bytes(status, dumps(obj), E.JSON)

    # ---- Google side ----

    def handle_google(self, method, raw_path, raw_query, body):
        """Token endpoint and Calendar API: log, faults, auth, then the call itself."""
        started = time.monotonic()
        query = parse_qs(raw_query, keep_blank_values=True)
        segs = [unquote(s) for s in raw_path.split("/")]
        api, expected, cal_ref = identify(method, segs)
        auth = self.headers.get("Authorization")
        form = {}
        if api == "token":
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                                 keep_blank_values=True).items()}
        if self.server.internal and self.headers.get(REPLAY_HEADER):
            # --workers: another process took this change and has every replica make it.
            with self.app.store.replaying(*parse_replay(self.headers[REPLAY_HEADER])):
                status, payload, ctype, headers = self.call(method, api, expected, cal_ref, query, body,
                                                            auth, form)[:4]
            self.send_bytes(status, payload, ctype, headers)
            return
        user = self.app.store.peek_user(auth, form.get("refresh_token"))
        entry = self.log_entry(method, raw_path, query, api, auth, user, form, body)
        fault = self.app.faults.take(method, unquote(raw_path), user)
        if fault is not None:
            entry["fault"] = fault.id
            if fault.delay > 0:
                time.sleep(fault.delay)
            if fault.action != "pass":
                self.apply_fault(fault, entry, started, lambda: self.replicated_call(
                    method, api, expected, cal_ref, query, body, auth, form))
                return
        status, payload, ctype, headers, gzip_key, items = self.replicated_call(
            method, api, expected, cal_ref, query, body, auth, form)
        entry["status"] = status
        if items is not None:
            entry["items"] = items
        self.finish_entry(entry, started)
        self.send_bytes(status, payload, ctype, headers, gzip_key)

    def log_entry(self, method, raw_path, query, api, auth, user, form, body):
        """What a test may assert about a request: method, path, query, headers, auth."""
        headers = {h: self.headers[h] for h in LOGGED_HEADERS if self.headers.get(h) is not None}
        headers["authorization"] = auth.split(" ", 1)[0] if auth else None
        # "time" is when the request arrived, not when its answer was ready:
        # a busy emulator must not bunch requests that came in spread out.
        entry = {"kind": "request", "api": api, "method": method, "path": unquote(raw_path),
                 "raw_path": raw_path, "query": flatten_query(query), "headers": headers,
                 "user": user, "status": None, "fault": None, "time": time.time()}
        if api == "token":
            entry["form"] = {k: ("<redacted>" if k == "client_secret" else v) for k, v in form.items()}
            entry["client_auth"] = "basic" if basic_credentials(auth) else "form"
        elif body and api in ("events.watch", "calendarList.watch", "channels.stop", "events.insert",
                              "events.patch"):
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body"] = body.decode("utf-8", "replace")
        return entry

    def finish_entry(self, entry, started):
        """Log the entry before the answer leaves, so a client that got the answer finds it."""
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        self.app.log.append(entry)

    def replicated_call(self, method, api, expected, cal_ref, query, body, auth, form):
        """self.call(); with --workers, a call that changes state (a token grant, a write) is
        made under the replicas' lock, then made alike by every other process."""
        replicas = self.app.replicas
        if replicas is None or api not in REPLICATED_APIS:
            return self.call(method, api, expected, cal_ref, query, body, auth, form)
        # A token grant only adds its own access token: grants run in parallel, without
        # the lock (on a busy machine each round trip to the other processes waits for
        # them to be scheduled; serialised, 10,000 grants took minutes). The one order
        # this gives up: a grant racing a control call that revokes or expires the same
        # user's tokens may end active in one process and not in another.
        with (replicas.lock if api != "token" else contextlib.nullcontext()):
            now, seed = time.time(), int.from_bytes(os.urandom(8), "big")
            with self.app.store.replaying(now, seed):
                result = self.call(method, api, expected, cal_ref, query, body, auth, form)
            headers = {h: self.headers[h] for h in ("Authorization", "Content-Type", "If-Match")
                       if self.headers.get(h) is not None}
            replicas.forward(method, self.path, body, headers, now, seed, result[0])
        return result

    def call(self, method, api, expected, cal_ref, query, body, auth, form):
        """Run one Google call → (status, body, content type, headers, gzip key, item count)."""
        store = self.app.store
        try:
            if api is None:
                raise E.not_found()
            if method != expected:
                raise ApiError(405, E.google_error(405, "httpMethodNotAllowed", "Method Not Allowed"))
            if self.app.replicas is not None and api in ("events.watch", "calendarList.watch",
                                                         "channels.stop"):
                # N processes would each deliver every notification.
                raise ApiError(501, E.google_error(501, "notImplemented", "gcal_emulator --workers: "
                                                   "watch channels need a single process"))
            if api == "token":
                status, payload = store.token_grant(form, basic_credentials(auth))
                return (status, dumps(payload), "application/json; charset=utf-8",
                        {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
                         "Pragma": "no-cache"}, None, None)
            uid = store.authenticate(auth)
            if api == "events.list":
                page, count, key = store.events_list(uid, cal_ref, query)
                return 200, page, E.JSON, None, key, count
            if api == "events.instances":
                page, count = store.events_instances(uid, cal_ref[0], cal_ref[1], query)
                return 200, page, E.JSON, None, None, count
            if api == "calendarList.list":
                page, count = store.calendar_list(uid, query)
                return 200, page, E.JSON, None, None, count
            if api == "calendars.get":
                return 200, store.calendar_get(uid, cal_ref), E.JSON, None, None, None
            if api == "events.get":
                return 200, store.event_get(uid, *cal_ref), E.JSON, None, None, None
            if api == "events.insert":
                return 200, store.event_insert(uid, cal_ref, query, self.json_body(body)), E.JSON, None, None, None
            if api == "events.patch":
                return (200, store.event_patch(uid, cal_ref[0], cal_ref[1], query, self.json_body(body),
                                               self.headers.get("If-Match")), E.JSON, None, None, None)
            if api == "events.delete":
                store.event_delete(uid, cal_ref[0], cal_ref[1], query, self.headers.get("If-Match"))
                return 204, b"", E.JSON, None, None, None
            if api == "freebusy.query":
                return 200, store.freebusy(uid, self.json_body(body)), E.JSON, None, None, None
            if api in ("events.watch", "calendarList.watch"):
                data = self.json_body(body)
                kind = "events" if api == "events.watch" else "calendarList"
                return 200, store.watch(uid, kind, cal_ref, data), E.JSON, None, None, None
            store.stop_channel(self.json_body(body))
            return 204, b"", E.JSON, None, None, None
        except ApiError as err:
            return err.status, err.body_bytes(), err.content_type, err.headers, None, None

    @staticmethod
    def json_body(body):
        """A JSON request body, or Google's 400 parseError."""
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise E.bad_request("Parse Error", reason="parseError")

    def apply_fault(self, fault, entry, started, real_call):
        """Answer a request the way an injected fault says (or not at all); log it first."""
        entry["fault_action"] = fault.action
        if fault.action == "drop":
            self.finish_entry(entry, started)
            self.drop_connection()
            return
        if fault.action == "apply_drop":     # the call takes effect, its answer is lost
            entry["status"] = real_call()[0]
            self.finish_entry(entry, started)
            self.drop_connection()
            return
        explicit = {"preset", "status", "body", "body_text"} & set(fault.spec)
        if fault.action == "truncated":
            if explicit:
                status, payload, ctype = fault.status, fault.body, fault.content_type
            else:                       # the real answer, cut in half
                status, payload, ctype = real_call()[:3]
            entry["status"] = status
            self.finish_entry(entry, started)
            self.send_truncated(status, payload, ctype, fault.headers)
            return
        if fault.action == "endless":
            entry["status"] = fault.status
            self.finish_entry(entry, started)
            self.send_endless(fault.status, fault.body, fault.content_type, fault.headers)
            return
        if fault.action == "malformed":
            status = int(fault.spec.get("status", 200))
            payload = fault.body if {"body", "body_text"} & set(fault.spec) else MALFORMED_BODY
        else:
            status, payload = fault.status, fault.body
        entry["status"] = status
        self.finish_entry(entry, started)
        self.send_bytes(status, payload, fault.content_type, fault.headers)

    def send_truncated(self, status, body, content_type, headers):
        """Promise more bytes than sent (Content-Length too large), send half, close."""
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) + max(64, len(body) // 2)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.drop_connection()

    def send_endless(self, status, body, content_type, headers):
        """The body, then E.ENDLESS_CHUNK over and over, without Content-Length,
        until the client hangs up (or E.ENDLESS_LIMIT bytes)."""
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        block = E.ENDLESS_CHUNK * max(1, (64 << 10) // len(E.ENDLESS_CHUNK))
        sent = 0
        try:
            self.wfile.write(body)
            while sent < E.ENDLESS_LIMIT:
                self.wfile.write(block)
                sent += len(block)
        except OSError:
            pass                        # the client gave up: what the test wants
        self.drop_connection()

    def drop_connection(self):
        """Close the connection without (further) answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- control side ----

    def control_call(self, method, raw_path, query, data, body):
        """Control.handle(); with --workers: changes are made under the replicas' lock and
        then alike by every other process before the answer leaves, the request log is
        merged from all processes, reads are answered from this process's replica."""
        control, replicas = self.app.control, self.app.replicas
        if replicas is None:
            return control.handle(method, raw_path, query, data)
        if self.server.internal:
            replay = self.headers.get(REPLAY_HEADER)
            if not replay:
                return control.handle(method, raw_path, query, data)   # this process only
            with self.app.store.replaying(*parse_replay(replay)):
                return control.handle(method, raw_path, query, data)
        if method == "GET" and raw_path == CONTROL_PREFIX + "/log":
            status, entries = control.handle(method, raw_path, query, data)
            for _, other in replicas.ask("GET", self.path):
                entries += json.loads(other)
            entries.sort(key=lambda e: e["seq"])
            return status, entries
        if method == "POST" and raw_path == CONTROL_PREFIX + "/faults":
            raise ControlError(501, "faults need a single process: start the emulator without --workers")
        if method == "GET" or raw_path == CONTROL_PREFIX + "/push/wait":
            return control.handle(method, raw_path, query, data)
        with replicas.lock:
            now, seed = time.time(), int.from_bytes(os.urandom(8), "big")
            status = 500
            try:
                with self.app.store.replaying(now, seed):
                    status, result = control.handle(method, raw_path, query, data)
            except ControlError as err:
                status = err.status
                raise
            finally:
                replicas.forward(method, self.path, body, {"Content-Type": "application/json"}, now, seed,
                                 status)
            return status, result

    def handle_control(self, method, raw_path, raw_query, body):
        """JSON control interface: errors come back as {"error": message} with a status."""
        try:
            data = json.loads(body) if body.strip() else {}
            query = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
            status, result = self.control_call(method, raw_path, query, data, body)
        except ControlError as err:
            status, result = err.status, {"error": err.message}
        except (ValueError, TypeError, KeyError, re.error) as err:
            status, result = 400, {"error": "%s: %s" % (type(err).__name__, err)}
        if status == 204:
            self.send_bytes(204, b"", E.JSON)
        else:
            self.send_json(status, result)


# --- control interface ----------------------------------------------------------------------------

SEG = r"([^/]+)"


class Control:
    """Routes of /_emulator/…; each handler returns (status, JSON-able result)."""

    def __init__(self, app):
        self.app = app
        self.routes = []
        for method, pattern, func in (
            ("GET", "/health", self.health),
            ("GET", "/state", self.state),
            ("POST", "/reset", self.reset),
            ("POST", "/load", self.load),
            ("GET", "/settings", self.get_settings),
            ("PATCH", "/settings", self.patch_settings),
            ("GET", "/users", self.list_users),
            ("POST", "/users", self.create_user),
            ("GET", "/users/" + SEG, self.get_user),
            ("PATCH", "/users/" + SEG, self.patch_user),
            ("DELETE", "/users/" + SEG, self.delete_user),
            ("POST", "/users/" + SEG + "/refresh-tokens", self.add_refresh_token),
            ("PUT", "/users/" + SEG + "/calendarList/" + SEG, self.put_entry),
            ("DELETE", "/users/" + SEG + "/calendarList/" + SEG, self.delete_entry),
            ("POST", "/refresh-tokens/(revoke|expire)", self.refresh_tokens),
            ("GET", "/access-tokens", self.list_access_tokens),
            ("POST", "/access-tokens/(revoke|expire)", self.access_tokens),
            ("GET", "/calendars", self.list_calendars),
            ("POST", "/calendars", self.put_calendar),
            ("GET", "/calendars/" + SEG, self.get_calendar),
            ("PATCH", "/calendars/" + SEG, self.patch_calendar),
            ("DELETE", "/calendars/" + SEG, self.delete_calendar),
            ("GET", "/calendars/" + SEG + "/events", self.list_events),
            ("POST", "/calendars/" + SEG + "/events", self.insert_events),
            ("GET", "/calendars/" + SEG + "/events/" + SEG, self.get_event),
            ("PUT", "/calendars/" + SEG + "/events/" + SEG, self.put_event),
            ("PATCH", "/calendars/" + SEG + "/events/" + SEG, self.patch_event),
            ("DELETE", "/calendars/" + SEG + "/events/" + SEG, self.delete_event),
            ("POST", "/calendars/" + SEG + "/events/" + SEG + "/cancel-instance", self.cancel_instance),
            ("POST", "/sync-tokens/invalidate", self.invalidate),
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("DELETE", r"/faults/(\d+)", self.delete_fault),
            ("GET", "/log", self.get_log),
            ("DELETE", "/log", self.clear_log),
            ("GET", "/channels", self.list_channels),
            ("POST", "/channels/" + SEG + "/(expire|notify)", self.channel_action),
            ("POST", "/push/wait", self.push_wait),
        ):
            self.routes.append((method, re.compile(CONTROL_PREFIX + pattern + "$"), func))

    def handle(self, method, raw_path, query, body):
        """Find the route; 405 for a known path with another method, 404 otherwise."""
        known = False
        for route_method, regex, func in self.routes:
            match = regex.match(raw_path)
            if match:
                known = True
                if route_method == method:
                    return func(*[unquote(g) for g in match.groups()], query=query, body=body)
        if known:
            raise ControlError(405, "method %s not allowed on %s" % (method, raw_path))
        raise ControlError(404, "no control endpoint %s %s (see README.md)" % (method, raw_path))

    @property
    def store(self):
        return self.app.store

    # ---- lifecycle ----

    def health(self, query, body):
        return 200, {"ok": True, "base_url": self.app.base_url,
                     "token_url": self.app.base_url + "/token",
                     "api_url": self.app.base_url + "/calendar/v3",
                     "instance": self.store.instance,
                     "workers": self.app.replicas.workers if self.app.replicas else 1,
                     "worker": self.app.replicas.index if self.app.replicas else 0}

    def state(self, query, body):
        return 200, self.store.describe()

    def reset(self, query, body):
        """Everything back to an empty emulator with the command-line settings."""
        self.app.push.clear()
        self.store.reset()
        self.app.faults.remove()
        self.app.log.clear()
        self.app.gzip_cache.clear()
        self.app.log.resize(self.store.settings["log_limit"])
        return 200, self.store.describe()

    def load(self, query, body):
        """Replace the data by a named data set, a generated one, or an inline document."""
        if "data" in body:
            doc = body["data"]
        else:
            doc = gcal_datasets.build(body.get("dataset", "demo"), body)
        self.app.push.clear()
        self.app.gzip_cache.clear()
        return 200, self.store.load(doc)

    def get_settings(self, query, body):
        return 200, dict(self.store.settings)

    def patch_settings(self, query, body):
        result = self.store.update_settings(body)
        if "log_limit" in body:
            self.app.log.resize(body["log_limit"])
        self.app.gzip_cache.clear()
        return 200, result

    # ---- users and tokens ----

    def list_users(self, query, body):
        return 200, self.store.list_users()

    def create_user(self, query, body):
        return 201, self.store.create_user(body)

    def get_user(self, user, query, body):
        with self.store.lock:
            return 200, self.store.user_view(user)

    def patch_user(self, user, query, body):
        return 200, self.store.update_user(user, body)

    def delete_user(self, user, query, body):
        self.store.delete_user(user)
        return 204, None

    def add_refresh_token(self, user, query, body):
        return 201, self.store.add_refresh_token(user, body.get("token"))

    def put_entry(self, user, cal, query, body):
        return 200, self.store.put_entry(user, cal, body)

    def delete_entry(self, user, cal, query, body):
        return 200, self.store.delete_entry(user, cal)

    def refresh_tokens(self, action, query, body):
        state = "revoked" if action == "revoke" else "expired"
        return 200, self.store.set_refresh_state(state, body.get("token"), body.get("user"))

    def list_access_tokens(self, query, body):
        return 200, self.store.list_access_tokens(query.get("user"))

    def access_tokens(self, action, query, body):
        return 200, self.store.set_access_state(action, body.get("token"), body.get("user"))

    # ---- calendars and events ----

    def list_calendars(self, query, body):
        return 200, self.store.list_calendars()

    def put_calendar(self, query, body):
        created, view = self.store.put_calendar(body)
        return (201 if created else 200), view

    def get_calendar(self, cal, query, body):
        return 200, self.store.calendar_view(cal)

    def patch_calendar(self, cal, query, body):
        return 200, self.store.patch_calendar(cal, body)

    def delete_calendar(self, cal, query, body):
        self.store.delete_calendar(cal)
        return 200, self.store.calendar_view(cal)

    def list_events(self, cal, query, body):
        return 200, self.store.event_views(cal)

    def insert_events(self, cal, query, body):
        events = body["events"] if isinstance(body, dict) and "events" in body else [body]
        return 201, {"events": self.store.insert_events(cal, events)}

    def get_event(self, cal, event, query, body):
        return 200, self.store.event_views(cal, event)

    def put_event(self, cal, event, query, body):
        return 200, self.store.replace_event(cal, event, body)

    def patch_event(self, cal, event, query, body):
        return 200, self.store.replace_event(cal, event, body, merge=True)

    def delete_event(self, cal, event, query, body):
        silent = query.get("silent", "false").lower() == "true" or bool(body.get("silent"))
        return 200, self.store.delete_event(cal, event, silent=silent)

    def cancel_instance(self, cal, event, query, body):
        return 200, self.store.cancel_instance(cal, event, body.get("originalStartTime"))

    def invalidate(self, query, body):
        return 200, self.store.invalidate_sync_tokens(
            user=body.get("user"), calendar=body.get("calendar"), resource=body.get("resource"),
            variant=body.get("variant", "fullSyncRequired"))

    # ---- faults, log, push ----

    def list_faults(self, query, body):
        return 200, self.app.faults.list()

    def add_fault(self, query, body):
        return 201, self.app.faults.add(body)

    def clear_faults(self, query, body):
        return 200, {"removed": self.app.faults.remove()}

    def delete_fault(self, fid, query, body):
        removed = self.app.faults.remove(int(fid))
        if not removed:
            raise ControlError(404, "no fault %s" % fid)
        return 200, {"removed": removed}

    def get_log(self, query, body):
        return 200, self.app.log.query(int(query.get("since", 0)), query.get("kind"),
                                       query.get("api"), query.get("path"))

    def clear_log(self, query, body):
        self.app.log.clear()
        return 200, {"cleared": True}

    def list_channels(self, query, body):
        return 200, self.store.list_channels()

    def channel_action(self, channel, action, query, body):
        if action == "expire":
            return 200, self.store.expire_channel(channel)
        return 200, self.store.notify_channel(channel, body.get("state", "exists"))

    def push_wait(self, query, body):
        return 200, {"idle": self.app.push.wait_idle(float(body.get("timeout", 10)))}


# --- command line ---------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description="Google Calendar API + OAuth emulator for gcalsync tests")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    ap.add_argument("--port-file", help="write the bound port to this file (atomically)")
    ap.add_argument("--data", default="demo",
                    help="demo | empty | generate:USERS,CALENDARS,EVENTS[,SEED] | FILE.json")
    ap.add_argument("--token-lifetime", type=float, default=None,
                    help="access token lifetime in seconds (default 3600)")
    ap.add_argument("--channel-lifetime", type=float, default=None,
                    help="default watch channel lifetime in seconds (default 604800)")
    ap.add_argument("--client-id", help="OAuth client id accepted by /token")
    ap.add_argument("--client-secret", help="OAuth client secret accepted by /token")
    ap.add_argument("--tls-cert", help="serve HTTPS: certificate chain (PEM) of the server")
    ap.add_argument("--tls-key", help="serve HTTPS: private key (PEM) of --tls-cert")
    ap.add_argument("--workers", type=int, default=1,
                    help="serve from N processes on the same port (default 1; see README.md)")
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=JSON",
                    help="default of a setting (as PATCH /_emulator/settings; reset returns to it), "
                         "e.g. live_paging=true or page_token_lifetime=600; repeatable")
    return ap.parse_args(argv)


def settings_from_args(args):
    """Command-line overrides of the default settings."""
    out = {}
    if args.token_lifetime is not None:
        out["token_lifetime"] = args.token_lifetime
    if args.channel_lifetime is not None:
        out["channel_lifetime"] = args.channel_lifetime
    if args.client_id:
        out["client_id"] = args.client_id
    if args.client_secret:
        out["client_secret"] = args.client_secret
    for item in args.setting:
        key, sep, value = item.partition("=")
        if not sep or key not in DEFAULT_SETTINGS:
            raise SystemExit("--setting %r: expected KEY=JSON with a known setting" % item)
        try:
            out[key] = json.loads(value)
        except ValueError:
            raise SystemExit("--setting %r: the value is not JSON" % item)
    return out


def write_port_file(path, port):
    """Write the port atomically (temp file in the same directory, then rename)."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    if args.workers < 1:
        raise SystemExit("gcal_emulator: --workers must be at least 1")
    doc = gcal_datasets.from_cli(args.data)
    if args.workers > 1:
        return serve_workers(args, doc)
    app = Emulator(args.host, args.port, settings_from_args(args), args.tls_cert, args.tls_key)
    app.store.load(doc)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    app.start()
    # The port file first, then the banner: whoever waits for either finds both ready.
    if args.port_file:
        write_port_file(args.port_file, app.port)
    print("gcal_emulator listening on %s" % app.base_url, flush=True)
    while not stop.wait(1.0):
        pass
    app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
