#!/usr/bin/python3
"""Measure how fast the emulator serves events pages (the speed figure in README.md).

    python3 test/emulator/bench_emulator.py [--data generate:4,5,2500,1] [--threads 1,2]
    python3 test/emulator/bench_emulator.py --steady 2000 [--workers 1,2] [--seconds 10]
        [--connections 32] [--profile FILE]

Starts the emulator, takes an access token per generated user, and pages through every
calendar with gcalsync's parameters (maxResults=2500, showDeleted=true, singleEvents=false)
over keep-alive connections, once cold (first listing: snapshot built, pages assembled)
and once warm (cached), without and with gzip. The client only reads bytes and finds
nextPageToken in the envelope head, so the figure is the server's, not a JSON parser's.

--steady USERS: what bench/run's steady phase asks of it: USERS users of one calendar of 5
events, each polled incrementally (calendarList.list and events.list with their sync tokens,
gcalsync's headers) over --connections keep-alive connections, as fast as it answers, for
--seconds; prints requests/s and the emulator's CPU per request (all its processes, from
/proc). The load comes from client processes that write prepared request bytes and read
answers by Content-Length, so they cost far less than the server. --profile FILE: run one
emulator process in-process with cProfile on every connection thread, write the stats.
"""

import argparse
import cProfile
import http.client
import json
import multiprocessing
import os
import pstats
import re
import selectors
import socket
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


# ---- --steady: incremental polls, as gcalsync's steady state makes them ----------------------

CLK = os.sysconf("SC_CLK_TCK")
POLL_HEADERS = ("Accept: application/json\r\nAccept-Encoding: gzip\r\n"
                "User-Agent: gcalsync/1.1 (emulator bench)\r\n")


def tree_cpu(pid):
    """CPU seconds (utime + stime) of a process and its children (one level: --workers)."""
    total = 0.0
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
        except OSError:
            pass
    return total


