#!/usr/bin/python3
"""gcalsync on a Citus cluster against a single server, in the same run (issue 19).

Starts the emulator with generated owners, then in turn (1) a single server and (2) a
three-node Citus cluster on localhost (coordinator + 2 workers, the mirror tables
distributed by gcal_distribute), and measures on each:

- the initial sync: every owner linked at once, the time until all have synced;
- gcal_busy of every owner over a week, and of 10 owners (median of 3 calls each);
- gcal_instances of one owner over a year (median of 5).

On one machine the Citus cluster can only show its overhead (every node shares the
same cores and disk), never a speed-up: bench/README.md says how to read the figures.

    bench/citus.py [--owners 1000] [--calendars 2] [--events 25] [--out FILE]
"""
import argparse
import importlib.machinery
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
run = importlib.util.module_from_spec(_spec)
_loader.exec_module(run)   # the harness's processes (Emulator, Cluster) and helpers

CITUS_CONF = {"shared_preload_libraries": "'citus,gcalsync'", "citus.node_conninfo": "'sslmode=disable'",
              "max_prepared_transactions": 20}
WEEK = ("2025-03-03T00:00:00Z", "2025-03-10T00:00:00Z")
YEAR = ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")


def server_cpu(nodes):
    """CPU seconds (user + system) used so far by the servers' processes: each
    node's postmaster and its children (backends, the worker, Citus's cached
    connections). Processes that exited are not counted: the client's and
    Citus's connections stay open across the timed calls."""
    tick = os.sysconf("SC_CLK_TCK")
    pms = set()
    for n in nodes:
        try:
            with open(os.path.join(n.dir, "postmaster.pid")) as f:
                pms.add(int(f.readline()))
        except (OSError, ValueError):
            pass
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) in pms or int(fields[1]) in pms:   # fields[1]: ppid
            total += int(fields[11]) + int(fields[12])   # utime, stime
    return total / tick


def timed(cl, query, params, n, nodes=None):
    """Median wall seconds of n calls, rows, and median server CPU seconds per call."""
    times, cpus = [], []
    nodes = nodes or [cl]
    for _ in range(n):
        c0 = server_cpu(nodes)
        t0 = time.monotonic()
        rows = cl.sql(query, params)
        times.append(time.monotonic() - t0)
        cpus.append(server_cpu(nodes) - c0)
    return statistics.median(times), len(rows), statistics.median(cpus)


def measure(cl, owners, n_owners, nodes=None):
    t0 = time.monotonic()
    run.link_all(cl, owners)
    ok = run.wait_all_synced(cl, n_owners, 3600)
    seconds = time.monotonic() - t0
    events = cl.one("SELECT count(*) FROM gcalsync.event")
    names = [o for o, _ in owners]
    busy_all, ranges, busy_all_cpu = timed(cl, "SELECT * FROM gcal_busy(%s, %s, %s)", (names, WEEK[0], WEEK[1]), 5,
                                           nodes)
    busy_10, _, busy_10_cpu = timed(cl, "SELECT * FROM gcal_busy(%s, %s, %s)", (names[:10], WEEK[0], WEEK[1]), 5,
                                    nodes)
    inst, inst_rows, _ = timed(cl, "SELECT * FROM gcal_instances(%s, %s, %s)", (names[0], YEAR[0], YEAR[1]), 5)
    status, _, _ = timed(cl, "SELECT * FROM gcalsync.status", None, 3)
    r = {"all_synced": ok, "owners": n_owners, "events": events, "initial_sync_s": round(seconds, 2),
         "initial_sync_ms_per_owner": round(1000 * seconds / n_owners, 2),
         "events_per_s": round(events / seconds) if seconds else 0,
         "gcal_busy_all_s": round(busy_all, 3), "gcal_busy_all_ranges": ranges,
         "gcal_busy_all_ms_per_owner": round(1000 * busy_all / n_owners, 3),
         "gcal_busy_all_server_cpu_ms": round(1000 * busy_all_cpu), "gcal_busy_10_ms": round(1000 * busy_10, 1),
         "gcal_busy_10_server_cpu_ms": round(1000 * busy_10_cpu),
         "gcal_instances_1_owner_year_ms": round(1000 * inst, 1), "gcal_instances_rows": inst_rows,
         "status_view_all_ms": round(1000 * status, 1)}
    run.log(json.dumps(r))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--owners", type=int, default=1000)
    ap.add_argument("--calendars", type=int, default=2)
    ap.add_argument("--events", type=int, default=25)
    ap.add_argument("--shard-count", type=int, default=32)
    ap.add_argument("--out", help="write the results (JSON) here")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gcal-citus-bench.", dir=args.workdir)
    os.chmod(work, 0o777)
    emu = run.Emulator(work, "emulator").start("generate:%d,%d,%d,1" % (args.owners, args.calendars, args.events), 600)
    owners = run.owners_of(args.owners, "user")
    clusters, results = [], {"machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
                            "owners": args.owners, "calendars": args.calendars, "events": args.events}
    try:
        single = run.Cluster(work, "single", emu, {}).start()
        clusters.append(single)
        results["single"] = measure(single, owners, args.owners)
        single.stop()
        # The cluster: gcalsync is created on each node (its tables exist everywhere),
        # Citus next; the coordinator's worker syncs, the workers' find no owners.
        nodes = [run.Cluster(work, name, emu, CITUS_CONF).start() for name in ("coordinator", "worker1", "worker2")]
        clusters.extend(nodes)
        coord = nodes[0]
        for n in nodes:
            n.sql("CREATE EXTENSION citus")
        coord.sql("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (coord.port,))
        for n in nodes[1:]:
            coord.sql("SELECT citus_add_node('127.0.0.1', %s)", (n.port,))
        coord.sql("SELECT * FROM gcal_distribute(%s)", (args.shard_count,))
        results["citus"] = measure(coord, owners, args.owners, nodes)
        results["citus"]["shard_count"] = args.shard_count
        results["machine"]["load_after"] = os.getloadavg()
    finally:
        for c in clusters:
            try:
                c.stop()
            except Exception as e:  # noqa: BLE001 - report and go on stopping the others
                print("stopping %s: %s" % (c.dir, e), file=sys.stderr)
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    ok = results["single"]["all_synced"] and results["citus"]["all_synced"] \
        and results["single"]["events"] == results["citus"]["events"] \
        and results["single"]["gcal_busy_all_ranges"] == results["citus"]["gcal_busy_all_ranges"]
    print("ok: both synced every owner, the same events and busy ranges" if ok else "FAILED: the two runs differ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
