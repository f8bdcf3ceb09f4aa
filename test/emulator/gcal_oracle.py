"""gcal_oracle — what Google's events.list(singleEvents=true) returns, computed in Python.

The test oracle of gcalsync's recurrence expansion (gcal_instances). It is independent of
the C++ code on purpose: a different language, a different recurrence engine
(python-dateutil's `rrule`, Debian's python3-dateutil, instead of libical) and a different
time-zone library (the standard `zoneinfo` instead of PostgreSQL's tz code). Only the
*decisions* are shared, each one stated here and in CONTRIBUTING.md:

- A recurring master expands in the wall clock of `start.timeZone` (else the calendar's
  zone); all-day masters expand in dates. DTSTART is always the first occurrence and counts
  for COUNT (RFC 5545 3.8.5.3), even when it does not match the rule or UNTIL is before it.
- Wall clock to instant follows PostgreSQL's `timestamp AT TIME ZONE`: of the (at most two)
  readings of a local time, the *later* instant. So a nonexistent time (spring-forward gap)
  is read with the offset before the gap (02:30 New York on the gap day → 03:30 EDT) and an
  ambiguous one (fall-back fold) with the offset after it (01:30 → 01:30 EST).
- UNTIL, in the forms Google sends: UTC date-time → occurrences whose instant is <= UNTIL;
  floating date-time → wall clock <= UNTIL; DATE on a timed series → through the end of
  that day in the series' zone; on an all-day series a day D is kept while D <= a DATE or
  floating UNTIL's date, or, for a UTC UNTIL, while D starts (00:00 in the calendar's
  zone, where all-day instances are placed in time) at or before it.
- EXDATE/RDATE: `TZID=` and floating values are wall clock (in TZID, else the series' zone),
  `Z` values instants, `VALUE=DATE` values dates. On a timed series an EXDATE matches the
  occurrence at the same instant, a DATE EXDATE every occurrence on that local date, and a
  DATE RDATE adds that date at DTSTART's time of day; on an all-day series every value is
  reduced to its date (for `Z`, the date in the calendar's zone; else the written date).
- Exceptions (recurringEventId + originalStartTime) replace the occurrence with the same
  original start (instant, or date for all-day), are placed by their own start and end, and
  are returned whether or not the rule still produces that occurrence. Cancelled ones remove
  it and are returned only with showDeleted, placed at the original start with the master's
  duration (their stub has no start of its own; without a master: zero length, one day if
  all-day). Exceptions of a master that is cancelled or absent are returned as they are.
- A cancelled event that is not an exception is returned (with showDeleted) only if it still
  has a start; deletion stubs, which hold only the id, cannot be placed in a window.
- Duration of generated instances: the master's end minus its start, as an exact interval
  (RFC 5545); all-day: the master's number of days.
- Window: an instance is returned when end > timeMin and start < timeMax, literally as
  Google documents the two bounds (so a zero-length instance at timeMin is not); all-day
  dates are midnights in the calendar's zone (read with the same PostgreSQL rule).
- Order: start instant, then calendar id, then event id.

Instance ids are Google's: `<master>_<YYYYMMDDTHHMMSSZ>` (original start in UTC) and
`<master>_<YYYYMMDD>` (all-day).
"""

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil import rrule as R

UTC = timezone.utc
FREQS = {"YEARLY": R.YEARLY, "MONTHLY": R.MONTHLY, "WEEKLY": R.WEEKLY, "DAILY": R.DAILY,
         "HOURLY": R.HOURLY, "MINUTELY": R.MINUTELY, "SECONDLY": R.SECONDLY}
WEEKDAYS = {"MO": R.MO, "TU": R.TU, "WE": R.WE, "TH": R.TH, "FR": R.FR, "SA": R.SA, "SU": R.SU}
BYDAY_RE = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
VALUE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$")
# Occurrences generated per master before the oracle gives up (a runaway test rule).
MAX_OCCURRENCES = 200000


class OracleError(ValueError):
    """A recurrence the oracle cannot read (a bug in the test data, never silently ignored)."""


# --- time helpers -------------------------------------------------------------------------

def zone_of(name):
    return ZoneInfo(name or "UTC")


def pg_instant(wall, zone):
    """The instant of a wall-clock time, as PostgreSQL's `timestamp AT TIME ZONE` reads it:
    the later of the fold=0 and fold=1 readings (gap: offset before; fold: offset after)."""
    a = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    b = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return max(a, b)


def day_start(d, zone):
    """Midnight of a date in a zone, as an instant (all-day window bounds)."""
    return pg_instant(datetime.combine(d, time()), zone)