def poll_requests(port, users):
    """Per user: the bytes of its two incremental polls (calendarList, events) with sync tokens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for uid in users:
        body = urlencode({"client_id": "gcalsync-demo.apps.googleusercontent.com",
                          "client_secret": "demo-client-secret", "grant_type": "refresh_token",
                          "refresh_token": "gen-refresh-" + uid})
        conn.request("POST", "/token", body, {"Content-Type": "application/x-www-form-urlencoded"})
        token = json.loads(conn.getresponse().read())["access_token"]
        auth = {"Authorization": "Bearer " + token}
        conn.request("GET", "/calendar/v3/users/me/calendarList?maxResults=250&showDeleted=true&showHidden=true",
                     headers=auth)
        page = json.loads(conn.getresponse().read())
        list_path = "/calendar/v3/users/me/calendarList?%s" % urlencode(
            {"maxResults": 250, "syncToken": page["nextSyncToken"]})
        cal = page["items"][0]["id"]
        base = "/calendar/v3/calendars/%s/events" % quote(cal, safe="")
        conn.request("GET", base + "?" + urlencode(PARAMS), headers=auth)
        page = json.loads(conn.getresponse().read())
        events_path = base + "?" + urlencode({"maxResults": 2500, "showDeleted": "true",
                                              "syncToken": page["nextSyncToken"]})
        out.append(tuple(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n%s\r\n"
                          % (path, port, token, POLL_HEADERS)).encode() for path in (list_path, events_path)))
    conn.close()
    return out


def load_client(port, requests, connections, seconds, queue):
    """Keep `connections` requests in flight over keep-alive connections for `seconds`:
    (answers, non-200 answers, client CPU s) into queue."""
    sel = selectors.DefaultSelector()
    flat = [r for pair in requests for r in pair]
    state = {"next": 0, "done": 0, "bad": 0}

    def send(sock):
        sock.sendall(flat[state["next"] % len(flat)])
        state["next"] += 1

    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(sock, selectors.EVENT_READ, bytearray())
        send(sock)
    cpu0, deadline = time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(1.0):
            sock, buf = key.fileobj, key.data
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("the emulator closed a connection")
            buf += chunk
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = bytes(buf[:head_end]).lower() + b"\r\n"
                at = head.find(b"content-length:")
                length = int(head[at + 15:head.find(b"\r\n", at)]) if at >= 0 else 0
                if len(buf) < head_end + 4 + length:
                    break
                if not head.startswith(b"http/1.1 200"):
                    state["bad"] += 1
                del buf[:head_end + 4 + length]
                state["done"] += 1
                send(sock)
    queue.put((state["done"], state["bad"], time.process_time() - cpu0))


def run_steady(args):
    users = int(args.steady)
    data = "generate:%d,1,5,1" % users
    for workers in [int(w) for w in args.workers.split(",")]:
        with EmulatorProcess(data=data, args=["--workers", str(workers)] if workers > 1 else [],
                             startup_timeout=300) as emu:
            t0 = time.monotonic()
            requests = poll_requests(emu.port, ["user%04d" % (i + 1) for i in range(users)])
            print("%d users' token grant and first listings (one connection): %.0f µs per user"
                  % (users, 1e6 * (time.monotonic() - t0) / users), flush=True)
            measure_steady(emu.port, emu.proc.pid, requests, args, "%d worker process%s" % (
                workers, "es" if workers > 1 else ""))
    if args.profile:
        profile_steady(args, data, users)


def measure_steady(port, pid, requests, args, label):
    mp = multiprocessing.get_context("fork")
    queue = mp.Queue()
    nclients = max(1, args.clients)
    share = [requests[i::nclients] for i in range(nclients)]
    per = [args.connections // nclients + (1 if i < args.connections % nclients else 0) for i in range(nclients)]
    procs = [mp.Process(target=load_client, args=(port, share[i], per[i], args.seconds, queue))
             for i in range(nclients)]
    cpu0, t0 = tree_cpu(pid), time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get(timeout=args.seconds + 120) for _ in procs]
    elapsed, cpu = time.monotonic() - t0, tree_cpu(pid) - cpu0
    for p in procs:
        p.join()
    done, bad, client_cpu = (sum(r[i] for r in results) for i in range(3))
    print("%-22s %6d requests/s, emulator %5.1f µs CPU per request (%.2f cores), clients %.1f µs, %d not 200"
          % (label, done / elapsed, 1e6 * cpu / max(1, done), cpu / elapsed, 1e6 * client_cpu / max(1, done), bad),
          flush=True)
    return done / elapsed, cpu / max(1, done)


def profile_steady(args, data, users):
    """One emulator process in this process, cProfile on every connection thread."""
    import gcal_datasets
    import gcal_emulator
    lock, profiles = threading.Lock(), []
    original = gcal_emulator.Handler.handle

    def handle(self):
        p = cProfile.Profile()
        p.enable()
        try:
            original(self)
        finally:
            p.disable()
            with lock:
                profiles.append(p)

    gcal_emulator.Handler.handle = handle
    app = gcal_emulator.Emulator()
    app.store.load(gcal_datasets.from_cli(data))
    app.start()
    try:
        mp = multiprocessing.get_context("fork")
        queue = mp.Queue()
        requests = poll_requests(app.port, ["user%04d" % (i + 1) for i in range(users)])
        proc = mp.Process(target=load_client, args=(app.port, requests, args.connections, args.seconds, queue))
        proc.start()
        done = queue.get(timeout=args.seconds + 120)[0]
        proc.join()
    finally:
        app.stop()
    time.sleep(0.5)                     # connection threads end when the client hung up
    stats = pstats.Stats(*profiles) if profiles else None
    with open(args.profile, "w") as out:
        out.write("%d requests\n" % done)
        if stats:
            stats.stream = out
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(40)
    print("profile of %d requests written to %s" % (done, args.profile))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="generate:4,5,2500,1")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steady", metavar="USERS", help="incremental polls of USERS users (see above)")
    ap.add_argument("--workers", default="1", help="--steady: emulator --workers values to measure, e.g. 1,2,3")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32, help="--steady: connections (gcalsync: 32)")
    ap.add_argument("--clients", type=int, default=1, help="--steady: client processes")
    ap.add_argument("--profile", metavar="FILE", help="--steady: also profile one process, stats to FILE")
    args = ap.parse_args()
    if args.steady:
        run_steady(args)
        return
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
