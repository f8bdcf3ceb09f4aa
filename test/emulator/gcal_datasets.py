"""Data sets of the emulator: the hand-written demo, the empty one, a seeded generator, and
`recurrence` (the demo plus rita, whose calendars are full of recurring series: issue 14).

A data set is a plain JSON-able document, the same shapes the control interface takes:

    {"users": [{"id", "email", "refresh_tokens": [...], "revoked_refresh_tokens": [...],
                "timeZone", "primary_calendar": true}],
     "calendars": [{"id", "summary", "description", "timeZone", "watchable",
                    "reportDeletions", "members": {user: {entry fields}},
                    "events": [Google event JSON, optional "_emulator": {"hiddenInvitation"}]}]}

The demo's refresh tokens and OAuth client are fixed strings documented in README.md.
"""

import json
import random
from datetime import date, datetime, timedelta, timezone

import gcal_store

DEMO_CLIENT_ID = "gcalsync-demo.apps.googleusercontent.com"
DEMO_CLIENT_SECRET = "demo-client-secret"

HOLIDAY_CAL = "en.usa#holiday@group.v.calendar.google.com"
TEAM_CAL = "c_9a1f3e6b2d8c4a7e@group.calendar.google.com"
SIDE_CAL = "c_5e2b9d0a7f1c3e84@group.calendar.google.com"
OLD_CAL = "c_3d7a0e5f9b2c1d48@group.calendar.google.com"
BIRTHDAY_CAL = "addressbook#contacts@group.v.calendar.google.com"


def build(name, options=None):
    """A data set by name: demo, empty or generate (options: users, calendars, events, seed)."""
    options = options or {}
    if name == "demo":
        return demo()
    if name == "empty":
        return {"users": [], "calendars": []}
    if name == "recurrence":
        return recurrence(int(options.get("seed", 14)))
    if name == "generate":
        return generate(int(options.get("users", 1)), int(options.get("calendars", 1)),
                        int(options.get("events", 100)), int(options.get("seed", 1)))
    raise gcal_store.ControlError(400, "unknown data set %r (demo, empty, generate)" % name)


def from_cli(spec):
    """--data value: demo | empty | generate:U,C,E[,SEED] | path/to/file.json."""
    if spec.startswith("generate:"):
        parts = [int(x) for x in spec[len("generate:"):].split(",")]
        if len(parts) not in (3, 4):
            raise SystemExit("--data generate:USERS,CALENDARS,EVENTS[,SEED]")
        return generate(*parts)
    if spec.endswith(".json"):
        with open(spec, encoding="utf-8") as fh:
            return json.load(fh)
    if spec in ("demo", "empty", "recurrence"):
        return build(spec)
    if spec.startswith("recurrence:"):
        return recurrence(int(spec[len("recurrence:"):]))
    raise SystemExit("--data must be demo, empty, recurrence[:SEED], generate:U,C,E[,SEED] or a .json file")


# --- demo ------------------------------------------------------------------------------------

def timed(start, end, tz=None):
    """start/end pair of a timed event (tz omitted → dateTime only, as some events come)."""
    s, e = {"dateTime": start}, {"dateTime": end}
    if tz:
        s["timeZone"] = e["timeZone"] = tz
    return {"start": s, "end": e}


def allday(start, end):
    """start/end pair of an all-day event (end exclusive, as Google sends it)."""
    return {"start": {"date": start}, "end": {"date": end}}


def person(email, name=None, **extra):
    out = {"email": email}
    if name:
        out["displayName"] = name
    out.update(extra)
    return out


def meet(code):
    """conferenceData of a Google Meet conference."""
    return {
        "entryPoints": [
            {"entryPointType": "video", "uri": "https://meet.google.com/" + code,
             "label": "meet.google.com/" + code},
            {"entryPointType": "phone", "uri": "tel:+1-402-555-0137", "label": "+1 402-555-0137",
             "pin": "518240813", "regionCode": "US"},
            {"entryPointType": "more", "uri": "https://tel.meet/" + code + "?pin=518240813",
             "pin": "518240813"}],
        "conferenceSolution": {
            "key": {"type": "hangoutsMeet"}, "name": "Google Meet",
            "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"},
        "conferenceId": code}


