#!/usr/bin/python3
"""Differential test of gcal_instances against gcal_oracle (TAP 105 runs it).

    gcal_difftest.py --dsn "host=... port=... dbname=postgres" [--count 3000] [--seed 14]

1. PostgreSQL's `timestamp AT TIME ZONE` is compared with the oracle's reading of wall
   clock times (pg_instant) at every DST transition 2024-2027 of the test zones, 15 minutes
   apart around each: gap and fold times included.
2. --count generated series (gcal_rrgen.random_series), each in a calendar of its own, and
   the fixed pitfall suite (gcal_rrgen.PITFALLS) are inserted straight into the mirror
   tables of owner --owner, as the worker stores them (typed columns + data).
3. For every series and each of its windows (and the pitfalls with and without
   show_deleted), gcal_instances(owner, timeMin, timeMax, ARRAY[calendar]) is compared with
   the oracle: instance ids, status, start and end, in order.

Prints one line per check and, for every mismatch, the rule, the zones, the window and the
differing instances; exits 1 on any mismatch. Needs python3-psycopg2 and python3-dateutil.
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psycopg2  # noqa: E402

import gcal_oracle as O  # noqa: E402
import gcal_rrgen as G  # noqa: E402

UTC = timezone.utc
BATCH = 400


def check_at_time_zone(cur):
    """Oracle pg_instant == PostgreSQL AT TIME ZONE around every transition; (n, errors)."""
    walls, zones = [], []
    for zname in G.ZONES:
        zone = O.zone_of(zname)
        t = datetime(2024, 1, 1, tzinfo=UTC)
        while True:
            t = G._next_transition(zone, t + timedelta(hours=1))
            if t is None or t.year > 2027:
                break
            base = t.astimezone(zone).replace(tzinfo=None, second=0)
            for k in range(-12, 13):
                walls.append(base + timedelta(minutes=15 * k))
                zones.append(zname)
    cur.execute("SELECT (w AT TIME ZONE z) FROM unnest(%s::timestamp[], %s::text[]) AS u(w, z)",
                (walls, zones))
    errors = []
    for (got,), w, z in zip(cur.fetchall(), walls, zones):
        want = O.pg_instant(w, O.zone_of(z))
        if got != want:
            errors.append("%s %s: PostgreSQL %s, oracle %s" % (w, z, got, want))
    return len(walls), errors


def _ts(edt):
    return edt.get("dateTime") if edt else None


def _d(edt):
    return edt.get("date") if edt else None


def event_row(owner, cal, ev):
    """The gcalsync.event row of an event, typed columns lifted as the worker lifts them."""
    ost = ev.get("originalStartTime") or {}
    start, end = ev.get("start"), ev.get("end")
    return (owner, cal, ev["id"], ev.get("status", "confirmed"), ev.get("summary"),
            _ts(start), _ts(end), _d(start), _d(end), (start or {}).get("timeZone"),
            ev.get("recurrence"), ev.get("recurringEventId"), _ts(ost), _d(ost),
            ev.get("transparency", "opaque"), ev.get("eventType", "default"), json.dumps(ev))


def load(cur, owner, calendars):
    """calendars: [(calendar_id, zone, events)] → rows in calendar_list, calendar, event."""
    cur.execute("DELETE FROM gcalsync.event WHERE owner = %s", (owner,))
    cur.execute("DELETE FROM gcalsync.calendar_list WHERE owner = %s", (owner,))
    cur.execute("DELETE FROM gcalsync.calendar WHERE owner = %s", (owner,))
    for cal, zone, _ in calendars:
        doc = json.dumps({"kind": "calendar#calendarListEntry", "id": cal, "timeZone": zone,
                          "accessRole": "owner", "summary": cal})
        cur.execute("INSERT INTO gcalsync.calendar_list (owner, calendar_id, summary, time_zone, "
                    "access_role, selected, data) VALUES (%s, %s, %s, %s, 'owner', true, %s)",
                    (owner, cal, cal, zone, doc))
        cur.execute("INSERT INTO gcalsync.calendar (owner, calendar_id, summary, time_zone, data) "
                    "VALUES (%s, %s, %s, %s, %s)", (owner, cal, cal, zone, doc))
    rows = [event_row(owner, cal, ev) for cal, _, evs in calendars for ev in evs]
    cur.executemany(
        "INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, summary, start_at, "
        "end_at, start_date, end_date, time_zone, recurrence, recurring_event_id, "
        "original_start_at, original_start_date, transparency, event_type, data) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
    return len(rows)


def db_instances(cur, owner, queries):
    """queries: [(calendar_id, tmin, tmax, show_deleted)] → per query the ordered rows."""
    out = [[] for _ in queries]
    for lo in range(0, len(queries), BATCH):
        part = queries[lo:lo + BATCH]
        cur.execute(
            "SELECT q.n, i.event_id, i.status, i.start_at, i.end_at, i.start_date, i.end_date "
            "FROM unnest(%s::int[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bool[]) "
            "  AS q(n, cal, tmin, tmax, del), "
            "LATERAL gcal_instances(%s, q.tmin, q.tmax, ARRAY[q.cal], q.del) "
            "  WITH ORDINALITY AS i "
            "ORDER BY q.n, i.ordinality",
            ([lo + k for k in range(len(part))], [p[0] for p in part], [p[1] for p in part],
             [p[2] for p in part], [p[3] for p in part], owner))
        for n, eid, status, sa, ea, sd, ed in cur.fetchall():
            out[n].append((eid, status, sd.isoformat() if sd else sa, ed.isoformat() if ed else ea))
    return out


def oracle_instances(cal, zone, events, tmin, tmax, show_deleted):
    rows = []
    for i in O.expand_calendar(cal, events, tmin, tmax, show_deleted, zone):
        if i.all_day:
            rows.append((i.id, i.status, i.dates[0].isoformat(), i.dates[1].isoformat()))
        else:
            rows.append((i.id, i.status, i.start, i.end))
    return rows


def _fmt(row):
    return "(%s)" % ", ".join(str(x) for x in row)


def describe(cal, zone, events, q, want, got):
    lines = ["MISMATCH calendar %s (zone %s), window [%s, %s) show_deleted=%s"
             % (cal, zone, q[1].isoformat(), q[2].isoformat(), q[3])]
    for ev in events:
        if ev.get("recurrence"):
            lines.append("  series %s start %s end %s zone %s" % (
                ev["id"], json.dumps(ev["start"]), json.dumps(ev["end"]),
                ev["start"].get("timeZone", "(calendar's)")))
            lines += ["    " + r for r in ev["recurrence"]]
        elif ev.get("recurringEventId"):
            lines.append("  exception %s %s" % (ev["id"], json.dumps(
                {k: ev.get(k) for k in ("status", "originalStartTime", "start", "end")})))
    ws, gs = set(want), set(got)
    lines += ["  only in the oracle:        " + _fmt(r) for r in want if r not in gs]
    lines += ["  only in gcal_instances:    " + _fmt(r) for r in got if r not in ws]
    if ws == gs:
        lines.append("  same instances, different order:")
        lines.append("    oracle:        " + " ".join(r[0] for r in want))
        lines.append("    gcal_instances: " + " ".join(r[0] for r in got))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--owner", default="difftest@example.com")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--max-report", type=int, default=25)
    args = ap.parse_args()
    t0 = time.monotonic()
    conn = psycopg2.connect(args.dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")

    n, errors = check_at_time_zone(cur)
    print("AT TIME ZONE: %d wall-clock times around DST transitions, %d disagree" % (n, len(errors)))
    for e in errors[:args.max_report]:
        print("  " + e)

    rng = random.Random(args.seed)
    calendars, queries = [], []          # queries: (cal, tmin, tmax, show_deleted, cal index)
    for k, (name, zone, events, windows) in enumerate(G.PITFALLS):
        cal = "pitfall%02d@example.com" % k
        calendars.append((cal, zone, events))
        for a, b in windows:
            for deleted in (False, True):
                queries.append((cal, datetime.fromisoformat(a.replace("Z", "+00:00")),
                                datetime.fromisoformat(b.replace("Z", "+00:00")), deleted,
                                len(calendars) - 1))
    n_pitfalls = len(queries)
    for i in range(args.count):
        master, zone, windows = G.random_series(rng, i)
        cal = "series%05d@example.com" % i
        calendars.append((cal, zone, [master]))
        for a, b in windows:
            queries.append((cal, a, b, False, len(calendars) - 1))
    rows = load(cur, args.owner, calendars)
    t1 = time.monotonic()
    print("loaded %d events in %d calendars (%d pitfall windows, %d generated) in %.1f s"
          % (rows, len(calendars), n_pitfalls, len(queries) - n_pitfalls, t1 - t0))

    got_all = db_instances(cur, args.owner, [q[:4] for q in queries])
    t2 = time.monotonic()
    mismatches, compared, instances = [], 0, 0
    for q, got in zip(queries, got_all):
        cal, zone, events = calendars[q[4]]
        try:
            want = oracle_instances(cal, zone, events, q[1], q[2], q[3])
        except O.OracleError as err:
            mismatches.append("ORACLE ERROR %s: %s" % (cal, err))
            continue
        compared += 1
        instances += len(want)
        if want != got:
            mismatches.append(describe(cal, zone, events, q, want, got))
    t3 = time.monotonic()
    pit_bad = sum(1 for m in mismatches if "pitfall" in m.split("\n")[0])
    print("compared %d windows (%d instances): %d mismatches (%d in pitfalls); "
          "gcal_instances %.1f s, oracle %.1f s" % (compared, instances, len(mismatches), pit_bad,
                                                   t2 - t1, t3 - t2))
    for m in mismatches[:args.max_report]:
        print(m)
    if len(mismatches) > args.max_report:
        print("... and %d more mismatches" % (len(mismatches) - args.max_report))
    return 1 if mismatches or errors else 0


if __name__ == "__main__":
    sys.exit(main())
