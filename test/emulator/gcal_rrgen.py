"""gcal_rrgen — recurring events for the tests of issue 14, deterministic from a seed.

- random_series(rng, n): a recurring master as Google stores it (start/end in a zone with
  DST, recurrence lines mixing FREQ DAILY..YEARLY, INTERVAL, COUNT, the UNTIL forms Google
  sends, BYDAY with ordinals, BYMONTHDAY incl. negative, BYMONTH, BYYEARDAY, BYWEEKNO,
  BYSETPOS, WKST, EXDATE/RDATE in TZID/UTC/DATE forms), plus windows to look at it through.
- PITFALLS: the fixed suite of real-world pitfalls (DST, every-N-weeks, all-day a day off,
  moved/cancelled occurrences, splits, endless series past 730 occurrences, gap/fold times).
- account(seed): a calendar list of recurrence-rich calendars with exceptions, for the
  emulator data set `recurrence` (gcal_datasets).

Only the standard library and gcal_oracle (for "which occurrences exist" when picking an
EXDATE or an exception) are used.
"""

import random
from datetime import date, datetime, time, timedelta, timezone

import gcal_oracle as O

UTC = timezone.utc
ZONES = ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Europe/London",
         "America/Los_Angeles", "Pacific/Auckland", "Australia/Lord_Howe", "America/Santiago",
         "Asia/Kolkata", "America/Sao_Paulo", "UTC", "Asia/Tokyo")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQS = ("DAILY", "WEEKLY", "WEEKLY", "MONTHLY", "MONTHLY", "YEARLY")
HOURS = [0, 1, 2, 3, 8, 9, 12, 17, 22, 23]       # 1-3 h: the DST gap and fold hours


def _ev_time(instant, zone):
    return {"dateTime": instant.astimezone(zone).isoformat(), "timeZone": zone.key}


def _pick(rng, seq, k):
    return sorted(rng.sample(seq, k), key=seq.index)