def alice_events():
    """Alice's primary calendar: every shape the sync must store faithfully."""
    chicago = "America/Chicago"
    ny = "America/New_York"
    return [
        dict(id="5hni4sj3ql1669otmjg7sn1mok", summary="Weekly sync with the Chicago office",
             recurrence=["RRULE:FREQ=WEEKLY;BYDAY=TU"], location="Zoom room 4",
             **timed("2025-03-04T08:00:00-06:00", "2025-03-04T08:30:00-06:00", chicago),
             created="2025-02-20T16:12:04.000Z", updated="2025-03-20T09:00:00.000Z"),
        # the reference's cancelled exception: only id, recurringEventId, originalStartTime
        {"id": "5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z", "status": "cancelled",
         "recurringEventId": "5hni4sj3ql1669otmjg7sn1mok",
         "originalStartTime": {"dateTime": "2025-03-25T08:00:00-05:00", "timeZone": chicago}},
        # a moved exception (changed start and summary)
        dict(recurringEventId="5hni4sj3ql1669otmjg7sn1mok", summary="Weekly sync (moved to 10:00)",
             originalStartTime={"dateTime": "2025-04-01T08:00:00-05:00", "timeZone": chicago},
             **timed("2025-04-01T10:00:00-05:00", "2025-04-01T10:30:00-05:00", chicago)),
        dict(id="0nq9t3k8h7b2c4d6e1f5g9a2b3", summary="Team standup",
             recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20251231T235959Z",
                         "EXDATE;TZID=America/New_York:20250704T093000,20251127T093000"],
             **timed("2025-01-06T09:30:00-05:00", "2025-01-06T09:45:00-05:00", ny),
             reminders={"useDefault": False, "overrides": [{"method": "popup", "minutes": 5}]}),
        dict(id="1c8v2u9k0mdlp3q4r5s6t7u8v9", summary="Quarterly planning",
             description=("<b>Agenda</b><ul><li>Q2 goals &amp; OKRs</li><li>Hiring plan</li></ul>"
                          "<p>Docs: <a href=\"https://docs.example.com/q2\">Q2 plan</a></p>"),
             location="HQ, Room Ada Lovelace (12th floor)",
             **timed("2025-04-10T14:00:00-04:00", "2025-04-10T15:30:00-04:00", ny),
             attendees=[person("alice@example.com", "Alice Example", organizer=True, self=True,
                               responseStatus="accepted"),
                        person("bob@example.com", "Bob Beispiel", responseStatus="accepted"),
                        person("carol@example.com", "Carol 山田", responseStatus="tentative",
                               comment="Might join late", optional=True),
                        person("c_188abc1234@resource.calendar.google.com", "HQ-12-Ada Lovelace (10)",
                               resource=True, responseStatus="accepted"),
                        person("dave@partner.example.org", responseStatus="needsAction",
                               additionalGuests=1)],
             hangoutLink="https://meet.google.com/abc-defg-hij", conferenceData=meet("abc-defg-hij"),
             guestsCanModify=False, sequence=2,
             extendedProperties={"private": {"crm-id": "OPP-4711"}, "shared": {"project": "q2"}}),
        dict(id="2vacation0alice0july0000aa", summary="Vacation 🏖️", transparency="transparent",
             **allday("2025-07-01", "2025-07-08")),
        dict(id="3taxday00000000000000000aa", summary="Tax day", **allday("2025-04-15", "2025-04-16")),
        # real data: an all-day event whose start and end dates are equal
        dict(id="4zerolength0allday00000000", summary="Imported all-day (start == end)",
             **allday("2025-05-05", "2025-05-05")),
        # real data: year-0 created timestamp PostgreSQL cannot hold
        dict(id="5legacy0exchange0import000", summary="Imported from legacy Exchange",
             created="0000-12-31T00:00:00Z", updated="2024-11-02T08:15:30.000Z",
             **timed("2024-11-04T13:00:00-05:00", "2024-11-04T14:00:00-05:00", ny)),
        dict(id="6unicode0cafe0tanaka000000", summary="Café ☕ mit 田中さん — שלום 🎉",
             description="Ünïcödé: naïve façade, 東京, Привет, مرحبا, emoji 👩‍💻🇺🇸",
             location="Zürich, Bahnhofstraße 1",
             **timed("2025-04-18T08:00:00+02:00", "2025-04-18T09:00:00+02:00", "Europe/Zurich")),
        # dateTime with an offset and no timeZone
        dict(id="7dentist00notimezone000000", summary="Dentist", visibility="private",
             **timed("2025-04-22T15:00:00-04:00", "2025-04-22T16:00:00-04:00")),
        # a deleted single event: listed as {kind, etag, id, status} only
        dict(id="8cancelled0lunch0000000000", summary="Lunch with Sam", status="cancelled",
             **timed("2025-04-03T12:00:00-04:00", "2025-04-03T13:00:00-04:00", ny)),
        dict(id="9ooo0conference0trip000000", summary="Out of office", eventType="outOfOffice",
             transparency="opaque", **timed("2025-06-02T00:00:00-04:00", "2025-06-04T00:00:00-04:00", ny),
             outOfOfficeProperties={"autoDeclineMode": "declineOnlyNewConflictingInvitations",
                                    "declineMessage": "Travelling, back on Wednesday"}),
        dict(id="a0focus0time0000000000000a", summary="Focus time", eventType="focusTime",
             **timed("2025-04-09T13:00:00-04:00", "2025-04-09T15:00:00-04:00", ny),
             focusTimeProperties={"autoDeclineMode": "declineNone", "chatStatus": "doNotDisturb"}),
        # an id with the _R suffix a series split leaves behind
        dict(id="3q0lgvfqtv1l5ms4t2d3tgd0ce_R20250409T160000", summary="Book club",
             recurrence=["RRULE:FREQ=MONTHLY;BYDAY=2WE"],
             **timed("2025-04-09T12:00:00-04:00", "2025-04-09T13:00:00-04:00", ny)),
        dict(id="b1hidden0invitation0000000", summary="Vendor webinar (hidden invitation)",
             **timed("2025-04-24T11:00:00-04:00", "2025-04-24T12:00:00-04:00", ny),
             organizer=person("events@vendor.example.net", "Vendor Events"),
             attendees=[person("alice@example.com", self=True, responseStatus="needsAction")],
             _emulator={"hiddenInvitation": True}),
    ]


