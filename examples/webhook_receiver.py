#!/usr/bin/env python3
"""Google Calendar push notifications -> gcalsync: a webhook receiver.

Google POSTs an empty body with X-Goog-* headers to the address of each watch
channel (gcalsync.webhook_url) whenever a watched calendar list or calendar
changes. This receiver answers at once (Google wants a quick 2xx) and forwards
the headers to gcal_push() over one long-lived database connection, which
schedules the sync. Needs psycopg 3 (Debian: python3-psycopg); copy it and adapt.

    webhook_receiver.py --port 8443 --path /hooks/gcal --dsn "dbname=myapp"

The header values come from the internet: they go to the server only as bind
parameters of one fixed statement ($1..$5, psycopg 3's server-side binding),
never spliced into SQL text. So the channel token is not in the statement
text either (pg_stat_activity.query and log_min_error_statement show the
placeholders; log_statement = 'all' logs the values apart unless
log_parameter_max_length = 0). Do not port this to psycopg2: it interpolates
the values into the query text on the client.

Put it behind your HTTPS reverse proxy (Google only posts to https:// URLs
with a valid certificate) and set gcalsync.webhook_url to the public URL. The
database role it connects as needs EXECUTE on gcal_push.
"""

import argparse
import http.server
import os
import queue
import sys
import threading

import psycopg

HEADERS = ("X-Goog-Channel-ID", "X-Goog-Resource-ID", "X-Goog-Resource-State",
           "X-Goog-Channel-Token", "X-Goog-Message-Number")
MAX_HEADER = 512


# The one statement the receiver runs. psycopg 3 sends it as
# "SELECT gcal_push($1, $2, $3, $4, $5::int8)" and the values apart (bind
# parameters of the extended query protocol).
PUSH_SQL = "SELECT gcal_push(%s, %s, %s, %s, %s::int8)"


def message_number(number):
    """The X-Goog-Message-Number as an int, None if absent or empty; ValueError if malformed.

    str.isdigit() alone is true for '²' or '٣' (headers arrive as Latin-1),
    which int() then refuses or reads as another number: ASCII digits only.
    """
    if not number:
        return None
    if not (number.isascii() and number.isdigit() and len(number) <= 18):
        raise ValueError("bad message number")
    return int(number)


class Forwarder(threading.Thread):
    """Feeds gcal_push() calls to one database connection, reconnecting if it breaks."""

    def __init__(self, dsn, log):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.log = log
        self.calls = queue.Queue()
        self.conn = None

    def submit(self, channel, resource, state, token, number):
        self.calls.put((channel, resource, state, token, message_number(number)))

    def _connect(self):
        self.conn = psycopg.connect(self.dsn, autocommit=True, application_name="webhook_receiver")

    def _push(self, values):
        with self.conn.cursor() as cur:
            cur.execute(PUSH_SQL, values)  # server-side binding (psycopg 3's default)
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
                except psycopg.OperationalError as e:
                    self.log("database connection failed (%s); reconnecting" % str(e).strip())
                    if self.conn is not None:
                        self.conn.close()
                    self.conn = None
                except psycopg.Error as e:
                    self.log("gcal_push failed: %s" % str(e).strip())
                    break


def valid_number(number):
    try:
        message_number(number)
        return True
    except ValueError:
        return False


def make_handler(path, forwarder, log):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 65536))
            values = [self.headers.get(h) for h in HEADERS]
            ok = (self.path.split("?")[0] == path and values[0] and values[1] and values[2]
                  and all(v is None or (len(v) <= MAX_HEADER and "\x00" not in v) for v in values)
                  and valid_number(values[4]))
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