def parse_rfc3339(value, zone):
    """An EventDateTime dateTime: with offset → that instant; without → wall clock in zone."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        return pg_instant(dt, zone)
    return dt.astimezone(UTC)


def utc_stamp(instant):
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def local_rfc3339(instant, zone):
    """The instant as Google writes start.dateTime: local time with its offset."""
    return instant.astimezone(zone).isoformat()


def parse_value(text):
    """One EXDATE/RDATE/UNTIL value → ('date', date) | ('utc', instant) | ('wall', naive)."""
    m = VALUE_RE.match(text.strip())
    if not m:
        raise OracleError("unreadable date value %r" % text)
    y, mo, d, hh, mi, ss, z = m.groups()
    if hh is None:
        return ("date", date(int(y), int(mo), int(d)))
    dt = datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss))
    return ("utc", dt.replace(tzinfo=UTC)) if z else ("wall", dt)


# --- recurrence lines ---------------------------------------------------------------------

def split_line(line):
    """'EXDATE;TZID=X:v1,v2' → ('EXDATE', {'TZID': 'X'}, 'v1,v2')."""
    head, sep, value = line.partition(":")
    if not sep:
        raise OracleError("recurrence line without ':' %r" % line)
    parts = head.split(";")
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.upper()] = v
    return parts[0].upper(), params, value


def rrule_kwargs(value):
    """RRULE value → (dateutil kwargs without dtstart/until, the UNTIL value or None)."""
    kw, until = {}, None
    for part in value.split(";"):
        if not part:
            continue
        k, _, v = part.partition("=")
        k = k.upper()
        if k == "FREQ":
            kw["freq"] = FREQS[v.upper()]
        elif k == "INTERVAL":
            kw["interval"] = int(v)
        elif k == "COUNT":
            kw["count"] = int(v)
        elif k == "UNTIL":
            until = parse_value(v)
        elif k == "WKST":
            kw["wkst"] = WEEKDAYS[v.upper()].weekday
        elif k == "BYDAY":
            days = []
            for item in v.split(","):
                m = BYDAY_RE.match(item.strip().upper())
                if not m:
                    raise OracleError("bad BYDAY %r" % item)
                wd = WEEKDAYS[m.group(2)]
                days.append(wd(int(m.group(1))) if m.group(1) else wd)
            kw["byweekday"] = days
        elif k in ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS", "BYHOUR",
                   "BYMINUTE", "BYSECOND"):
            kw[k.lower()] = [int(x) for x in v.split(",")]
        else:
            raise OracleError("unknown RRULE part %r" % part)
    if "freq" not in kw:
        raise OracleError("RRULE without FREQ: %r" % value)
    return kw, until


class Series:
    """The occurrences of one master: instants (timed) or dates (all-day), in order."""

    def __init__(self, master, cal_zone):
        self.id = master["id"]
        start, end = master["start"], master.get("end") or master["start"]
        self.all_day = "date" in start
        self.zone = zone_of(start.get("timeZone")) if start.get("timeZone") else cal_zone
        if self.all_day:
            self.first = date.fromisoformat(start["date"])
            self.days = (date.fromisoformat(end["date"]) - self.first).days
            self.wall0 = datetime.combine(self.first, time())
        else:
            self.first = parse_rfc3339(start["dateTime"], self.zone)
            self.duration = parse_rfc3339(end["dateTime"], self.zone) - self.first
            self.wall0 = self.first.astimezone(self.zone).replace(tzinfo=None)
        self.rules, self.exrules, self.rdates, self.exdates = [], [], set(), set()
        self.ex_local_dates = set()
        for line in master.get("recurrence") or ():
            name, params, value = split_line(line)
            if name in ("RRULE", "EXRULE"):
                (self.rules if name == "RRULE" else self.exrules).append(rrule_kwargs(value))
            elif name in ("RDATE", "EXDATE"):
                if params.get("VALUE", "").upper() == "PERIOD":
                    raise OracleError("RDATE;VALUE=PERIOD is not supported: %r" % line)
                tz = zone_of(params["TZID"]) if "TZID" in params else self.zone
                for v in value.split(","):
                    self._add_date(name, parse_value(v), tz)
            else:
                raise OracleError("unknown recurrence line %r" % line)

    # values are reduced to the series' key: a date (all-day) or an instant (timed)
    def _add_date(self, name, parsed, tz):
        kind, v = parsed
        if self.all_day:
            key = v if kind == "date" else v.astimezone(self.zone).date() if kind == "utc" else v.date()
        elif kind == "date":
            if name == "EXDATE":
                self.ex_local_dates.add(v)
                return
            key = pg_instant(datetime.combine(v, self.wall0.time()), self.zone)
        else:
            key = v if kind == "utc" else pg_instant(v, tz)
        (self.rdates if name == "RDATE" else self.exdates).add(key)

    def key_of_wall(self, wall):
        return wall.date() if self.all_day else pg_instant(wall, self.zone)

    def _until_ok(self, until, wall, key):
        kind, u = until
        if self.all_day:
            if kind == "utc":
                return day_start(key, self.zone) <= u
            return key <= (u if kind == "date" else u.date())
        if kind == "date":
            return wall.date() <= u
        if kind == "wall":
            return wall <= u
        return key <= u

    def _rule_keys(self, kw, until, horizon):
        """Keys of one RRULE (DTSTART first and counted), up to the wall-clock horizon."""
        kw = dict(kw)
        count = kw.pop("count", None)
        start = self.wall0
        if kw["freq"] == R.WEEKLY and kw.get("bysetpos"):
            # dateutil builds the first week from DTSTART on, every other week whole: start
            # the rule on its week's first day (same INTERVAL phase), so that BYSETPOS picks
            # from whole weeks as in every period of every FREQ; earlier days are dropped.
            start = self.wall0 - timedelta(days=(self.wall0.weekday() - kw.get("wkst", 0)) % 7)
            kw.setdefault("byweekday", [self.wall0.weekday()])
        rule = R.rrule(dtstart=start, cache=False, **kw)
        n = 0
        first = True
        for wall in _with_start(self.wall0, rule):
            if count is not None and n >= count:
                return
            n += 1
            if n > MAX_OCCURRENCES:
                raise OracleError("more than %d occurrences in %s" % (MAX_OCCURRENCES, self.id))
            if wall > horizon and not first:
                return
            key = self.key_of_wall(wall)
            if until is not None and not first and not self._until_ok(until, wall, key):
                return
            first = False
            yield key

    def keys(self, horizon_key):
        """Sorted occurrence keys up to horizon_key (an instant, or a date for all-day)."""
        if self.all_day:
            horizon = datetime.combine(horizon_key, time()) + timedelta(days=1)
        else:
            horizon = horizon_key.replace(tzinfo=None) + timedelta(days=2)
        out = set()
        if not self.rules:
            out.add(self.key_of_wall(self.wall0))
        for kw, until in self.rules:
            out.update(self._rule_keys(kw, until, horizon))
        out |= self.rdates
        for kw, until in self.exrules:
            out -= set(self._rule_keys(kw, until, horizon))
        out -= self.exdates
        if self.ex_local_dates:
            out = {k for k in out if k.astimezone(self.zone).date() not in self.ex_local_dates}
        return sorted(out)

    def keys_unbounded(self):
        """All keys of a finite series (no timeMax); an endless one is refused."""
        for kw, until in self.rules:
            if "count" not in kw and until is None:
                raise OracleError("endless series %s needs a timeMax" % self.id)
        return self.keys(date(9990, 1, 1) if self.all_day else datetime(9990, 1, 1, tzinfo=UTC))


def _with_start(wall0, rule):
    """DTSTART, then the rule's occurrences after DTSTART (RFC 5545: DTSTART is always the
    first occurrence)."""
    yield wall0
    for wall in rule:
        if wall > wall0:
            yield wall


# --- the listing ------------------------------------------------------------------------

class Instance:
    """One row of the expansion: the Google resource plus its computed bounds."""
    __slots__ = ("calendar_id", "resource", "start", "end", "all_day", "dates")

    def __init__(self, calendar_id, resource, start, end, all_day, dates=None):
        self.calendar_id, self.resource = calendar_id, resource
        self.start, self.end, self.all_day = start, end, all_day
        # all-day: (start date, end date) — also for a cancelled stub, which has no start
        self.dates = dates

    @property
    def id(self):
        return self.resource["id"]

    @property
    def status(self):
        return self.resource.get("status", "confirmed")

    def sort_key(self):
        return (self.start, self.calendar_id, self.id)

    def row(self):
        """(event_id, status, start, end) with start/end as 'YYYY-MM-DD' (all-day) or UTC
        'YYYY-MM-DD HH:MM:SS+00' — the comparison form used by the tests."""
        if self.all_day:
            return (self.id, self.status, self.dates[0].isoformat(), self.dates[1].isoformat())
        f = "%Y-%m-%d %H:%M:%S+00"
        return (self.id, self.status, self.start.strftime(f), self.end.strftime(f))


def _bounds(ev, cal_zone):
    """(start, end, all_day, dates) of a stored event, or None when it has no start."""
    start, end = ev.get("start"), ev.get("end")
    if not start:
        return None
    end = end or start
    if "date" in start:
        return _day_bounds(date.fromisoformat(start["date"]), date.fromisoformat(end["date"]),
                           cal_zone)
    zone = zone_of(start["timeZone"]) if start.get("timeZone") else cal_zone
    return parse_rfc3339(start["dateTime"], zone), parse_rfc3339(end["dateTime"], zone), False, None


def _day_bounds(first, last, cal_zone):
    """An all-day span [first, last) as instants in the calendar's zone."""
    return day_start(first, cal_zone), day_start(last, cal_zone), True, (first, last)