def bob_events():
    berlin = "Europe/Berlin"
    return [
        dict(id="c2sprint0review0biweekly00", summary="Sprint review",
             recurrence=["RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=FR;COUNT=20"],
             **timed("2025-01-10T15:00:00+01:00", "2025-01-10T16:00:00+01:00", berlin)),
        {"id": "c2sprint0review0biweekly00_20250207T140000Z", "status": "cancelled",
         "recurringEventId": "c2sprint0review0biweekly00",
         "originalStartTime": {"dateTime": "2025-02-07T15:00:00+01:00", "timeZone": berlin}},
        dict(id="d3anniversary0yearly000000", summary="Hochzeitstag 💍",
             recurrence=["RRULE:FREQ=YEARLY"], **allday("2025-06-14", "2025-06-15")),
        # a cancelled all-day exception of a recurring all-day event
        dict(id="e4gym0weekly0allday0000000", summary="Gym day", recurrence=["RRULE:FREQ=WEEKLY;BYDAY=SA"],
             **allday("2025-03-01", "2025-03-02")),
        {"id": "e4gym0weekly0allday0000000_20250315", "status": "cancelled",
         "recurringEventId": "e4gym0weekly0allday0000000", "originalStartTime": {"date": "2025-03-15"}},
        dict(id="f5call0bengaluru0000000000", summary="Call with Bengaluru",
             **timed("2025-04-14T10:30:00+05:30", "2025-04-14T11:15:00+05:30", "Asia/Kolkata")),
        dict(id="g6working0location00000000", summary="Home", eventType="workingLocation",
             visibility="public", transparency="transparent", **allday("2025-04-16", "2025-04-17"),
             workingLocationProperties={"type": "homeOffice", "homeOffice": {}}),
    ]


