"""Tests of gcal_busy (the free/busy oracle) and of the emulator's freebusy.query.

    python3 -m unittest discover -s test/emulator -p 'test_busy.py' -v
"""

import os
import sys
import unittest
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gcal_busy  # noqa: E402
from test_emulator import ALICE, TEAM, Api, EmulatorTest, events_path  # noqa: E402,F401
import test_emulator  # noqa: E402

UTC = timezone.utc
NY = "America/New_York"


def utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def timed(eid, start, end, **extra):
    ev = {"id": eid, "status": "confirmed", "start": {"dateTime": start, "timeZone": NY},
          "end": {"dateTime": end, "timeZone": NY}}
    ev.update(extra)
    return ev


class Rules(unittest.TestCase):
    def test_busy_rules(self):
        me = {"email": "me@example.com", "self": True}
        cases = [
            ({}, True),
            ({"status": "tentative"}, True),
            ({"status": "cancelled"}, False),
            ({"transparency": "transparent"}, False),
            ({"transparency": "opaque"}, True),
            ({"eventType": "workingLocation"}, False),
            ({"eventType": "outOfOffice"}, True),
            ({"eventType": "focusTime"}, True),
            ({"attendees": [dict(me, responseStatus="declined")]}, False),
            ({"attendees": [dict(me, responseStatus="tentative")]}, True),
            ({"attendees": [dict(me, responseStatus="needsAction")]}, True),
            ({"attendees": [{"email": "x@example.com", "responseStatus": "declined"}]}, True),
        ]
        for extra, want in cases:
            self.assertEqual(gcal_busy.is_busy(dict({"id": "e"}, **extra)), want, extra)

    def test_merge_clips_merges_touching_and_drops_empty(self):
        a = utc("2026-01-05T10:00:00Z")
        h = timedelta(hours=1)
        got = gcal_busy.merge([(a, a + h), (a + h, a + 2 * h), (a + 5 * h, a + 5 * h),
                               (a - 3 * h, a - h), (a + 3 * h, a + 9 * h)], a - 2 * h, a + 4 * h)
        self.assertEqual(got, [(a - 2 * h, a - h), (a, a + 2 * h), (a + 3 * h, a + 4 * h)])

    def test_busy_ranges_expand_series_and_all_day_in_the_calendar_zone(self):
        events = [
            timed("s", "2026-03-02T09:00:00", "2026-03-02T10:00:00",
                  recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"]),
            {"id": "d", "status": "confirmed", "start": {"date": "2026-03-10"},
             "end": {"date": "2026-03-11"}},
            {"id": "free", "status": "confirmed", "transparency": "transparent",
             "start": {"date": "2026-03-12"}, "end": {"date": "2026-03-13"}},
        ]
        got = gcal_busy.busy_ranges([("me", events, NY)], utc("2026-03-01T00:00:00Z"),
                                    utc("2026-03-17T00:00:00Z"))
        self.assertEqual(got, [
            (utc("2026-03-02T14:00:00Z"), utc("2026-03-02T15:00:00Z")),   # EST
            (utc("2026-03-09T13:00:00Z"), utc("2026-03-09T14:00:00Z")),   # EDT, still 09:00
            (utc("2026-03-10T04:00:00Z"), utc("2026-03-11T04:00:00Z")),   # all-day, NY midnights
            (utc("2026-03-16T13:00:00Z"), utc("2026-03-16T14:00:00Z"))])


class OpenHoursAndSlots(unittest.TestCase):
    def test_open_ranges_wall_clock_across_dst_and_exdates(self):
        spec = [{"days": [1, "fri"], "start": "09:00", "end": "10:00", "timezone": NY,
                 "exdates": ["2026-03-06"]}]
        got = gcal_busy.open_ranges(spec, "alice", "UTC", utc("2026-03-01T00:00:00Z"),
                                    utc("2026-03-14T00:00:00Z"))
        self.assertEqual([s for s, _ in got], [utc("2026-03-02T14:00:00Z"), utc("2026-03-09T13:00:00Z"),
                                               utc("2026-03-13T13:00:00Z")])
        self.assertIsNone(gcal_busy.open_ranges({"owners": {"bob": []}}, "alice", "UTC",
                                                utc("2026-03-01T00:00:00Z"), utc("2026-03-14T00:00:00Z")))

    def test_open_ranges_crossing_midnight(self):
        spec = {"default": [{"days": ["sun"], "start": "22:00", "end": "06:00"}]}
        got = gcal_busy.open_ranges(spec, "x", "UTC", utc("2026-12-07T00:00:00Z"), utc("2026-12-14T00:00:00Z"))
        self.assertEqual(got, [(utc("2026-12-07T00:00:00Z"), utc("2026-12-07T06:00:00Z")),
                               (utc("2026-12-13T22:00:00Z"), utc("2026-12-14T00:00:00Z"))])

    def test_free_slots_min_owners_buffers_open_hours(self):
        d = utc("2026-12-07T00:00:00Z")
        H, M = timedelta(hours=1), timedelta(minutes=1)
        busy = {"alice": [(d + 9 * H, d + 10 * H)], "bob": [(d + 10 * H + 45 * M, d + 11 * H)]}
        got = gcal_busy.free_slots(busy, d + 9 * H, d + 12 * H, 30 * M, 15 * M)
        self.assertEqual([s for s, _, _ in got], [d + 10 * H, d + 10 * H + 15 * M, d + 11 * H,
                                                  d + 11 * H + 15 * M, d + 11 * H + 30 * M])
        got = gcal_busy.free_slots(busy, d + 9 * H, d + 12 * H, 30 * M, 15 * M,
                                   buffer_before=10 * M, buffer_after=10 * M)
        self.assertEqual([s for s, _, _ in got], [d + 11 * H + 15 * M, d + 11 * H + 30 * M])
        got = gcal_busy.free_slots(busy, d + 9 * H, d + 11 * H, H, 30 * M, min_owners=1,
                                   open_by_owner={"bob": [(d + 9 * H + 30 * M, d + 10 * H + 30 * M)]},
                                   never_free={"carol"})
        self.assertEqual([(s, f) for s, _, f in got], [(d + 9 * H + 30 * M, ["bob"]), (d + 10 * H, ["alice"])])


class FreeBusyQuery(EmulatorTest):
    """The emulator's freebusy.query answers with gcal_busy over what events.list holds."""

    def query(self, token, body):
        return self.api.call("POST", "/calendar/v3/freeBusy", token, body=body)

    def test_answers_the_oracle_over_the_stored_events(self):
        token = self.token("alice")
        tmin, tmax = "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z"
        resp = self.query(token, {"timeMin": tmin, "timeMax": tmax,
                                  "items": [{"id": "primary"}, {"id": TEAM}, {"id": "nobody@example.com"}]})
        self.assertEqual(resp.status, 200, resp.body)
        body = resp.json
        self.assertEqual(body["kind"], "calendar#freeBusy")
        self.assertEqual(body["calendars"]["nobody@example.com"]["errors"],
                         [{"domain": "global", "reason": "notFound"}])
        for ref, cal, zone in (("primary", ALICE, "America/New_York"), (TEAM, TEAM, "Europe/London")):
            stored, _, _ = self.sync(token, events_path(cal), test_emulator.GCALSYNC_PARAMS)
            stored = [e for e in stored if e["id"] != "b1hidden0invitation0000000"]
            want = gcal_busy.busy_ranges([(cal, stored, zone)], utc(tmin), utc(tmax))
            got = [(utc(b["start"]), utc(b["end"])) for b in body["calendars"][ref]["busy"]]
            self.assertEqual(got, want, ref)
            self.assertTrue(got, ref)

    def test_refuses_what_google_refuses(self):
        token = self.token("alice")
        self.assertGoogleError(self.query(token, {"timeMin": "2025-01-02T00:00:00Z",
                                                  "timeMax": "2025-01-01T00:00:00Z"}), 400, "timeRangeEmpty")
        self.assertGoogleError(self.query(token, {"timeMax": "2025-01-01T00:00:00Z"}), 400, "required")
        self.assertGoogleError(self.query(token, {"timeMin": "2025-01-01T00:00:00Z",
                                                  "timeMax": "2025-01-02T00:00:00Z",
                                                  "items": [{"id": "c%d" % i} for i in range(51)]}),
                               400, "tooManyCalendarsRequested")
        self.assertEqual(self.query(None, {"timeMin": "2025-01-01T00:00:00Z",
                                           "timeMax": "2025-01-02T00:00:00Z"}).status, 401)


def setUpModule():
    test_emulator.setUpModule()


def tearDownModule():
    test_emulator.tearDownModule()
