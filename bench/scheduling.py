#!/usr/bin/python3
"""bench/scheduling.py — gcal_busy and gcal_free_slots (issue 15), each beside a baseline.

    bench/scheduling.py                 1,000 owners, the figures below (a few minutes)
    bench/scheduling.py --owners 200    a smaller population
    bench/scheduling.py --smoke         tiny, proves the pipeline works

A throwaway cluster (as bench/run makes them: initdb as the postgres user, gcalsync
preloaded, the bundled emulator with no data, so the worker is idle) gets a generated
population written straight into the mirror tables, as the worker stores it. Each owner
has (seeded, reproducible):

  - a primary calendar in one of six zones (New York, Los Angeles, London, Berlin, Kolkata,
    Sydney) and a second calendar;
  - about 300 single events over the two years around the measured week, 8-18 h local time,
    30-120 minutes; 20 % are invitations the owner declined, 10 % transparent, 3 % all-day;
  - 12 recurring series that started 1-5 years back (daily on weekdays, weekly, every two
    weeks, monthly on the 2nd Tuesday; some with COUNT or UNTIL), each with a few moved or
    cancelled exceptions in the measured weeks.

Measured (median of --repeat runs, client-side wall time of the whole statement):

  1. gcal_busy for all owners over one week (target < 100 ms at 1,000 owners), beside the
     obvious SQL a user would write over gcal_instances (LATERAL per owner, range_agg);
  2. gcal_free_slots for 5 owners over two weeks, 30-minute slots every 15 minutes, office
     hours in each owner's zone (target < 20 ms), beside the obvious SQL (generate_series of
     slots, NOT EXISTS over gcal_busy, open hours by AT TIME ZONE);
  3. Google's freebusy.query takes at most 50 calendars per request: the number of
     requests the same question costs there.

Prints a table; with --readme, replaces the scheduling block of bench/README.md.
"""

import argparse
import importlib.machinery
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
R = importlib.util.module_from_spec(_spec)
_loader.exec_module(R)

import psycopg2.extras  # noqa: E402  (bench/run checked it is there)

UTC = timezone.utc
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Kolkata",
         "Australia/Sydney")
WEEK = datetime(2025, 3, 10, tzinfo=UTC)        # a Monday; New York changed to DST the day before
OFFICE = '[{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}]'


def population(rng, n_owners):
    """Rows of gcalsync.owner, calendar_list and event for n_owners generated owners."""
    from zoneinfo import ZoneInfo
    owners, cals, events = [], [], []
    for n in range(n_owners):
        owner = "owner%05d" % n
        me = owner + "@example.com"
        zone = rng.choice(ZONES)
        z = ZoneInfo(zone)
        owners.append(owner)
        cals.append((owner, me, zone, True))
        cals.append((owner, owner + "-side", zone, False))

        def ev(eid, start, end, **extra):
            data = {"id": eid, "start": start, "end": end}
            data.update(extra)
            self_resp = None
            if "attendees" in extra:
                self_resp = extra["attendees"][-1]["responseStatus"]
            return [owner, me, eid, extra.get("status", "confirmed"), extra.get("summary", eid),
                    start.get("dateTime"), end.get("dateTime"), start.get("date"), end.get("date"),
                    start.get("timeZone"), extra.get("recurrence"), extra.get("recurringEventId"),
                    (extra.get("originalStartTime") or {}).get("dateTime"), None,
                    extra.get("transparency", "opaque"), "default", self_resp, json.dumps(data)]

        def local(d, minutes):
            t = datetime.combine(d, datetime.min.time()) + timedelta(minutes=minutes)
            return {"dateTime": t.replace(tzinfo=z).isoformat(), "timeZone": zone}

        for i in range(rng.randint(250, 350)):
            d = WEEK.date() + timedelta(days=rng.randint(-365, 365))
            if rng.random() < 0.03:
                events.append(ev("s%dad" % i, {"date": d.isoformat()},
                                 {"date": (d + timedelta(days=1)).isoformat()}))
                continue
            m = rng.randint(8 * 4, 18 * 4) * 15
            extra = {}
            if rng.random() < 0.2:
                extra["attendees"] = [{"email": "boss@example.com", "responseStatus": "accepted"},
                                      {"email": me, "self": True, "responseStatus": "declined"}]
            elif rng.random() < 0.1:
                extra["transparency"] = "transparent"
            events.append(ev("s%d" % i, local(d, m), local(d, m + rng.choice((30, 45, 60, 90, 120))), **extra))
        for s in range(12):
            first = WEEK.date() - timedelta(days=rng.randint(365, 5 * 365))
            first -= timedelta(days=first.weekday())                      # a Monday
            m = rng.randint(8 * 2, 17 * 2) * 30
            rule = rng.choice(("RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "RRULE:FREQ=WEEKLY",
                               "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", "RRULE:FREQ=MONTHLY;BYDAY=2TU",
                               "RRULE:FREQ=WEEKLY;COUNT=400", "RRULE:FREQ=WEEKLY;UNTIL=20251231T000000Z"))
            day = first + timedelta(days=rng.randint(0, 4))
            mid = "r%02d%s" % (s, owner)
            events.append(ev(mid, local(day, m), local(day, m + 30), recurrence=[rule]))
            for orig_day in sorted({WEEK.date() + timedelta(days=rng.randint(0, 13))
                                    for _ in range(rng.randint(0, 3))}):
                orig = local(orig_day, m)
                orig_utc = datetime.fromisoformat(orig["dateTime"]).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
                eid = "%s_%s" % (mid, orig_utc)
                if rng.random() < 0.5:
                    events.append(ev(eid, {}, {}, status="cancelled", recurringEventId=mid,
                                     originalStartTime=orig))
                    events[-1][5:10] = [None, None, None, None, None]
                else:
                    events.append(ev(eid, local(orig_day, m + 60), local(orig_day, m + 90),
                                     recurringEventId=mid, originalStartTime=orig))
    return owners, cals, events