def team_events():
    london = "Europe/London"
    return [
        dict(id="h7offsite0lisbon0000000000", summary="Team offsite — Lisbon 🇵🇹",
             description="<p>Flights: see <i>travel sheet</i>.</p>", location="Lisboa, Portugal",
             **allday("2025-09-15", "2025-09-18")),
        dict(id="i8release0train00000000000", summary="Release train",
             recurrence=["RRULE:FREQ=WEEKLY;BYDAY=TH"],
             **timed("2025-01-09T16:00:00Z", "2025-01-09T16:30:00Z", london),
             attendees=[person("alice@example.com", organizer=True, responseStatus="accepted"),
                        person("bob@example.com", responseStatus="accepted"),
                        person("carol@example.com", responseStatus="declined")],
             conferenceData=meet("rel-ease-trn"), hangoutLink="https://meet.google.com/rel-ease-trn"),
        dict(recurringEventId="i8release0train00000000000", summary="Release train (release 5.0)",
             originalStartTime={"dateTime": "2025-04-17T17:00:00+01:00", "timeZone": london},
             **timed("2025-04-17T18:00:00+01:00", "2025-04-17T19:00:00+01:00", london)),
        dict(id="j9design0review00000000000", summary="Design review", status="tentative",
             **timed("2025-04-23T10:00:00+01:00", "2025-04-23T11:00:00+01:00", london)),
    ]


def holiday_events():
    """US holidays as Google's holiday calendar publishes them (all-day, public, free)."""
    org = {"email": HOLIDAY_CAL, "displayName": "Holidays in United States", "self": True}
    days = [("2025-01-01", "New Year's Day"), ("2025-07-04", "Independence Day"),
            ("2025-11-27", "Thanksgiving Day"), ("2025-12-25", "Christmas Day")]
    out = []
    for day, name in days:
        nxt = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        out.append(dict(id="%s_60o30dr46oo30c1g60o30dr4ck" % day.replace("-", ""), summary=name,
                        description="Public holiday", creator=org, organizer=org,
                        transparency="transparent", visibility="public",
                        iCalUID="%s_60o30dr46oo30c1g60o30dr4ck@google.com" % day.replace("-", ""),
                        **allday(day, nxt)))
    return out