def _in_window(start, end, time_min, time_max):
    if time_max is not None and start >= time_max:
        return False
    return time_min is None or end > time_min


def original_key(ex, series):
    """The key an exception overrides: a date (all-day) or the original start instant."""
    ost = ex["originalStartTime"]
    if "date" in ost:
        return date.fromisoformat(ost["date"])
    zone = zone_of(ost["timeZone"]) if ost.get("timeZone") else (series.zone if series else UTC)
    return parse_rfc3339(ost["dateTime"], zone)


def instance_id(master_id, key):
    if isinstance(key, datetime):
        return master_id + "_" + utc_stamp(key)
    return master_id + "_" + key.strftime("%Y%m%d")


def _generated(series, master, key, cal_zone):
    """The resource of a generated instance of a master (Google copies the master's fields)."""
    res = {k: v for k, v in master.items() if k not in ("recurrence", "id", "start", "end")}
    res["id"] = instance_id(series.id, key)
    res["recurringEventId"] = series.id
    if series.all_day:
        res["start"] = {"date": key.isoformat()}
        res["end"] = {"date": (key + timedelta(days=series.days)).isoformat()}
        res["originalStartTime"] = {"date": key.isoformat()}
        b = _day_bounds(key, key + timedelta(days=series.days), cal_zone)
    else:
        tzname = series.zone.key
        start, end = key, key + series.duration
        res["start"] = {"dateTime": local_rfc3339(start, series.zone), "timeZone": tzname}
        res["end"] = {"dateTime": local_rfc3339(end, series.zone), "timeZone": tzname}
        res["originalStartTime"] = dict(res["start"])
        b = (start, end, False, None)
    return res, b


