"""The request log (what clients sent, how the emulator answered) and the fault table."""

import re
import threading
import time
from collections import deque

import gcal_errors as E


class RequestLog:
    """Bounded, thread-safe list of request and push entries, each with an increasing seq."""

    def __init__(self, limit=100000):
        self.lock = threading.Lock()
        self.entries = deque(maxlen=limit)
        self.counter = 0
        self.shared = None      # --workers: a multiprocessing.Value numbering all processes' entries

    def append(self, entry):
        """Stamp and store an entry (a dict); returns its seq."""
        with self.lock:
            if self.shared is not None:
                with self.shared.get_lock():
                    self.shared.value += 1
                    self.counter = self.shared.value
            else:
                self.counter += 1
            entry["seq"] = self.counter
            entry.setdefault("time", time.time())
            self.entries.append(entry)
            return self.counter

    def query(self, since=0, kind=None, api=None, path=None):
        """Entries after seq `since`, optionally of one kind, API name or path regex."""
        pattern = re.compile(path) if path else None
        with self.lock:
            return [e for e in self.entries
                    if e["seq"] > since and (kind is None or e.get("kind") == kind)
                    and (api is None or e.get("api") == api)
                    and (pattern is None or pattern.search(e.get("path", "")))]

    def clear(self):
        with self.lock:
            self.entries.clear()

    def resize(self, limit):
        with self.lock:
            self.entries = deque(self.entries, maxlen=int(limit))


class Fault:
    """One injected fault: which requests it matches and what it does to them."""

    ACTIONS = ("respond", "malformed", "truncated", "drop", "pass", "endless", "apply_drop")
    FIELDS = ("method", "path", "user", "count", "skip", "preset", "status", "body", "body_text",
              "content_type", "headers", "delay", "action")

    def __init__(self, fid, spec):
        unknown = set(spec) - set(self.FIELDS)
        if unknown:
            raise ValueError("unknown fault fields: %s" % ", ".join(sorted(unknown)))
        self.id = fid
        self.spec = dict(spec)
        self.method = spec.get("method")
        self.path = re.compile(spec.get("path") or "")
        self.user = spec.get("user")
        self.remaining = int(spec.get("count", 1))      # < 0: unlimited
        self.skip = int(spec.get("skip", 0))
        self.delay = float(spec.get("delay", 0))
        self.action = spec.get("action") or E.PRESET_ACTIONS.get(spec.get("preset")) or (
            "pass" if "delay" in spec and not ({"preset", "status", "body", "body_text"} & set(spec)) else "respond")
        if self.action not in self.ACTIONS:
            raise ValueError("action must be one of %s" % ", ".join(self.ACTIONS))
        status, body, ctype = 500, E.BACKEND_ERROR, E.JSON
        if spec.get("preset"):
            if spec["preset"] not in E.PRESETS:
                raise ValueError("unknown preset %r (known: %s)" % (spec["preset"], ", ".join(E.PRESETS)))
            status, body, ctype = E.PRESETS[spec["preset"]]
        if "body" in spec:
            body = spec["body"] if isinstance(spec["body"], (dict, list)) else str(spec["body"]).encode()
        if "body_text" in spec:
            body = spec["body_text"].encode("utf-8")
        self.status = int(spec.get("status", status))
        self.body = body if isinstance(body, bytes) else E.dumps(body)
        self.content_type = spec.get("content_type", ctype)
        self.headers = dict(spec.get("headers") or {})
        self.hits = 0

    def matches(self, method, path, user):
        return ((self.method is None or self.method.upper() == method)
                and self.path.search(path) is not None
                and (self.user is None or self.user == user))

    def describe(self):
        return dict(self.spec, id=self.id, remaining=self.remaining, hits=self.hits,
                    action=self.action)


class FaultTable:
    """Faults in creation order; the first live one that matches a request takes it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.faults = []
        self.counter = 0

    def add(self, spec):
        with self.lock:
            self.counter += 1
            fault = Fault(self.counter, spec)
            self.faults.append(fault)
            return fault.describe()

    def take(self, method, path, user):
        """The fault to apply to this request (consuming one of its count), or None."""
        with self.lock:
            for fault in self.faults:
                if fault.remaining == 0 or not fault.matches(method, path, user):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.remaining > 0:
                    fault.remaining -= 1
                fault.hits += 1
                return fault
            return None

    def list(self):
        with self.lock:
            return [f.describe() for f in self.faults]

    def remove(self, fid=None):
        """Remove one fault (by id) or all; returns how many were removed."""
        with self.lock:
            before = len(self.faults)
            self.faults = [f for f in self.faults if fid is not None and f.id != fid]
            return before - len(self.faults)