def demo():
    """The demo data set (README.md describes every user, token and calendar)."""
    return {
        "users": [
            {"id": "alice", "email": "alice@example.com", "timeZone": "America/New_York",
             "refresh_tokens": ["demo-refresh-alice"]},
            {"id": "bob", "email": "bob@example.com", "timeZone": "Europe/Berlin",
             "refresh_tokens": ["demo-refresh-bob"]},
            {"id": "carol", "email": "carol@example.com", "timeZone": "Asia/Tokyo",
             "refresh_tokens": ["demo-refresh-carol"]},
            {"id": "erin", "email": "erin@example.com", "timeZone": "UTC",
             "revoked_refresh_tokens": ["demo-refresh-erin-revoked"]},
        ],
        "calendars": [
            {"id": "alice@example.com", "events": alice_events()},
            {"id": "bob@example.com", "events": bob_events()},
            {"id": "carol@example.com", "events": [
                dict(id="k0hanami0ueno0park00000000", summary="お花見 (Ueno park)",
                     **timed("2025-04-05T11:00:00+09:00", "2025-04-05T15:00:00+09:00", "Asia/Tokyo")),
                dict(id="l1all0day0multi0week000000", summary="Golden Week",
                     **allday("2025-04-29", "2025-05-07"))]},
            {"id": TEAM_CAL, "summary": "Product Team", "timeZone": "Europe/London",
             "description": "Shared calendar of the product team", "dataOwner": "alice@example.com",
             "members": {"alice": {"accessRole": "owner", "colorId": "9", "backgroundColor": "#7bd148",
                                   "selected": True},
                         "bob": {"accessRole": "writer", "summaryOverride": "Team (shared)",
                                 "selected": True},
                         "carol": {"accessRole": "reader", "colorId": "3", "backgroundColor": "#f83a22",
                                   "foregroundColor": "#ffffff"}},
             "events": team_events()},
            {"id": HOLIDAY_CAL, "summary": "Holidays in United States", "timeZone": "America/New_York",
             "description": "Holidays and Observances in United States", "watchable": False,
             "members": {"alice": {"accessRole": "reader", "selected": True},
                         "bob": {"accessRole": "reader"}},
             "events": holiday_events()},
            {"id": SIDE_CAL, "summary": "Side project", "timeZone": "Europe/Berlin",
             "dataOwner": "bob@example.com",
             "members": {"bob": {"accessRole": "owner", "hidden": True}},
             "events": [dict(id="m2side0project0sync0000000", summary="Side project sync",
                             **timed("2025-04-12T10:00:00+02:00", "2025-04-12T11:00:00+02:00",
                                     "Europe/Berlin"))]},
            {"id": OLD_CAL, "summary": "Old project (archived)", "timeZone": "America/New_York",
             "dataOwner": "alice@example.com",
             "members": {"alice": {"accessRole": "owner", "deleted": True}}},
            {"id": BIRTHDAY_CAL, "summary": "Birthdays", "timeZone": "Asia/Tokyo",
             "description": "Displays birthdays, anniversaries, and other event dates of people in "
                            "Google Contacts.",
             "watchable": False, "reportDeletions": False,
             "members": {"carol": {"accessRole": "reader", "selected": True}},
             "events": [dict(id="n3birthday0taro00000000000", summary="Taro's birthday",
                             eventType="birthday", recurrence=["RRULE:FREQ=YEARLY"],
                             visibility="private", transparency="transparent",
                             birthdayProperties={"type": "birthday", "contact": "people/c4071592"},
                             **allday("2025-08-21", "2025-08-22"))]},
        ],
    }


# --- recurrence (issue 14): the demo plus a recurrence-rich account ---------------------------

RITA_CALENDARS = ("c_r17a0rec0berlin0@group.calendar.google.com",
                  "c_r17a0rec0sydney0@group.calendar.google.com",
                  "c_r17a0rec0kolkata@group.calendar.google.com",
                  "c_r17a0rec0pitfall@group.calendar.google.com")


def recurrence(seed=14):
    """The demo data set plus user rita (refresh token demo-refresh-rita): her primary
    calendar (New York) and four more (Berlin, Sydney, Kolkata, the pitfall suite) hold
    series generated from `seed` by gcal_rrgen — DST zones, every-N-weeks, ordinals,
    BYSETPOS, COUNT/UNTIL forms, EXDATE/RDATE forms, moved/modified/cancelled exceptions,
    split series, all-day series."""
    import gcal_rrgen   # needs python3-dateutil (the oracle); the other data sets do not
    doc = demo()
    doc["users"].append({"id": "rita", "email": "rita@example.com", "timeZone": "America/New_York",
                         "refresh_tokens": ["demo-refresh-rita"]})
    cals = gcal_rrgen.account(seed)
    doc["calendars"].append({"id": "rita@example.com", "events": cals[0][1]})
    for cal_id, (zone, events) in zip(RITA_CALENDARS, cals[1:]):
        doc["calendars"].append({"id": cal_id, "summary": "Recurring " + zone, "timeZone": zone,
                                 "dataOwner": "rita@example.com", "events": events,
                                 "members": {"rita": {"accessRole": "owner", "selected": True}}})
    return doc


# --- generator -------------------------------------------------------------------------------

WORDS = ("agenda review budget roadmap sync planning design customer launch metrics retro demo "
         "hiring onboarding security incident backlog sprint quarterly partner travel workshop "
         "training interview offsite feedback strategy research prototype migration database "
         "release infrastructure analytics marketing legal finance support escalation vendor").split()
