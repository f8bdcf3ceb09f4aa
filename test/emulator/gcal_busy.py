"""gcal_busy — Google's free/busy rules over gcal_oracle's instances.

The test oracle of gcal_busy and gcal_free_slots (issue 15), and what the emulator's
freebusy.query answers. Independent of the C++ code (a different language over a different
recurrence engine); only the rules are shared, each stated here and in the README:

- An instance is busy when its status is confirmed or tentative, its transparency is opaque
  (Google's default when the field is absent, also for all-day events), the owner did not
  decline it (the attendee entry with `self: true`), and it is not a `workingLocation`
  event. All-day instances are busy over their dates in the calendar's zone.
- Busy ranges are clipped to [timeMin, timeMax), then overlapping and touching ranges are
  merged; empty ones (zero-length events) vanish.
"""

from datetime import datetime, time, timedelta

import gcal_oracle

BUSY_STATUSES = ("confirmed", "tentative")


def self_response(resource):
    """The owner's own responseStatus, or None when the owner is not an attendee."""
    for a in resource.get("attendees") or ():
        if isinstance(a, dict) and a.get("self"):
            return a.get("responseStatus")
    return None


def is_busy(resource):
    """Whether one instance (a Google event resource) makes its owner busy."""
    return (resource.get("status", "confirmed") in BUSY_STATUSES
            and resource.get("transparency", "opaque") == "opaque"
            and resource.get("eventType", "default") != "workingLocation"
            and self_response(resource) != "declined")


def merge(ranges, time_min, time_max):
    """Clip (start, end) pairs to the window, drop empty ones, merge overlapping and
    touching ones; sorted."""
    out = []
    for start, end in sorted((max(s, time_min), min(e, time_max)) for s, e in ranges):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def busy_ranges(calendars, time_min, time_max):
    """Merged busy ranges of one person over several calendars.

    calendars: iterable of (calendar_id, stored events, calendar zone name), the events as
    Google stores them (singleEvents=false)."""
    ranges = []
    for cal_id, events, zone in calendars:
        for inst in gcal_oracle.expand_calendar(cal_id, events, time_min, time_max, False, zone):
            if is_busy(inst.resource):
                ranges.append((inst.start, inst.end))
    return merge(ranges, time_min, time_max)


DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def _blocks(spec, owner):
    """The owner's open-hours blocks from an open_hours argument, or None (unrestricted)."""
    if spec is None:
        return None
    if isinstance(spec, list):
        return spec
    owners = spec.get("owners") or {}
    return owners[owner] if owner in owners else spec.get("default")


def _day_number(d):
    return d if isinstance(d, int) else DAY_NAMES[d.lower()[:3]]


def open_ranges(spec, owner, owner_zone, time_min, time_max):
    """Merged instants at which an owner is open, per the README's open_hours shape, or
    None when the owner's hours are not restricted. Wall clock read by PostgreSQL's rule."""
    blocks = _blocks(spec, owner)
    if blocks is None:
        return None
    ranges = []
    for b in blocks:
        zone = gcal_oracle.zone_of(b.get("timezone") or owner_zone)
        days = {_day_number(d) for d in b["days"]}
        ex = set(b.get("exdates", ()))
        sh, sm = map(int, b["start"].split(":"))
        eh, em = map(int, b["end"].split(":"))
        first = time_min.astimezone(zone).date() - timedelta(days=1)
        last = time_max.astimezone(zone).date()
        d = first
        while d <= last:
            # isoweekday: Monday 1 .. Sunday 7; the shape's 0 is Sunday
            if d.isoweekday() % 7 in days and d.isoformat() not in ex:
                start_wall = datetime.combine(d, time(sh, sm))
                end_day = d if (eh * 60 + em) > (sh * 60 + sm) else d + timedelta(days=1)
                end_wall = datetime.combine(end_day, time()) + timedelta(hours=eh, minutes=em)
                ranges.append((gcal_oracle.pg_instant(start_wall, zone),
                               gcal_oracle.pg_instant(end_wall, zone)))
            d += timedelta(days=1)
    return merge(ranges, time_min, time_max)


def free_slots(busy_by_owner, time_min, time_max, duration, step, min_owners=None,
               buffer_before=timedelta(0), buffer_after=timedelta(0), open_by_owner=None,
               never_free=()):
    """Candidate slots [time_min + k·step, + duration) inside the window with at least
    min_owners (None: all) owners free, as (start, end, [free owners in input order]).

    busy_by_owner: {owner: merged busy ranges}; open_by_owner: {owner: merged open ranges}
    for owners whose hours are restricted. An owner is free when no busy range meets the
    slot widened by the buffers and, if restricted, one open range holds the whole slot."""
    owners = list(busy_by_owner)
    need = len(owners) if min_owners is None else min_owners
    out = []
    start = time_min
    while start + duration <= time_max:
        end = start + duration
        lo, hi = start - buffer_before, end + buffer_after
        free = []
        for o in owners:
            if o in never_free:
                continue
            if any(s < hi and e > lo for s, e in busy_by_owner[o]):
                continue
            opens = (open_by_owner or {}).get(o)
            if opens is not None and not any(s <= start and end <= e for s, e in opens):
                continue
            free.append(o)
        if len(free) >= need:
            out.append((start, end, free))
        start += step
    return out
