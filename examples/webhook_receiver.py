#!/usr/bin/env python3
"""Google Calendar push notifications -> gcalsync: a webhook receiver.

Google POSTs an empty body with X-Goog-* headers to the address of each watch
channel (gcalsync.webhook_url) whenever a watched calendar list or calendar
changes. This receiver answers at once (Google wants a quick 2xx) and forwards
the headers to gcal_push() through one long-lived psql process, which
schedules the sync. Standard library only; copy it and adapt.

    webhook_receiver.py --port 8443 --path /hooks/gcal --psql "psql -X -d myapp"

Put it behind your HTTPS reverse proxy (Google only posts to https:// URLs
with a valid certificate) and set gcalsync.webhook_url to the public URL. The
database role psql connects as needs EXECUTE on gcal_push.
"""

import argparse
import http.server
import os
import queue
import shlex
import subprocess
import sys
import threading

HEADERS = ("X-Goog-Channel-ID", "X-Goog-Resource-ID", "X-Goog-Resource-State",
           "X-Goog-Channel-Token", "X-Goog-Message-Number")
MAX_HEADER = 512


def sql_literal(value):
    """A standard SQL string literal (standard_conforming_strings is on by default)."""
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


class Forwarder(threading.Thread):
    """Feeds gcal_push() calls to one psql process, restarting it if it dies."""

    def __init__(self, psql_command, log):
        super().__init__(daemon=True)
        self.command = shlex.split(psql_command) + ["-A", "-t", "-v", "ON_ERROR_STOP=0"]
        self.log = log
        self.calls = queue.Queue()
        self.proc = None

    def submit(self, channel, resource, state, token, number):
        number_sql = number if number and number.isdigit() else "NULL"
        self.calls.put("SELECT gcal_push(%s, %s, %s, %s, %s);\n" % (
            sql_literal(channel), sql_literal(resource), sql_literal(state),
            sql_literal(token), number_sql))

    def _start(self):
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            line = line.strip()
            if line == "f":
                self.log("gcal_push refused a notification (unknown channel, wrong token or resource)")
            elif line and line != "t":
                self.log("psql: " + line)

    def run(self):
        while True:
            call = self.calls.get()
            for attempt in (1, 2):
                try:
                    if self.proc is None or self.proc.poll() is not None:
                        self._start()
                    self.proc.stdin.write(call)
                    self.proc.stdin.flush()
                    break
                except (BrokenPipeError, OSError) as e:
                    self.log("psql failed (%s); restarting" % e)
                    self.proc = None


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
    ap.add_argument("--psql", default="psql -X", help="how to run psql (connection options included)")
    ap.add_argument("--port-file", help="write the bound port here (for scripts and tests)")
    args = ap.parse_args()

    def log(msg):
        print("webhook_receiver: " + msg, file=sys.stderr, flush=True)

    forwarder = Forwarder(args.psql, log)
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