FIRST = "Ada Alan Grace Linus Barbara Ken Margaret Dennis Frances Tim Radia Edsger Donald Leslie".split()
LAST = "Lovelace Turing Hopper Torvalds Liskov Thompson Hamilton Ritchie Allen Berners-Lee".split()
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London",
         "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo", "UTC")
ZONE_OFFSETS = {"America/New_York": -5, "America/Los_Angeles": -8, "Europe/Berlin": 1,
                "Europe/London": 0, "Asia/Tokyo": 9, "Asia/Kolkata": 5.5,
                "Australia/Sydney": 10, "America/Sao_Paulo": -3, "UTC": 0}


def _offset(hours):
    sign = "-" if hours < 0 else "+"
    h = abs(hours)
    return "%s%02d:%02d" % (sign, int(h), int(round((h - int(h)) * 60)))


def _sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _description(rng):
    """Roughly 150–900 characters of text, sometimes HTML."""
    text = " ".join(_sentence(rng, rng.randint(5, 12)) for _ in range(rng.randint(3, 8)))
    if rng.random() < 0.3:
        text = "<p>%s</p><ul><li>%s</li><li>%s</li></ul>" % (
            text, _sentence(rng, 4), _sentence(rng, 5))
    return text


def _attendees(rng, owner_email, domain_users):
    out = [person(owner_email, organizer=True, self=True, responseStatus="accepted")]
    for _ in range(rng.randint(1, 7)):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = rng.choice(domain_users) if rng.random() < 0.4 else "%s.%s@partner%d.example.org" % (
            first.lower(), last.lower().replace("-", ""), rng.randint(1, 9))
        out.append(person(email, "%s %s" % (first, last),
                          responseStatus=rng.choice(("accepted", "declined", "tentative", "needsAction"))))
    return out


def _event_id(rng):
    return gcal_store.new_event_id(rng)


