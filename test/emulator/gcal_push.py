"""Delivery of push notifications (Google's web_hook channels) from a background thread.

The API call that causes a notification only queues it (under the store lock, so message
numbers follow the order of changes); this thread posts it, so a slow or dead receiver
never blocks the API. Each delivery is attempted once (Google does not guarantee delivery
either) and its outcome is recorded in the request log as a "push" entry.
"""

import http.client
import threading
import time
from collections import deque
from email.utils import formatdate
from urllib.parse import urlsplit


class PushDeliverer:
    """A queue of notifications and the one thread that delivers them in order."""

    def __init__(self, log, timeout_fn=lambda: 5.0):
        self.log = log
        self.timeout_fn = timeout_fn
        self.queue = deque()
        self.cond = threading.Condition()
        self.busy = False
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="gcal-push", daemon=True)
        self.thread.start()

    def enqueue(self, channel, state, number):
        """Queue one notification; headers are fixed now (state of the channel at change time)."""
        headers = {"X-Goog-Channel-ID": channel.id,
                   "X-Goog-Channel-Expiration": formatdate(channel.expiration_ms / 1000, usegmt=True),
                   "X-Goog-Resource-ID": channel.resource_id,
                   "X-Goog-Resource-URI": channel.resource_uri,
                   "X-Goog-Resource-State": state,
                   "X-Goog-Message-Number": str(number),
                   "Content-Length": "0"}
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        with self.cond:
            self.queue.append((channel, headers))
            self.cond.notify_all()

    def wait_idle(self, timeout):
        """Block until every queued notification was attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.queue or self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def clear(self):
        """Drop queued notifications (reset/load)."""
        with self.cond:
            self.queue.clear()

    def stop(self):
        """Stop the thread (pending notifications are dropped)."""
        with self.cond:
            self.stopping = True
            self.queue.clear()
            self.cond.notify_all()
        self.thread.join(timeout=10)

    def _run(self):
        while True:
            with self.cond:
                while not self.queue and not self.stopping:
                    self.cond.wait()
                if self.stopping:
                    return
                channel, headers = self.queue.popleft()
                self.busy = True
            try:
                if channel.active():        # stopped or expired since: deliver nothing
                    self._deliver(channel, headers)
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()

    def _deliver(self, channel, headers):
        """POST an empty body to the channel address and log the HTTP outcome."""
        started = time.monotonic()
        entry = {"kind": "push", "channel": channel.id, "user": channel.user,
                 "address": channel.address, "state": headers["X-Goog-Resource-State"],
                 "message_number": int(headers["X-Goog-Message-Number"]),
                 "resource_id": channel.resource_id, "headers": dict(headers),
                 "status": None, "error": None}
        url = urlsplit(channel.address)
        conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        try:
            conn = conn_cls(url.hostname, url.port, timeout=self.timeout_fn())
            try:
                path = (url.path or "/") + ("?" + url.query if url.query else "")
                conn.request("POST", path, body=b"", headers=headers)
                response = conn.getresponse()
                response.read()
                entry["status"] = response.status
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            entry["error"] = "%s: %s" % (type(exc).__name__, exc)
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        self.log.append(entry)