def load(cl, owners, cals, events):
    conn = cl.connect()
    conn.autocommit = True
    cur = conn.cursor()
    psycopg2.extras.execute_values(
        cur, "INSERT INTO gcalsync.owner (owner, refresh_token, state) VALUES %s",
        [(o, b"\x00", "active") for o in owners], page_size=1000)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO gcalsync.calendar_list (owner, calendar_id, time_zone, is_primary, data) VALUES %s",
        [c + ("{}",) for c in cals], page_size=1000)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO gcalsync.event (owner, calendar_id, event_id, status, summary, start_at, end_at, "
             "start_date, end_date, time_zone, recurrence, recurring_event_id, original_start_at, "
             "original_start_date, transparency, event_type, self_response, data) VALUES %s",
        events, page_size=2000)
    cur.execute("VACUUM ANALYZE gcalsync.event")
    cur.execute("VACUUM ANALYZE gcalsync.calendar_list")
    cur.execute("VACUUM ANALYZE gcalsync.owner")
    return conn


def backend_cpu(pid):
    """CPU seconds the backend has run (/proc/<pid>/schedstat: nanoseconds on a CPU)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def timed(cur, sql, params, repeat):
    """(median wall ms, median backend CPU ms, rows) of a statement run `repeat` times after
    one warm-up run. CPU is the backend's own (on a shared machine the wall time also holds
    the time it waited for a core)."""
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    cur.execute(sql, params)
    rows = len(cur.fetchall())
    times, cpus = [], []
    for _ in range(repeat):
        c = backend_cpu(pid)
        t = time.perf_counter()
        cur.execute(sql, params)
        cur.fetchall()
        times.append((time.perf_counter() - t) * 1000)
        cpus.append((backend_cpu(pid) - c) * 1000)
    return statistics.median(times), statistics.median(cpus), rows


BASELINE_BUSY = """
SELECT o.owner, pg_catalog.unnest(range_agg(tstzrange(coalesce(i.start_at, i.start_date::timestamp AT TIME ZONE cl.time_zone),
                                                       coalesce(i.end_at, i.end_date::timestamp AT TIME ZONE cl.time_zone)))
                                  * tstzmultirange(tstzrange(%(a)s, %(b)s)))
  FROM unnest(%(owners)s::text[]) AS o(owner)
  JOIN gcalsync.calendar_list cl ON cl.owner = o.owner AND cl.is_primary AND NOT cl.deleted
 CROSS JOIN LATERAL gcal_instances(o.owner, %(a)s, %(b)s, ARRAY[cl.calendar_id]) AS i
 WHERE i.status <> 'cancelled' AND i.transparency = 'opaque'
   AND i.self_response IS DISTINCT FROM 'declined' AND i.event_type <> 'workingLocation'
 GROUP BY o.owner