def _gen_event(rng, kind, base_day, tz, owner_email, users, masters):
    """One generated event of a kind: timed, allday, recurring or exception."""
    day = base_day + timedelta(days=rng.randint(-300, 300))
    created = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randint(0, 3 * 10**7))
    ev = {"id": _event_id(rng), "summary": _sentence(rng, rng.randint(2, 6))[:-1],
          "created": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
          "updated": (created + timedelta(seconds=rng.randint(0, 10**7))).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    if rng.random() < 0.7:
        ev["description"] = _description(rng)
    if rng.random() < 0.5:
        ev["location"] = "%s, Room %d" % (rng.choice(("HQ", "Berlin office", "Tokyo office", "Remote")),
                                          rng.randint(1, 40))
    off = _offset(ZONE_OFFSETS[tz])
    if kind == "allday":
        length = 1 if rng.random() < 0.8 else rng.randint(2, 6)
        ev.update(allday(day.isoformat(), (day + timedelta(days=length)).isoformat()))
        ev["transparency"] = "transparent"
    else:
        hour, minute = rng.randint(7, 18), rng.choice((0, 15, 30, 45))
        start = datetime(day.year, day.month, day.day, hour, minute)
        end = start + timedelta(minutes=rng.choice((15, 30, 45, 60, 90)))
        ev.update(timed(start.strftime("%Y-%m-%dT%H:%M:%S") + off,
                        end.strftime("%Y-%m-%dT%H:%M:%S") + off, tz))
        ev["attendees"] = _attendees(rng, owner_email, users)
        if rng.random() < 0.4:
            code = "%s-%s-%s" % tuple("".join(rng.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(n))
                                      for n in (3, 4, 3))
            ev["conferenceData"] = meet(code)
            ev["hangoutLink"] = "https://meet.google.com/" + code
    if kind == "recurring":
        rule = rng.choice(("RRULE:FREQ=WEEKLY;BYDAY=MO,WE", "RRULE:FREQ=DAILY;COUNT=30",
                           "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", "RRULE:FREQ=MONTHLY;BYMONTHDAY=15"))
        ev["recurrence"] = [rule]
        if rng.random() < 0.3 and "dateTime" in ev["start"]:
            local_time = ev["start"]["dateTime"][10:19].replace(":", "")      # T093000
            ev["recurrence"].append("EXDATE;TZID=%s:%s%s" % (
                tz, (day + timedelta(days=14)).strftime("%Y%m%d"), local_time))
        masters.append(ev)
    if rng.random() < 0.3:
        ev["reminders"] = {"useDefault": False,
                           "overrides": [{"method": "popup", "minutes": rng.choice((5, 10, 30))}]}
    return ev


def _gen_exception(rng, master, used):
    """A moved or cancelled occurrence of a recurring master, 1-200 weeks after its start
    (a week not used yet, so every generated event is a distinct event)."""
    start = master["start"]
    while True:
        weeks = timedelta(weeks=rng.randint(1, 200))
        if "date" in start:
            orig = {"date": (date.fromisoformat(start["date"]) + weeks).isoformat()}
        else:
            dt = datetime.fromisoformat(start["dateTime"]) + weeks
            orig = {"dateTime": dt.isoformat(), "timeZone": start.get("timeZone")}
        ex_id = gcal_store.instance_id(master["id"], orig)
        if ex_id not in used:
            used.add(ex_id)
            break
    ex = {"recurringEventId": master["id"], "originalStartTime": orig, "id": ex_id}
    if rng.random() < 0.5:
        ex["status"] = "cancelled"
        return ex
    ex.update({k: master[k] for k in ("summary", "description", "location", "attendees")
               if k in master})
    ex["summary"] = ex.get("summary", "") + " (moved)"
    if "date" in orig:
        nxt = date.fromisoformat(orig["date"]) + timedelta(days=1)
        ex.update(allday(nxt.isoformat(), (nxt + timedelta(days=1)).isoformat()))
    else:
        dt = datetime.fromisoformat(orig["dateTime"]) + timedelta(hours=1)
        dur = datetime.fromisoformat(master["end"]["dateTime"]) - datetime.fromisoformat(start["dateTime"])
        ex.update(timed(dt.isoformat(), (dt + dur).isoformat(), orig["timeZone"]))
    return ex


def generate(users, calendars, events, seed=1):
    """Seeded data set: `users` users × `calendars` calendars each × `events` events each.

    Mix per calendar: ~62% timed single events, ~15% all-day, ~15% recurring masters, ~8%
    exceptions (moved or cancelled) of those masters; ~1–2 KB per event. Calendar 0 of each
    user is the primary calendar. Refresh tokens are gen-refresh-<user id>.
    """
    rng = random.Random(seed)
    user_ids = ["user%04d" % (i + 1) for i in range(users)]
    emails = ["%s@example.com" % u for u in user_ids]
    doc = {"users": [], "calendars": []}
    base_day = date(2025, 6, 1)
    for uid, email in zip(user_ids, emails):
        tz = rng.choice(ZONES)
        doc["users"].append({"id": uid, "email": email, "timeZone": tz,
                             "refresh_tokens": ["gen-refresh-" + uid]})
        for c in range(calendars):
            cal_id = email if c == 0 else "c_%016x@group.calendar.google.com" % rng.getrandbits(64)
            spec = {"id": cal_id, "events": []}
            if c > 0:
                spec.update({"summary": "%s calendar %d" % (rng.choice(WORDS).capitalize(), c),
                             "timeZone": tz, "dataOwner": email,
                             "members": {uid: {"accessRole": "owner", "selected": True}}})
            masters, used = [], set()
            for _ in range(events):
                roll = rng.random()
                if roll < 0.08 and masters:
                    spec["events"].append(_gen_exception(rng, rng.choice(masters), used))
                    continue
                kind = "allday" if roll < 0.23 else "recurring" if roll < 0.38 else "timed"
                spec["events"].append(_gen_event(rng, kind, base_day, tz, email, emails, masters))
            doc["calendars"].append(spec)
    return doc