def random_rule(rng, freq, all_day):
    """The RRULE parts (without UNTIL/COUNT) of one rule Google can send."""
    parts = ["FREQ=" + freq]
    if rng.random() < 0.45:
        parts.append("INTERVAL=%d" % rng.choice((2, 2, 3, 4, 5)))
    by = []
    roll = rng.random()
    if freq == "DAILY":
        if roll < 0.3:
            by.append("BYDAY=" + ",".join(_pick(rng, DAYS, rng.randint(1, 5))))
        elif roll < 0.4:
            by.append("BYMONTHDAY=" + ",".join(map(str, rng.sample((1, 13, 28, 31, -1, -3), 2))))
        elif roll < 0.5:
            by.append("BYMONTH=" + ",".join(map(str, sorted(rng.sample(range(1, 13), 3)))))
    elif freq == "WEEKLY":
        if roll < 0.75:
            by.append("BYDAY=" + ",".join(_pick(rng, DAYS, rng.randint(1, 4))))
        if rng.random() < 0.3:
            by.append("WKST=" + rng.choice(("SU", "MO", "SA", "WE")))
        if rng.random() < 0.1:
            by.append("BYMONTH=" + ",".join(map(str, sorted(rng.sample(range(1, 13), 4)))))
    elif freq == "MONTHLY":
        if roll < 0.3:
            by.append("BYDAY=" + "%d%s" % (rng.choice((1, 2, 3, 4, -1, -2)), rng.choice(DAYS)))
        elif roll < 0.5:
            by.append("BYMONTHDAY=" + ",".join(map(str, rng.sample((1, 15, 29, 30, 31, -1, -2, -7), rng.randint(1, 2)))))
        elif roll < 0.7:
            by.append("BYDAY=" + ",".join(_pick(rng, DAYS, rng.randint(1, 5))))
            by.append("BYSETPOS=" + ",".join(map(str, rng.sample((1, 2, -1, -2), rng.randint(1, 2)))))
        elif roll < 0.8:
            by.append("BYDAY=" + ",".join(_pick(rng, DAYS, rng.randint(1, 3))))
            by.append("BYMONTHDAY=" + ",".join(map(str, rng.sample(range(1, 15), 5))))
        if rng.random() < 0.15:
            by.append("BYMONTH=" + ",".join(map(str, sorted(rng.sample(range(1, 13), 5)))))
    else:
        if roll < 0.2:
            by.append("BYMONTH=%d" % rng.randint(1, 12))
            by.append("BYDAY=%d%s" % (rng.choice((1, 2, -1)), rng.choice(DAYS)))
        elif roll < 0.35:
            by.append("BYYEARDAY=" + ",".join(map(str, rng.sample((1, 100, 200, 256, 366, -1, -100), 2))))
        elif roll < 0.5:
            by.append("BYWEEKNO=" + ",".join(map(str, rng.sample((1, 10, 20, 52, 53, -1), 2))))
            by.append("BYDAY=" + rng.choice(DAYS))
            if rng.random() < 0.5:
                by.append("WKST=" + rng.choice(("SU", "MO")))
        elif roll < 0.6:
            by.append("BYMONTH=" + ",".join(map(str, sorted(rng.sample(range(1, 13), 3)))))
            by.append("BYMONTHDAY=" + str(rng.choice((1, 15, -1, 31))))
        elif roll < 0.7:
            by.append("BYMONTH=%d" % rng.randint(1, 12))
            by.append("BYDAY=" + ",".join(_pick(rng, DAYS, 5)))
            by.append("BYSETPOS=" + str(rng.choice((1, -1, 3))))
        elif roll < 0.75:
            by.append("BYDAY=%d%s" % (rng.choice((1, 20, -1, 52)), rng.choice(DAYS)))
    if freq in ("DAILY", "WEEKLY") and rng.random() < 0.05 and not any(b.startswith("BYSETPOS") for b in by):
        if not by:
            by.append("BYDAY=" + ",".join(_pick(rng, DAYS, 3)))
        by.append("BYSETPOS=" + str(rng.choice((1, -1))))
    return parts + by