def expand_calendar(calendar_id, events, time_min, time_max, show_deleted=False,
                    calendar_zone="UTC"):
    """Instances of one calendar's stored events (as Google stores them, singleEvents=false),
    as events.list(singleEvents=true, timeMin, timeMax, showDeleted) returns them, in order.

    time_min/time_max: aware datetimes or None (time_max None only for finite series)."""
    cal_zone = zone_of(calendar_zone)
    masters, exceptions, out = {}, [], []
    for ev in events:
        if ev.get("recurringEventId"):
            exceptions.append(ev)
        elif ev.get("recurrence") and ev.get("status", "confirmed") != "cancelled":
            masters[ev["id"]] = ev
        else:
            b = _bounds(ev, cal_zone)
            if b is None or (ev.get("status") == "cancelled" and not show_deleted):
                continue
            if _in_window(b[0], b[1], time_min, time_max):
                out.append(Instance(calendar_id, ev, *b))
    series = {mid: Series(m, cal_zone) for mid, m in masters.items()}
    overridden = {}
    for ex in exceptions:
        s = series.get(ex["recurringEventId"])
        key = original_key(ex, s)
        if s is not None:
            overridden.setdefault(s.id, set()).add(key)
        cancelled = ex.get("status") == "cancelled"
        if cancelled and not show_deleted:
            continue
        if cancelled:
            if s is None and isinstance(key, date) and not isinstance(key, datetime):
                b = _day_bounds(key, key + timedelta(days=1), cal_zone)
            elif s is None:
                b = (key, key, False, None)
            elif s.all_day:
                b = _day_bounds(key, key + timedelta(days=s.days), cal_zone)
            else:
                b = (key, key + s.duration, False, None)
        else:
            b = _bounds(ex, cal_zone)
        if b is not None and _in_window(b[0], b[1], time_min, time_max):
            out.append(Instance(calendar_id, ex, *b))
    for mid, s in series.items():
        if time_max is None:
            horizon = None
        elif s.all_day:
            horizon = time_max.astimezone(UTC).date() + timedelta(days=1)
        else:
            horizon = time_max
        keys = s.keys(horizon) if horizon is not None else s.keys_unbounded()
        # An occurrence an exception replaces (moved, changed or cancelled) is
        # listed as that exception, above, not generated a second time.
        replaced = overridden.get(mid, ())
        for key in keys:
            if key in replaced:
                continue
            res, b = _generated(s, masters[mid], key, cal_zone)
            if _in_window(b[0], b[1], time_min, time_max):
                out.append(Instance(calendar_id, res, *b))
    out.sort(key=Instance.sort_key)
    return out

