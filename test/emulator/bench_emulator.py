#!/usr/bin/python3
"""Measure how fast the emulator serves events pages (the speed figure in README.md).

    python3 test/emulator/bench_emulator.py [--data generate:4,5,2500,1] [--threads 1,2]

Starts the emulator, takes an access token per generated user, and pages through every
calendar with gcalsync's parameters (maxResults=2500, showDeleted=true, singleEvents=false)
over keep-alive connections, once cold (first listing: snapshot built, pages assembled)
and once warm (cached), without and with gzip. The client only reads bytes and finds
nextPageToken in the envelope head, so the figure is the server's, not a JSON parser's.
"""

import argparse
import http.client
import json
import os
import re
import sys
import threading
import time
import zlib
from urllib.parse import quote, urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gcal_client import EmulatorProcess  # noqa: E402

NEXT = re.compile(rb'"nextPageToken":"([^"]+)"')
PARAMS = {"maxResults": 2500, "showDeleted": "true", "singleEvents": "false"}


def fetch_calendar(conn, token, cal, use_gzip):
    """Page through one calendar; returns (events, bytes on the wire)."""
    events = wire = 0
    page_token = None
    headers = {"Authorization": "Bearer " + token,
               "Accept-Encoding": "gzip" if use_gzip else "identity"}
    while True:
        query = dict(PARAMS, **({"pageToken": page_token} if page_token else {}))
        conn.request("GET", "/calendar/v3/calendars/%s/events?%s" % (quote(cal, safe=""),
                                                                     urlencode(query)), headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError("HTTP %d: %r" % (resp.status, body[:200]))
        wire += len(body)
        if use_gzip:
            body = zlib.decompress(body, 31)
        events += body.count(b'{"kind":"calendar#event"')
        match = NEXT.search(body, 0, 4096)
        if not match:
            return events, wire
        page_token = match.group(1).decode()


def run_pass(port, jobs, threads, use_gzip):
    """Fetch every (token, calendar) job with `threads` keep-alive connections in parallel."""
    queue = list(jobs)
    lock = threading.Lock()
    totals = {"events": 0, "wire": 0}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                token, cal = queue.pop()
            events, wire = fetch_calendar(conn, token, cal, use_gzip)
            with lock:
                totals["events"] += events
                totals["wire"] += wire
        conn.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    return totals["events"], totals["wire"], elapsed


def calendars_of(port, token):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/calendar/v3/users/me/calendarList?maxResults=250",
                 headers={"Authorization": "Bearer " + token})
    items = json.loads(conn.getresponse().read())["items"]
    conn.close()
    return [e["id"] for e in items]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="generate:4,5,2500,1")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    with EmulatorProcess(data=args.data, startup_timeout=300) as emu:
        users = [u["id"] for u in emu.client.users()]
        jobs = []
        for uid in users:
            token = emu.client.token("gen-refresh-" + uid)
            jobs += [(token, cal) for cal in calendars_of(emu.port, token)]
        print("data %s: %d users, %d calendars, %d events" % (
            args.data, len(users), len(jobs), emu.client.state()["events"]))
        for threads in [int(t) for t in args.threads.split(",")]:
            for use_gzip in (False, True):
                for label in ("cold", "warm"):
                    if label == "cold":
                        emu.client.settings(page_pattern=None)   # clears page + gzip caches
                        emu.client.invalidate_sync_tokens()      # new snapshots on next listing
                    events, wire, elapsed = run_pass(emu.port, jobs, threads, use_gzip)
                    print("%d conn  %-8s %-4s %7d events in %6.3f s = %8.0f events/s  (%6.1f MB on the wire)"
                          % (threads, "gzip" if use_gzip else "identity", label, events, elapsed,
                             events / elapsed, wire / 1e6))


if __name__ == "__main__":
    main()