def random_series(rng, n, zone_name=None):
    """(master, cal_zone, windows, description) of the n-th generated series."""
    zone = O.zone_of(zone_name or rng.choice(ZONES))
    all_day = rng.random() < 0.15
    freq = rng.choice(FREQS)
    parts = random_rule(rng, freq, all_day)
    seed_day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 900))
    if all_day:
        wall0 = datetime.combine(seed_day, time())
    else:
        wall0 = datetime.combine(seed_day, time(rng.choice(HOURS), rng.choice((0, 0, 30, 45))))
    # Align DTSTART with the rule's first occurrence (what Google's UI does), mostly.
    if rng.random() < 0.95:
        kw, _ = O.rrule_kwargs(";".join(parts))
        first = next(iter(O.R.rrule(dtstart=wall0, cache=False, **kw)), None)
        if first is not None and first < wall0 + timedelta(days=3000):
            wall0 = first
    eid = "rr%06d%s" % (n, "".join(rng.choice(O_ID) for _ in range(8)))
    term = rng.random()
    span_days = {"DAILY": 60, "WEEKLY": 400, "MONTHLY": 1500, "YEARLY": 4000}[freq]
    if term < 0.3:
        parts.append("COUNT=%d" % rng.randint(1, 40))
    elif term < 0.65:
        until_wall = wall0 + timedelta(days=rng.randint(0, span_days), hours=rng.randint(-3, 3))
        form = rng.random()
        if all_day:
            parts.append("UNTIL=" + (until_wall.strftime("%Y%m%d") if form < 0.6
                                     else until_wall.strftime("%Y%m%dT%H%M%SZ") if form < 0.9
                                     else until_wall.strftime("%Y%m%dT%H%M%S")))
        elif form < 0.6:
            parts.append("UNTIL=" + O.pg_instant(until_wall, zone).strftime("%Y%m%dT%H%M%SZ"))
        elif form < 0.9:
            parts.append("UNTIL=" + until_wall.strftime("%Y%m%d"))
        else:
            parts.append("UNTIL=" + until_wall.strftime("%Y%m%dT%H%M%S"))
    rng.shuffle(parts)                     # FREQ need not come first
    rules = ["RRULE:" + ";".join(parts)]
    if all_day:
        days = rng.choice((1, 1, 1, 2, 3))
        master = {"id": eid, "start": {"date": wall0.date().isoformat()},
                  "end": {"date": (wall0.date() + timedelta(days=days)).isoformat()},
                  "recurrence": rules}
    else:
        start = O.pg_instant(wall0, zone)
        minutes = rng.choice((0, 15, 30, 60, 60, 90, 180, 600))
        master = {"id": eid, "start": _ev_time(start, zone),
                  "end": _ev_time(start + timedelta(minutes=minutes), zone), "recurrence": rules}
    master["summary"] = "series %d" % n
    # EXDATE / RDATE from the series' own occurrences
    if rng.random() < 0.35:
        keys = _some_keys(master, zone, wall0)
        if keys:
            for key in rng.sample(keys, min(len(keys), rng.randint(1, 3))):
                rules.append(_date_line(rng, "EXDATE", key, zone, all_day))
        if rng.random() < 0.4:
            extra = wall0 + timedelta(days=rng.randint(1, 200), hours=0 if all_day else rng.randint(-5, 5))
            key = extra.date() if all_day else O.pg_instant(extra, zone)
            rules.append(_date_line(rng, "RDATE", key, zone, all_day))
    cal_zone = zone.key if rng.random() < 0.7 else rng.choice(ZONES)
    windows = _windows(rng, wall0, zone, span_days)
    return master, cal_zone, windows


O_ID = "0123456789abcdefghijklmnopqrstuv"


def _some_keys(master, zone, wall0):
    s = O.Series(master, zone)
    horizon = wall0.date() + timedelta(days=400) if s.all_day else \
        O.pg_instant(wall0 + timedelta(days=400), zone)
    return s.keys(horizon)[:40]


def _date_line(rng, name, key, zone, all_day):
    """EXDATE/RDATE of a key in one of the forms Google sends."""
    if all_day:
        return "%s;VALUE=DATE:%s" % (name, key.strftime("%Y%m%d"))
    if rng.random() < 0.5:
        wall = key.astimezone(zone)
        return "%s;TZID=%s:%s" % (name, zone.key, wall.strftime("%Y%m%dT%H%M%S"))
    if rng.random() < 0.2:
        other = O.zone_of(rng.choice(ZONES))
        return "%s;TZID=%s:%s" % (name, other.key, key.astimezone(other).strftime("%Y%m%dT%H%M%S"))
    return "%s:%s" % (name, key.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))


def _windows(rng, wall0, zone, span_days):
    """[timeMin, timeMax) windows: the start, a DST change in a later year, and anywhere."""
    start = O.pg_instant(wall0, zone)
    out = [(start - timedelta(days=2), start + timedelta(days=min(span_days, 45)))]
    # a window around this zone's next transition after a random point
    probe = start + timedelta(days=rng.randint(0, span_days))
    t = _next_transition(zone, probe)
    if t is not None:
        out.append((t - timedelta(days=rng.randint(1, 10)), t + timedelta(days=rng.randint(1, 10))))
    a = start + timedelta(days=rng.randint(-30, span_days), hours=rng.randint(0, 23))
    out.append((a, a + timedelta(days=rng.choice((1, 7, 31, min(span_days, 120))))))
    return out


def _next_transition(zone, instant):
    """The first offset change of zone after instant (within ~14 months), by bisection."""
    off = lambda t: t.astimezone(zone).utcoffset()
    lo, step = instant, timedelta(days=7)
    for _ in range(62):
        hi = lo + step
        if off(hi) != off(lo):
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if off(mid) == off(lo):
                    lo = mid
                else:
                    hi = mid
            return hi.replace(second=0, microsecond=0)
        lo = hi
    return None


