#!/usr/bin/env python3
"""Google Calendar push notifications -> gcalsync: a webhook receiver.

Google POSTs an empty body with X-Goog-* headers to the address of each watch
channel (gcalsync.webhook_url) whenever a watched calendar list or calendar
changes. This receiver answers at once (Google wants a quick 2xx) and forwards
the headers to gcal_push() over one long-lived database connection, which
schedules the sync. Needs psycopg2 (Debian: python3-psycopg2); copy it and adapt.

    webhook_receiver.py --port 8443 --path /hooks/gcal --dsn "dbname=myapp"

The header values come from the internet: they go to the server only as query
parameters of one fixed statement, never spliced into SQL text.

Put it behind your HTTPS reverse proxy (Google only posts to https:// URLs
with a valid certificate) and set gcalsync.webhook_url to the public URL. The
database role psql connects as needs EXECUTE on gcal_push.
"""

import argparse
import http.server
import os
import queue
import sys
import threading

import psycopg2

HEADERS = ("X-Goog-Channel-ID", "X-Goog-Resource-ID", "X-Goog-Resource-State",
           "X-Goog-Channel-Token", "X-Goog-Message-Number")
MAX_HEADER = 512


# The one statement the receiver runs; the values are passed as parameters.
PUSH_SQL = "SELECT gcal_push(%s, %s, %s, %s, %s::int8)"


class Forwarder(threading.Thread):
    """Feeds gcal_push() calls to one database connection, reconnecting if it breaks."""

    def __init__(self, dsn, log):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.log = log
        self.calls = queue.Queue()
        self.conn = None

    def submit(self, channel, resource, state, token, number):
        number = int(number) if number and number.isdigit() and len(number) <= 18 else None
        self.calls.put((channel, resource, state, token, number))

    def _connect(self):
        self.conn = psycopg2.connect(self.dsn, application_name="webhook_receiver")
        self.conn.autocommit = True

    def _push(self, values):
        with self.conn.cursor() as cur:
            cur.execute(PUSH_SQL, values)
            if cur.fetchone()[0] is not True:
                self.log("gcal_push refused a notification (unknown channel, wrong token or resource)")

    def run(self):
        while True:
            values = self.calls.get()
            for attempt in (1, 2):
                try:
                    if self.conn is None or self.conn.closed:
                        self._connect()
                    self._push(values)
                    break
                except psycopg2.OperationalError as e:
                    self.log("database connection failed (%s); reconnecting" % str(e).strip())
                    if self.conn is not None:
                        self.conn.close()
                    self.conn = None
                except psycopg2.Error as e:
                    self.log("gcal_push failed: %s" % str(e).strip())
                    break


def make_handler(path, forwarder, log):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 65536))
            values = [self.headers.get(h) for h in HEADERS]
            ok = (self.path.split("?")[0] == path and values[0] and values[1] and values[2]
                  and all(v is None or (len(v) <= MAX_HEADER and "\x00" not in v) for v in values))
            # Answer first: Google retries slow or failing endpoints with backoff.
            self.send_response(200 if ok else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if ok:
                forwarder.submit(*values)

        def log_message(self, fmt, *args):
            pass

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    ap.add_argument("--path", default="/gcal", help="the path of gcalsync.webhook_url")
    ap.add_argument("--dsn", default="", help="libpq connection string (empty: PG* environment variables)")
    ap.add_argument("--port-file", help="write the bound port here (for scripts and tests)")
    args = ap.parse_args()

    def log(msg):
        print("webhook_receiver: " + msg, file=sys.stderr, flush=True)

    forwarder = Forwarder(args.dsn, log)
    forwarder.start()
    server = http.server.ThreadingHTTPServer((args.host, args.port),
                                             make_handler(args.path, forwarder, log))
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    log("listening on http://%s:%d%s" % (args.host, port, args.path))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
