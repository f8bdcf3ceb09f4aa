#!/usr/bin/python3
"""Differential test of gcal_busy and gcal_free_slots against gcal_busy.py (TAP 121 runs it).

    gcal_busy_difftest.py --dsn "host=... port=... dbname=postgres" [--owners 80] [--seed 15]

1. --owners generated owners, each with a primary calendar and a second one in zones with
   DST, are written straight into the mirror tables as the worker stores them: recurring
   series from gcal_rrgen (with moved, modified and cancelled exceptions), and single
   events that are tentative, cancelled, transparent, declined by the owner, accepted,
   working locations, out of office, all-day (opaque or transparent), zero-length, or
   crossing midnight. A share of the owners is `pending`, `revoked`, `error` or not
   linked.
2. gcal_busy over several windows (DST weeks, a year), for all owners at once, with the
   default calendars (the primary) and with both calendars named, must equal the oracle's
   merged busy ranges of every owner.
3. gcal_free_slots for random groups of owners, durations, steps, buffers, min_owners and
   open hours (in the owners' zones or named ones, with exception dates, crossing
   midnight) must equal the oracle's slots (stale and unlinked owners never free).

Prints one line per check and, for every mismatch, the query and the differing rows;
exits 1 on any mismatch. Needs python3-psycopg2 and python3-dateutil.
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402

import gcal_busy as B  # noqa: E402
import gcal_oracle as O  # noqa: E402
import gcal_rrgen as G  # noqa: E402

UTC = timezone.utc
ZONES = ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Europe/London", "Asia/Kolkata",
         "America/Los_Angeles")
STALE = ("pending", "revoked", "error")
WINDOWS = [("2025-03-03T00:00:00Z", "2025-03-17T00:00:00Z"),    # US DST change
           ("2025-03-24T00:00:00Z", "2025-04-07T00:00:00Z"),    # EU and Sydney changes
           ("2025-10-20T00:00:00Z", "2025-11-10T00:00:00Z"),    # autumn
           ("2025-06-02T13:00:00Z", "2025-06-02T17:30:00Z"),    # an afternoon
           ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")]    # a year


def utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _local(instant, zone):
    return {"dateTime": instant.astimezone(O.zone_of(zone)).isoformat(), "timeZone": zone}


def single(rng, eid, zone, me):
    """One single event with a random mix of the fields the busy rules read."""
    day = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(365))
    ev = {"id": eid, "summary": eid}
    roll = rng.random()
    if roll < 0.15:
        d = day.date() + timedelta(days=rng.choice((0, 0, 60, 150, 210)))
        ev["start"] = {"date": d.isoformat()}
        ev["end"] = {"date": (d + timedelta(days=rng.choice((1, 1, 2, 3)))).isoformat()}
        if rng.random() < 0.5:
            ev["transparency"] = "transparent"
    else:
        start = day + timedelta(minutes=15 * rng.randrange(96))
        # (longer than a day too: gcal_busy reads those through their own index,
        # the others from a day before the window on)
        length = timedelta(minutes=rng.choice((0, 15, 30, 45, 60, 90, 120, 600, 1440, 1455, 4320, 28800)))
        ev["start"], ev["end"] = _local(start, zone), _local(start + length, zone)
    r = rng.random()
    if r < 0.1:
        ev["status"] = "tentative"
    elif r < 0.18:
        ev["status"] = "cancelled"
    if rng.random() < 0.12:
        ev["transparency"] = "transparent"
    elif rng.random() < 0.1:
        ev["transparency"] = "opaque"
    e = rng.random()
    if e < 0.06:
        ev["eventType"] = "workingLocation"
    elif e < 0.1:
        ev["eventType"] = "outOfOffice"
    if rng.random() < 0.35:
        ev["attendees"] = [{"email": "someone@example.com", "responseStatus": "accepted"},
                           {"email": me, "self": True,
                            "responseStatus": rng.choice(("accepted", "declined", "declined",
                                                          "tentative", "needsAction"))}]
    return ev


def owner_account(rng, n):
    """(owner, state, [(calendar id, zone, events)]) of one generated owner."""
    owner = "owner%03d" % n
    me = owner + "@example.com"
    state = rng.choice(("active",) * 6 + ("backoff",) + STALE + (None,))
    cals = []
    for k, cal in enumerate((me, owner + "-side@example.com")):
        zone = rng.choice(ZONES)
        events = []
        for s in range(rng.choice((2, 4, 6))):
            master, _, _ = G.random_series(rng, n * 100 + k * 10 + s, zone_name=zone if rng.random() < 0.7 else None)
            if rng.random() < 0.3:
                master["attendees"] = [{"email": me, "self": True,
                                        "responseStatus": rng.choice(("accepted", "declined"))}]
            if rng.random() < 0.15:
                master["transparency"] = "transparent"
            events.append(master)
            events += G._exceptions(rng, master, zone)
        events += [single(rng, "s%03d%d%02d" % (n, k, i), zone, me) for i in range(rng.choice((10, 30, 60)))]
        cals.append((cal, zone, events))
    return owner, state, cals


def event_row(owner, cal, ev):
    ost = ev.get("originalStartTime") or {}
    start, end = ev.get("start") or {}, ev.get("end") or {}
    me = next((a.get("responseStatus") for a in ev.get("attendees") or () if a.get("self")), None)
    return (owner, cal, ev["id"], ev.get("status", "confirmed"), ev.get("summary"),
            start.get("dateTime"), end.get("dateTime"), start.get("date"), end.get("date"),
            start.get("timeZone"), ev.get("recurrence"), ev.get("recurringEventId"),
            ost.get("dateTime"), ost.get("date"), ev.get("transparency", "opaque"),
            ev.get("eventType", "default"), me, json.dumps(ev))


def load(cur, accounts):
    owners = [a[0] for a in accounts]
    for table in ("event", "calendar_list", "calendar", "owner"):
        cur.execute("DELETE FROM gcalsync.%s WHERE owner = ANY (%%s)" % table, (owners,))
    rows = []
    for owner, state, cals in accounts:
        if state is not None:
            # Never due (next_sync_at infinity): the worker must not sync these made-up
            # owners (their token is no token: it would set them to `error` while the
            # comparisons run, and the oracle keeps the states written here).
            cur.execute("INSERT INTO gcalsync.owner (owner, refresh_token, state, next_sync_at) "
                        "VALUES (%s, '\\x00', %s, 'infinity')", (owner, state))
        for k, (cal, zone, events) in enumerate(cals):
            cur.execute("INSERT INTO gcalsync.calendar_list (owner, calendar_id, summary, time_zone, is_primary, "
                        "access_role, selected, data) VALUES (%s, %s, %s, %s, %s, 'owner', true, '{}')",
                        (owner, cal, cal, zone, k == 0))
            rows += [event_row(owner, cal, ev) for ev in events]
    psycopg2.extras.execute_batch(
        cur, "INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, summary, start_at, end_at, "
             "start_date, end_date, time_zone, recurrence, recurring_event_id, original_start_at, "
             "original_start_date, transparency, event_type, self_response, data) "
             "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows, page_size=500)
    return len(rows)


def oracle_cals(cals):
    """(calendar id, zone, events) → what gcal_busy.busy_ranges takes."""
    return [(cal, events, zone) for cal, zone, events in cals]


def db_busy(cur, owners, tmin, tmax, calendar_ids=None):
    cur.execute("SELECT owner, lower(busy), upper(busy) FROM gcal_busy(%s, %s, %s, %s)",
                (owners, tmin, tmax, calendar_ids))
    out = {}
    for owner, lo, hi in cur.fetchall():
        out.setdefault(owner, []).append((lo, hi))
    return out


def random_open_hours(rng, owners, zones):
    def block():
        b = {"days": sorted(rng.sample(range(7), rng.choice((1, 3, 5, 7)))),
             "start": "%02d:%02d" % (rng.choice((0, 7, 8, 9, 22)), rng.choice((0, 30))),
             "end": rng.choice(("12:00", "17:00", "18:30", "24:00", "02:00"))}
        if b["start"] == b["end"]:
            b["end"] = "23:00"
        if rng.random() < 0.4:
            b["timezone"] = rng.choice(zones)
        if rng.random() < 0.3:
            b["exdates"] = ["2025-03-%02d" % d for d in rng.sample(range(1, 31), 3)]
        return b
    if rng.random() < 0.5:
        return [block() for _ in range(rng.choice((1, 2)))]
    spec = {"owners": {o: [block()] for o in rng.sample(owners, max(1, len(owners) // 2))}}
    if rng.random() < 0.7:
        spec["default"] = [block()]
    return spec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--owners", type=int, default=80)
    ap.add_argument("--slot-queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--max-report", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    conn = psycopg2.connect(args.dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.execute("SET client_min_messages = error")   # the stale owners' WARNINGs

    t0 = time.monotonic()
    accounts = [owner_account(rng, n) for n in range(args.owners)]
    rows = load(cur, accounts)
    by_owner = {a[0]: a for a in accounts}
    owners = [a[0] for a in accounts]
    print("loaded %d events of %d owners in %.1f s" % (rows, len(owners), time.monotonic() - t0))

    # 2. gcal_busy for all owners at once.
    mismatches, ranges, checks = [], 0, 0
    for a, b in WINDOWS:
        tmin, tmax = utc(a), utc(b)
        for named in (False, True):
            cal_ids = None
            if named:
                cal_ids = [c[0] for acc in accounts for c in acc[2]] + ["nobody@example.com"]
            got = db_busy(cur, owners, tmin, tmax, cal_ids)
            for owner, state, cals in accounts:
                if state is None:
                    want = []
                else:
                    want = B.busy_ranges(oracle_cals(cals if named else cals[:1]), tmin, tmax)
                checks += 1
                ranges += len(want)
                if got.get(owner, []) != want:
                    mismatches.append("MISMATCH gcal_busy %s window [%s, %s) calendars %s:\n  only oracle: %s\n"
                                      "  only gcal_busy: %s" % (owner, a, b, "both" if named else "primary",
                                                                [r for r in want if r not in got.get(owner, [])],
                                                                [r for r in got.get(owner, []) if r not in want]))
    print("gcal_busy: compared %d owner-windows (%d busy ranges): %d mismatches" % (checks, ranges, len(mismatches)))
    busy_bad = len(mismatches)

    # 3. gcal_free_slots for random groups.
    slots, queries = 0, 0
    for q in range(args.slot_queries):
        group = rng.sample(owners, rng.choice((1, 2, 3, 5)))
        a, b = rng.choice(WINDOWS[:4])
        tmin = utc(a) + timedelta(hours=rng.choice((0, 3, 25)))
        tmax = min(utc(b), tmin + timedelta(days=rng.choice((1, 3, 7))))
        if tmax <= tmin:
            continue
        duration = timedelta(minutes=rng.choice((15, 30, 60, 90)))
        step = timedelta(minutes=rng.choice((15, 30, 60)))
        bb = timedelta(minutes=rng.choice((0, 0, 5, 15)))
        ba = timedelta(minutes=rng.choice((0, 0, 10)))
        min_owners = rng.choice((None, None, 1, len(group)))
        hours = random_open_hours(rng, group, ZONES) if rng.random() < 0.6 else None
        cur.execute("SELECT lower(slot), upper(slot), free_owners FROM gcal_free_slots(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (group, tmin, tmax, duration, step, min_owners, bb, ba,
                     json.dumps(hours) if hours is not None else None))
        got = [(lo, hi, list(f)) for lo, hi, f in cur.fetchall()]
        busy, opens, never = {}, {}, set()
        for o in group:
            _, state, cals = by_owner[o]
            busy[o] = B.busy_ranges(oracle_cals(cals[:1]), tmin - bb, tmax + ba) if state is not None else []
            if state is None or state in STALE:
                never.add(o)
            r = B.open_ranges(hours, o, cals[0][1], tmin, tmax)
            if r is not None:
                opens[o] = r
        want = [(s, e, f) for s, e, f in B.free_slots(busy, tmin, tmax, duration, step, min_owners, bb, ba,
                                                          opens, never)]
        queries += 1
        slots += len(want)
        if got != want:
            mismatches.append("MISMATCH gcal_free_slots owners %s window [%s, %s) duration %s step %s min_owners %s "
                              "buffers %s/%s open_hours %s:\n  only oracle: %s\n  only gcal_free_slots: %s"
                              % (group, tmin, tmax, duration, step, min_owners, bb, ba, json.dumps(hours),
                                 [w for w in want if w not in got][:5], [g for g in got if g not in want][:5]))
    print("gcal_free_slots: compared %d queries (%d slots): %d mismatches"
          % (queries, slots, len(mismatches) - busy_bad))
    for m in mismatches[:args.max_report]:
        print(m)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