# --- the fixed pitfall suite -------------------------------------------------------------------

def _timed(eid, start, end, tz, rules=None, **extra):
    ev = {"id": eid, "start": {"dateTime": start, "timeZone": tz},
          "end": {"dateTime": end, "timeZone": tz}}
    if rules:
        ev["recurrence"] = rules
    ev.update(extra)
    return ev


def _allday(eid, start, end, rules=None, **extra):
    ev = {"id": eid, "start": {"date": start}, "end": {"date": end}}
    if rules:
        ev["recurrence"] = rules
    ev.update(extra)
    return ev


def _exc(master_id, orig, tz, start=None, end=None, status="confirmed"):
    """An exception: orig is the original start (local dateTime with offset, or a date)."""
    if len(orig) == 10:
        ost = {"date": orig}
        eid = master_id + "_" + orig.replace("-", "")
    else:
        ost = {"dateTime": orig, "timeZone": tz}
        eid = O.instance_id(master_id, O.parse_rfc3339(orig, O.zone_of(tz)))
    ev = {"id": eid, "recurringEventId": master_id, "originalStartTime": ost, "status": status}
    if status != "cancelled":
        if len(orig) == 10:
            ev.update(start={"date": start}, end={"date": end})
        else:
            ev.update(start={"dateTime": start, "timeZone": tz}, end={"dateTime": end, "timeZone": tz})
    return ev


NY, BER, SYD, LHW = "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe"