"""

BASELINE_SLOTS = """
WITH slot AS (
    SELECT tstzrange(s, s + interval '30 min') AS r
      FROM generate_series(%(a)s::timestamptz, %(b)s::timestamptz - interval '30 min', interval '15 min') AS s
), busy AS (
    SELECT owner, busy FROM gcal_busy(%(owners)s, %(a)s, %(b)s)
), zone AS (
    SELECT cl.owner, cl.time_zone FROM gcalsync.calendar_list cl
     WHERE cl.owner = ANY (%(owners)s) AND cl.is_primary
)
SELECT slot.r FROM slot
 WHERE NOT EXISTS (SELECT FROM busy WHERE busy.busy && slot.r)
   AND NOT EXISTS (
       SELECT FROM zone
        WHERE extract(isodow FROM lower(slot.r) AT TIME ZONE zone.time_zone) > 5
           OR (lower(slot.r) AT TIME ZONE zone.time_zone)::time < '09:00'
           OR (upper(slot.r) AT TIME ZONE zone.time_zone) >
              date_trunc('day', lower(slot.r) AT TIME ZONE zone.time_zone) + interval '17 hours')
"""


# gcal_busy as 1.1 first shipped it (PL/pgSQL over gcal_instances, one call per
# owner), made in pg_temp so the C gcal_busy is measured beside it in the same
# run; its rows must equal the C version's.
BEFORE_BUSY = """
CREATE FUNCTION pg_temp.gcal_busy_before(owners text[], time_min timestamptz, time_max timestamptz)
RETURNS TABLE (owner text, busy tstzrange) LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    WITH o AS (
        SELECT DISTINCT u.owner FROM unnest(owners) AS u(owner)
         WHERE EXISTS (SELECT FROM gcalsync.status s WHERE s.owner = u.owner)
    ), cal AS (
        SELECT o.owner, COALESCE(array_agg(cl.calendar_id) FILTER (WHERE cl.calendar_id IS NOT NULL), '{}') AS ids
          FROM o LEFT JOIN gcalsync.calendar_list cl ON cl.owner = o.owner AND NOT cl.deleted AND cl.is_primary
         GROUP BY o.owner
    ), span AS (
        SELECT cal.owner, COALESCE(i.start_at, (i.start_date::timestamp) AT TIME ZONE z.zone) AS lo,
               COALESCE(i.end_at, (i.end_date::timestamp) AT TIME ZONE z.zone) AS hi
          FROM cal CROSS JOIN LATERAL %(schema)s.gcal_instances(cal.owner, time_min, time_max, cal.ids, false) AS i
          LEFT JOIN LATERAL (SELECT COALESCE(cl.time_zone, 'UTC') AS zone FROM gcalsync.calendar_list cl
                              WHERE cl.owner = cal.owner AND cl.calendar_id = i.calendar_id) AS z ON i.start_at IS NULL
         WHERE i.status = ANY (ARRAY['confirmed', 'tentative']) AND i.transparency = 'opaque'
           AND i.event_type <> 'workingLocation' AND i.self_response IS DISTINCT FROM 'declined'
    )
    SELECT s.owner, unnest(range_agg(tstzrange(s.lo, s.hi, '[)')) * tstzmultirange(tstzrange(time_min, time_max, '[)')))
      FROM span s WHERE s.hi > s.lo GROUP BY s.owner ORDER BY 1, 2;
