"""Tiny Python client of the emulator's control interface, and a launcher for the process.

    from gcal_client import EmulatorProcess
    with EmulatorProcess(data="demo") as emu:
        emu.client.insert_event("alice@example.com", {"summary": "x", "start": {...}, "end": {...}})
        print(emu.token_url, emu.api_url)

Standard library only; every method maps to one endpoint documented in README.md.
"""

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
from urllib.parse import quote, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "gcal_emulator.py")


class EmulatorError(Exception):
    """A control call answered with an error status."""

    def __init__(self, status, body):
        super().__init__("%s: %s" % (status, body))
        self.status = status
        self.body = body


def q(segment):
    """Percent-encode one path segment (calendar ids hold '#' and '@')."""
    return quote(segment, safe="")


class EmulatorClient:
    """Control-interface client (one keep-alive connection, thread-safe). For an emulator
    served over HTTPS pass ca_file (the CA that signed its certificate) or an ssl_context."""

    def __init__(self, base_url, timeout=30.0, ca_file=None, ssl_context=None):
        url = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host, self.port, self.timeout = url.hostname, url.port, timeout
        self.tls = url.scheme == "https"
        if self.tls and ssl_context is None:
            ssl_context = ssl.create_default_context(cafile=ca_file)
        self.ssl_context = ssl_context
        self._conn = None
        self._lock = threading.Lock()

    # ---- transport ----

    def request(self, method, path, body=None, headers=None):
        """One HTTP request → (status, headers dict (lower-case names), body bytes)."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    if self.tls:
                        self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                                 context=self.ssl_context)
                    else:
                        self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                try:
                    self._conn.request(method, path, body=data, headers=hdrs)
                    resp = self._conn.getresponse()
                    payload = resp.read()
                    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
                except (http.client.HTTPException, ConnectionError):
                    self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def control(self, method, path, body=None, query=None):
        """Call /_emulator/<path>; the decoded JSON answer, EmulatorError on >= 400."""
        full = "/_emulator" + path + ("?" + urlencode(query) if query else "")
        status, _, payload = self.request(method, full, body)
        result = json.loads(payload) if payload else None
        if status >= 400:
            raise EmulatorError(status, result)
        return result

    # ---- lifecycle ----

    def health(self):
        return self.control("GET", "/health")

    def state(self):
        return self.control("GET", "/state")

    def reset(self):
        return self.control("POST", "/reset", {})

    def load(self, dataset="demo", **options):
        """Replace the data: demo, empty, or generate (users=, calendars=, events=, seed=)."""
        return self.control("POST", "/load", dict(options, dataset=dataset))

    def load_data(self, doc):
        """Replace the data by an inline data-set document."""
        return self.control("POST", "/load", {"data": doc})

    def settings(self, **changes):
        """Read (no arguments) or change settings (token_lifetime=, page_pattern=, ...)."""
        if not changes:
            return self.control("GET", "/settings")
        return self.control("PATCH", "/settings", changes)

    # ---- users and tokens ----

    def create_user(self, user_id, **spec):
        return self.control("POST", "/users", dict(spec, id=user_id))

    def users(self):
        return self.control("GET", "/users")

    def user(self, user_id):
        return self.control("GET", "/users/" + q(user_id))

    def update_user(self, user_id, **spec):
        """Change email, add refresh_tokens=[...] / revoked_refresh_tokens=[...]."""
        return self.control("PATCH", "/users/" + q(user_id), spec)

    def delete_user(self, user_id):
        return self.control("DELETE", "/users/" + q(user_id))

    def add_refresh_token(self, user_id, token=None):
        return self.control("POST", "/users/%s/refresh-tokens" % q(user_id),
                            {"token": token} if token else {})

    def put_entry(self, user_id, calendar_id, **fields):
        return self.control("PUT", "/users/%s/calendarList/%s" % (q(user_id), q(calendar_id)), fields)

    def delete_entry(self, user_id, calendar_id):
        return self.control("DELETE", "/users/%s/calendarList/%s" % (q(user_id), q(calendar_id)))

    def revoke_refresh_tokens(self, token=None, user=None):
        return self.control("POST", "/refresh-tokens/revoke", _only(token=token, user=user))

    def expire_refresh_tokens(self, token=None, user=None):
        return self.control("POST", "/refresh-tokens/expire", _only(token=token, user=user))

    def access_tokens(self, user=None):
        return self.control("GET", "/access-tokens", query=_only(user=user) or None)

    def revoke_access_tokens(self, token=None, user=None):
        return self.control("POST", "/access-tokens/revoke", _only(token=token, user=user))

    def expire_access_tokens(self, token=None, user=None):
        return self.control("POST", "/access-tokens/expire", _only(token=token, user=user))

    # ---- calendars and events ----

    def put_calendar(self, spec):
        return self.control("POST", "/calendars", spec)

    def calendars(self):
        return self.control("GET", "/calendars")

    def calendar(self, calendar_id):
        return self.control("GET", "/calendars/" + q(calendar_id))

    def patch_calendar(self, calendar_id, **fields):
        return self.control("PATCH", "/calendars/" + q(calendar_id), fields)

    def delete_calendar(self, calendar_id):
        return self.control("DELETE", "/calendars/" + q(calendar_id))

    def insert_events(self, calendar_id, events):
        return self.control("POST", "/calendars/%s/events" % q(calendar_id), {"events": events})["events"]

    def insert_event(self, calendar_id, event):
        return self.insert_events(calendar_id, [event])[0]

    def events(self, calendar_id):
        return self.control("GET", "/calendars/%s/events" % q(calendar_id))

    def event(self, calendar_id, event_id):
        return self.control("GET", "/calendars/%s/events/%s" % (q(calendar_id), q(event_id)))

    def put_event(self, calendar_id, event_id, event):
        return self.control("PUT", "/calendars/%s/events/%s" % (q(calendar_id), q(event_id)), event)

    def patch_event(self, calendar_id, event_id, **fields):
        return self.control("PATCH", "/calendars/%s/events/%s" % (q(calendar_id), q(event_id)), fields)

    def delete_event(self, calendar_id, event_id, silent=False):
        return self.control("DELETE", "/calendars/%s/events/%s" % (q(calendar_id), q(event_id)),
                            query={"silent": "true"} if silent else None)

    def cancel_instance(self, calendar_id, master_id, original_start):
        return self.control("POST", "/calendars/%s/events/%s/cancel-instance"
                            % (q(calendar_id), q(master_id)), {"originalStartTime": original_start})

    def invalidate_sync_tokens(self, user=None, calendar=None, resource=None,
                               variant="fullSyncRequired"):
        return self.control("POST", "/sync-tokens/invalidate",
                            dict(_only(user=user, calendar=calendar, resource=resource),
                                 variant=variant))

    # ---- faults, log, push ----

    def add_fault(self, **spec):
        """Inject a fault, e.g. add_fault(path="/events$", preset="tooManyRequests", count=2)."""
        return self.control("POST", "/faults", spec)

    def faults(self):
        return self.control("GET", "/faults")

    def clear_faults(self):
        return self.control("DELETE", "/faults")

    def delete_fault(self, fault_id):
        return self.control("DELETE", "/faults/%d" % fault_id)

    def log(self, since=0, kind=None, api=None, path=None):
        return self.control("GET", "/log", query=_only(since=since or None, kind=kind, api=api,
                                                       path=path) or None)

    def clear_log(self):
        return self.control("DELETE", "/log")

    def channels(self):
        return self.control("GET", "/channels")

    def expire_channel(self, channel_id):
        return self.control("POST", "/channels/%s/expire" % q(channel_id), {})

    def notify_channel(self, channel_id, state="exists"):
        return self.control("POST", "/channels/%s/notify" % q(channel_id), {"state": state})

    def wait_push_idle(self, timeout=10.0):
        """Block until every queued push notification was attempted."""
        return self.control("POST", "/push/wait", {"timeout": timeout})["idle"]

    # ---- Google side, for tests ----

    def token(self, refresh_token, client_id=None, client_secret=None):
        """Refresh grant with the emulator's client (default: current settings) → access token."""
        if client_id is None or client_secret is None:
            current = self.settings()
            client_id = client_id or current["client_id"]
            client_secret = client_secret or current["client_secret"]
        form = urlencode({"client_id": client_id, "client_secret": client_secret,
                          "refresh_token": refresh_token, "grant_type": "refresh_token"}).encode()
        status, _, payload = self.request("POST", "/token", form,
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        body = json.loads(payload)
        if status != 200:
            raise EmulatorError(status, body)
        return body["access_token"]


def _only(**kwargs):
    """The keyword arguments that are not None."""
    return {k: v for k, v in kwargs.items() if v is not None}


class EmulatorProcess:
    """Start gcal_emulator.py as a child process on a free port; stop it with SIGTERM.
    With tls=(cert, key, ca_file) it serves HTTPS and its client trusts ca_file."""

    def __init__(self, data="demo", args=(), python=None, startup_timeout=60.0, tls=None):
        self.data, self.args = data, list(args)
        self.tls = tls
        self.python = python or sys.executable or "/usr/bin/python3"
        self.startup_timeout = startup_timeout
        self.proc = self.port = self.client = None
        self.banner = None

    def start(self):
        tmpdir = tempfile.mkdtemp(prefix="gcal-emu-")
        self.port_file = os.path.join(tmpdir, "port")
        cmd = [self.python, EMULATOR, "--port", "0", "--port-file", self.port_file,
               "--data", self.data] + self.args
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        # stderr goes to a file: a pipe nobody reads could fill up and block the emulator
        self.stderr_path = os.path.join(tmpdir, "stderr.log")
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.banner = self._read_banner()
        self.port = int(self.banner.rsplit(":", 1)[1])
        self.base_url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)
        self.token_url = self.base_url + "/token"
        self.api_url = self.base_url + "/calendar/v3"
        self.client = EmulatorClient(self.base_url, ca_file=self.tls[2] if self.tls else None)
        return self

    def _read_banner(self):
        """Wait (bounded) for the 'listening on' line the emulator prints when ready."""
        result = {}

        def reader():
            result["line"] = self.proc.stdout.readline()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(self.startup_timeout)
        line = result.get("line", "")
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait()
            with open(self.stderr_path) as fh:
                raise RuntimeError("emulator did not start: %r %s" % (line, fh.read()))
        return line.strip()

    def stop(self, timeout=10.0):
        """SIGTERM, wait; returns the exit code (kills after timeout)."""
        if self.client is not None:
            self.client.close()
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            return self.proc.returncode
        finally:
            self.proc.stdout.close()
            self._stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