# (name, calendar zone, events, windows as (timeMin, timeMax) ISO strings)
PITFALLS = [
    ("09:00 weekly stays 09:00 across US DST", NY,
     [_timed("pfdst1", "2025-02-24T09:00:00-05:00", "2025-02-24T10:00:00-05:00", NY, ["RRULE:FREQ=WEEKLY;BYDAY=MO"])],
     [("2025-03-01T00:00:00Z", "2025-03-20T00:00:00Z"), ("2025-10-25T00:00:00Z", "2025-11-12T00:00:00Z")]),
    ("Berlin and Sydney series across their DST", BER,
     [_timed("pfdst2", "2025-03-28T08:30:00+01:00", "2025-03-28T09:00:00+01:00", BER, ["RRULE:FREQ=DAILY;COUNT=5"]),
      _timed("pfdst3", "2025-04-04T09:00:00+11:00", "2025-04-04T09:30:00+11:00", SYD, ["RRULE:FREQ=WEEKLY;COUNT=3"])],
     [("2025-03-27T00:00:00Z", "2025-04-30T00:00:00Z")]),
    ("a daily 02:30 through the spring gap (read as before the gap)", NY,
     [_timed("pfgap", "2025-03-07T02:30:00-05:00", "2025-03-07T03:15:00-05:00", NY, ["RRULE:FREQ=DAILY;COUNT=5"])],
     [("2025-03-06T00:00:00Z", "2025-03-13T00:00:00Z")]),
    ("a daily 01:30 through the autumn fold (read as after the fold)", NY,
     [_timed("pffold", "2025-10-31T01:30:00-04:00", "2025-10-31T02:00:00-04:00", NY, ["RRULE:FREQ=DAILY;COUNT=5"])],
     [("2025-10-30T00:00:00Z", "2025-11-06T00:00:00Z")]),
    ("Lord Howe's 30-minute DST, 02:15 daily", LHW,
     [_timed("pflhw", "2025-10-03T02:15:00+10:30", "2025-10-03T02:45:00+10:30", LHW, ["RRULE:FREQ=DAILY;COUNT=4"])],
     [("2025-10-01T00:00:00Z", "2025-10-10T00:00:00Z")]),
    ("every 2 weeks on TU,SU with WKST=SU vs MO (RFC 5545)", NY,
     [_timed("pfwkstsu", "1997-08-05T09:00:00-04:00", "1997-08-05T10:00:00-04:00", NY,
             ["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"]),
      _timed("pfwkstmo", "1997-08-05T09:00:00-04:00", "1997-08-05T10:00:00-04:00", NY,
             ["RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"])],
     [("1997-08-01T00:00:00Z", "1997-09-30T00:00:00Z")]),
    ("every 3 weeks, far from its start", BER,
     [_timed("pfn3w", "2024-01-09T10:00:00+01:00", "2024-01-09T11:00:00+01:00", BER,
             ["RRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,TH"])],
     [("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z")]),
    ("all-day series in a zone east and west of UTC", "Pacific/Auckland",
     [_allday("pfallday", "2025-03-03", "2025-03-04", ["RRULE:FREQ=WEEKLY;BYDAY=MO,FR;COUNT=6"]),
      _allday("pfallday2", "2025-12-31", "2026-01-02", ["RRULE:FREQ=YEARLY;UNTIL=20281231"])],
     [("2025-03-06T11:00:00Z", "2025-03-07T12:00:00Z"), ("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"),
      ("2026-12-30T00:00:00Z", "2028-01-01T00:00:00Z")]),
    ("last weekday, last Friday, negative month day, BYSETPOS", NY,
     [_timed("pflastwd", "2025-01-31T17:00:00-05:00", "2025-01-31T17:30:00-05:00", NY,
             ["RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"]),
      _timed("pflastfr", "2025-01-31T12:00:00-05:00", "2025-01-31T13:00:00-05:00", NY, ["RRULE:FREQ=MONTHLY;BYDAY=-1FR"]),
      _timed("pfnegmd", "2025-01-30T12:00:00-05:00", "2025-01-30T13:00:00-05:00", NY, ["RRULE:FREQ=MONTHLY;BYMONTHDAY=-2"]),
      _timed("pfday31", "2025-01-31T08:00:00-05:00", "2025-01-31T09:00:00-05:00", NY, ["RRULE:FREQ=MONTHLY"])],
     [("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")]),
    ("UNTIL forms: UTC, DATE on timed, DATE-TIME on all-day, floating", NY,
     [_timed("pfuntilz", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00", NY, ["RRULE:FREQ=DAILY;UNTIL=20250310T130000Z"]),
      _timed("pfuntild", "2025-03-03T23:30:00-05:00", "2025-03-03T23:45:00-05:00", NY, ["RRULE:FREQ=DAILY;UNTIL=20250310"]),
      _allday("pfuntilad", "2025-03-03", "2025-03-04", ["RRULE:FREQ=DAILY;UNTIL=20250306T000000Z"]),
      _timed("pfuntilf", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00", NY, ["RRULE:FREQ=DAILY;UNTIL=20250306T090000"])],
     [("2025-03-01T00:00:00Z", "2025-03-20T00:00:00Z")]),
    ("EXDATE and RDATE in every form", NY,
     [_timed("pfexrd", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00", NY,
             ["RRULE:FREQ=DAILY;COUNT=10", "EXDATE;TZID=America/New_York:20250304T090000",
              "EXDATE:20250305T140000Z", "EXDATE;VALUE=DATE:20250306",
              "EXDATE;TZID=Europe/Berlin:20250307T150000,20250308T150000",
              "RDATE;TZID=America/New_York:20250320T120000", "RDATE:20250321T150000Z"]),
      _allday("pfexrdad", "2025-03-03", "2025-03-04",
              ["RRULE:FREQ=DAILY;COUNT=5", "EXDATE;VALUE=DATE:20250304,20250306", "RDATE;VALUE=DATE:20250401"])],
     [("2025-03-01T00:00:00Z", "2025-04-10T00:00:00Z")]),
    ("moved in from outside the window, moved out, cancelled, orphaned", NY,
     [_timed("pfexc", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00", NY, ["RRULE:FREQ=WEEKLY;COUNT=8"]),
      _exc("pfexc", "2025-03-10T09:00:00-04:00", NY, "2025-05-02T15:00:00-04:00", "2025-05-02T16:00:00-04:00"),
      _exc("pfexc", "2025-04-21T09:00:00-04:00", NY, "2025-03-12T07:00:00-04:00", "2025-03-12T08:00:00-04:00"),
      _exc("pfexc", "2025-03-17T09:00:00-04:00", NY, status="cancelled"),
      _exc("pfexc", "2025-03-24T09:00:00-04:00", NY, "2025-03-24T09:00:00-04:00", "2025-03-24T11:00:00-04:00"),
      _exc("pfgone", "2025-03-25T09:00:00-04:00", NY, "2025-03-25T09:30:00-04:00", "2025-03-25T10:00:00-04:00"),
      _allday("pfexcad", "2025-03-03", "2025-03-04", ["RRULE:FREQ=DAILY;COUNT=5"]),
      _exc("pfexcad", "2025-03-04", NY, "2025-03-10", "2025-03-11"),
      _exc("pfexcad", "2025-03-05", NY, status="cancelled")],
     [("2025-03-09T00:00:00Z", "2025-03-13T00:00:00Z"), ("2025-03-01T00:00:00Z", "2025-06-01T00:00:00Z"),
      ("2025-05-02T19:30:00Z", "2025-05-02T19:31:00Z")]),
    ("split series: old one cut by UNTIL, the new one _R", NY,
     [_timed("pfsplit", "2025-01-06T09:00:00-05:00", "2025-01-06T09:30:00-05:00", NY,
             ["RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20250316T035959Z"]),
      _timed("pfsplit_R20250317T130000", "2025-03-17T10:00:00-04:00", "2025-03-17T10:30:00-04:00", NY,
             ["RRULE:FREQ=WEEKLY;BYDAY=MO,WE"])],
     [("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")]),
    ("endless series past 250 and 730 occurrences", BER,
     [_timed("pfendless", "2020-01-01T07:00:00+01:00", "2020-01-01T07:15:00+01:00", BER, ["RRULE:FREQ=DAILY"]),
      _allday("pfendlessad", "2019-01-01", "2019-01-02", ["RRULE:FREQ=DAILY"])],
     [("2027-03-26T00:00:00Z", "2027-04-02T00:00:00Z")]),
    ("DTSTART off the rule is still the first occurrence", NY,
     [_timed("pfoffrule", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00", NY,
             ["RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4"])],
     [("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")]),
    ("yearly Feb 29, BYWEEKNO, BYYEARDAY", BER,
     [_allday("pfleap", "2024-02-29", "2024-03-01", ["RRULE:FREQ=YEARLY"]),
      _timed("pfweekno", "2025-03-03T09:00:00+01:00", "2025-03-03T10:00:00+01:00", BER,
             ["RRULE:FREQ=YEARLY;BYWEEKNO=10,-1;BYDAY=MO"]),
      _timed("pfyday", "2025-01-01T09:00:00+01:00", "2025-01-01T10:00:00+01:00", BER,
             ["RRULE:FREQ=YEARLY;BYYEARDAY=1,-1,100"])],
     [("2024-01-01T00:00:00Z", "2029-01-01T00:00:00Z")]),
    ("single events and a timed event without a timeZone", "Asia/Tokyo",
     [{"id": "pfsingle", "start": {"dateTime": "2025-03-03T10:00:00+09:00"},
       "end": {"dateTime": "2025-03-03T11:00:00+09:00"}},
      _timed("pfnotz", "2025-03-03T10:00:00+09:00", "2025-03-03T10:30:00+09:00", None, ["RRULE:FREQ=DAILY;COUNT=3"]),
      _allday("pfsingleday", "2025-03-04", "2025-03-05")],
     [("2025-03-03T00:00:00Z", "2025-03-06T00:00:00Z")]),
]
for _pitfall in PITFALLS:                   # _timed(..., None, ...): no timeZone at all
    for _ev in _pitfall[2]:
        for _k in ("start", "end"):
            if _ev.get(_k, {}).get("timeZone", "") is None:
                del _ev[_k]["timeZone"]


# --- a recurrence-rich account (emulator data set "recurrence") --------------------------------

def account(seed=14, calendars=4, series=40):
    """Calendars (each in its own zone) full of generated series with moved, modified and
    cancelled exceptions, split series, plus the pitfall suite: for the emulator's
    `recurrence` data set. Returns [(calendar zone, events)]."""
    rng = random.Random(seed)
    out = []
    zones = ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata")
    for c in range(calendars):
        zone = zones[c % len(zones)]
        events = []
        for n in range(series):
            master, _, _ = random_series(rng, c * 1000 + n, zone_name=zone if rng.random() < 0.7 else None)
            if rng.random() < 0.15:
                events += _split(rng, master)
            events.append(master)
            events += _exceptions(rng, master, zone)
        out.append((zone, events))
    pit = [ev for _, _, evs, _ in PITFALLS for ev in evs
           if not ev["id"].startswith(("pfwkst",))]
    out.append(("America/New_York", pit))
    return out


def _exceptions(rng, master, cal_zone):
    """0-3 exceptions of existing occurrences: moved (maybe far), modified, cancelled."""
    s = O.Series(master, O.zone_of(cal_zone))
    horizon = s.first + timedelta(days=300) if s.all_day else s.first + timedelta(days=300)
    keys = s.keys(horizon)[:30]
    out = []
    for key in rng.sample(keys, min(len(keys), rng.choice((0, 0, 1, 2, 3)))):
        roll = rng.random()
        ex = {"id": O.instance_id(master["id"], key), "recurringEventId": master["id"]}
        if s.all_day:
            ex["originalStartTime"] = {"date": key.isoformat()}
        else:
            ex["originalStartTime"] = _ev_time(key, s.zone)
        if roll < 0.35:
            ex["status"] = "cancelled"
        else:
            ex["status"] = "confirmed"
            ex["summary"] = master["summary"] + (" (moved)" if roll < 0.8 else " (changed)")
            shift = timedelta(days=rng.choice((0, 1, -1, 3, 40))) if roll < 0.8 else timedelta(0)
            if s.all_day:
                d = key + shift
                ex["start"], ex["end"] = {"date": d.isoformat()}, {"date": (d + timedelta(days=s.days)).isoformat()}
            else:
                st = key + shift + timedelta(minutes=rng.choice((0, 30, 90)) if roll < 0.8 else 0)
                ex["start"], ex["end"] = _ev_time(st, s.zone), _ev_time(st + s.duration, s.zone)
        out.append(ex)
    return out


def _split(rng, master):
    """'This and following': the master cut by UNTIL, a new master <id>_R<stamp> on."""
    if "date" in master["start"] or any("COUNT" in r or "UNTIL" in r for r in master["recurrence"]):
        return []
    zone = O.zone_of(master["start"]["timeZone"])
    s = O.Series(master, zone)
    keys = s.keys(s.first + timedelta(days=200))
    if len(keys) < 4:
        return []
    cut = keys[rng.randint(2, len(keys) - 1)]
    rules = master["recurrence"]
    rules[0] = rules[0] + ";UNTIL=" + (cut - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    new_start = cut + timedelta(hours=1)
    new = dict(master, id=master["id"] + "_R" + cut.strftime("%Y%m%dT%H%M%S"),
               start=_ev_time(new_start, zone), end=_ev_time(new_start + s.duration, zone),
               recurrence=[r for r in master["recurrence"] if r.startswith("RRULE")])
    new["recurrence"] = [new["recurrence"][0].split(";UNTIL=")[0]]
    new["summary"] = master["summary"] + " (from then on)"
    return [new]