END
$$
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--owners", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--readme", action="store_true", help="write the figures into bench/README.md")
    args = ap.parse_args()
    if args.smoke:
        args.owners, args.repeat = 20, 1
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="gcal-sched-", dir=os.environ.get("TMPDIR", "/tmp"))
    os.chmod(workdir, 0o777)
    emu = R.Emulator(workdir, "emulator")
    emu.start("empty", 60)
    cl = R.Cluster(workdir, "sched", emu, {"shared_buffers": "'1GB'", "work_mem": "'64MB'"})
    try:
        cl.start()
        t0 = time.perf_counter()
        owners, cals, events = population(rng, args.owners)
        conn = load(cl, owners, cals, events)
        cur = conn.cursor()
        cur.execute("SET client_min_messages = error")
        print("population: %d owners, %d calendars, %d events (%d recurring masters), loaded in %.0f s"
              % (len(owners), len(cals), len(events), sum(1 for e in events if e[10]), time.perf_counter() - t0))
        week = {"owners": owners, "a": WEEK, "b": WEEK + timedelta(days=7)}
        busy_ms, busy_cpu, busy_rows = timed(cur, "SELECT * FROM gcal_busy(%(owners)s, %(a)s, %(b)s)", week, args.repeat)
        base_ms, base_cpu, base_rows = timed(cur, BASELINE_BUSY, week, args.repeat)
        cur.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'gcalsync'")
        cur.execute(BEFORE_BUSY % {"schema": cur.fetchone()[0]})
        before_ms, before_cpu, before_rows = timed(cur, "SELECT * FROM pg_temp.gcal_busy_before(%(owners)s, %(a)s, %(b)s)",
                                       week, args.repeat)
        cur.execute("SELECT count(*) FROM ((SELECT * FROM gcal_busy(%(owners)s, %(a)s, %(b)s) EXCEPT ALL "
                    "SELECT * FROM pg_temp.gcal_busy_before(%(owners)s, %(a)s, %(b)s)) UNION ALL "
                    "(SELECT * FROM pg_temp.gcal_busy_before(%(owners)s, %(a)s, %(b)s) EXCEPT ALL "
                    "SELECT * FROM gcal_busy(%(owners)s, %(a)s, %(b)s))) d", week)
        busy_mismatches = cur.fetchone()[0]
        inst_ms, inst_cpu, inst_rows = timed(cur, "SELECT count(*) FROM unnest(%(owners)s::text[]) o, "
                                        "LATERAL gcal_instances(o, %(a)s, %(b)s) i", week, args.repeat)
        five = {"owners": owners[:5], "a": WEEK, "b": WEEK + timedelta(days=14)}
        slots_ms, slots_cpu, slot_rows = timed(cur, "SELECT * FROM gcal_free_slots(%(owners)s, %(a)s, %(b)s, '30 min', '15 min', "
                                         "open_hours => '" + OFFICE + "')", five, args.repeat)
        bslots_ms, bslots_cpu, bslot_rows = timed(cur, BASELINE_SLOTS, five, args.repeat)
        requests = -(-len(owners) // 50)
        rows = [
            ("gcal_busy, %d owners x 1 week" % len(owners), busy_ms, busy_cpu, busy_rows, "< 100 ms",
             "obvious SQL over gcal_instances", base_ms, base_cpu, base_rows),
            ("(gcal_busy as first shipped: PL/pgSQL over gcal_instances)", before_ms, before_cpu, before_rows, "", "",
             None, None, None),
            ("gcal_free_slots, 5 owners x 2 weeks, office hours", slots_ms, slots_cpu, slot_rows, "< 20 ms",
             "obvious SQL over gcal_busy", bslots_ms, bslots_cpu, bslot_rows),
            ("(gcal_instances, %d owners x 1 week, all calendars)" % len(owners), inst_ms, inst_cpu, inst_rows, "", "",
             None, None, None),
        ]
        print()
        print("median of %d runs; wall: client-side, CPU: the backend's (/proc/<pid>/schedstat); load average %s"
              % (args.repeat, " ".join("%.2f" % x for x in os.getloadavg())))
        print()
        print("| question | gcalsync wall | CPU | rows | target | baseline | baseline wall | CPU | rows |")
        print("|---|---|---|---|---|---|---|---|---|")
        ms = lambda v: "" if v is None else "%.1f ms" % v  # noqa: E731
        for q, w, c, n, target, bname, bw, bc, bn in rows:
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                q, ms(w), ms(c), n, target, bname, ms(bw), ms(bc), "" if bn is None else bn))
        print()
        print("gcal_busy against its first version: %d rows differ" % busy_mismatches)
        print("Google's freebusy.query: at most 50 calendars per request, so %d owners cost %d requests "
              "(each a network round trip)." % (len(owners), requests))
        if args.smoke:
            assert busy_rows > 0 and slot_rows >= 0, "the pipeline returned nothing"
        assert busy_mismatches == 0, "gcal_busy differs from its first version"
    finally:
        cl.stop()
        emu.stop()


if __name__ == "__main__":
    main()
