"""Unit tests of gcal_oracle, the Python expansion gcal_instances is compared with.

    /usr/bin/python3 -m unittest discover -s test/emulator -p 'test_oracle.py' -v

Expected values are worked out by hand (RFC 5545's own examples where it has one), not
computed by the oracle, so a bug in dateutil or in the oracle shows here.
"""

import os
import sys
import unittest
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gcal_oracle as O  # noqa: E402
import gcal_rrgen as G  # noqa: E402

NY = "America/New_York"


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def master(eid, start, end, rules, tz=NY, **extra):
    if len(start) == 10:
        ev = {"id": eid, "start": {"date": start}, "end": {"date": end}}
    else:
        ev = {"id": eid, "start": {"dateTime": start, "timeZone": tz},
              "end": {"dateTime": end, "timeZone": tz}}
    ev["recurrence"] = list(rules)
    ev.update(extra)
    return ev


def rows(events, tmin, tmax, show_deleted=False, zone="UTC"):
    return [i.row() for i in O.expand_calendar("cal", events, utc(tmin), utc(tmax),
                                               show_deleted, zone)]


def ids(events, tmin, tmax, **kw):
    return [r[0] for r in rows(events, tmin, tmax, **kw)]


class WallClock(unittest.TestCase):
    def test_weekly_keeps_local_time_across_dst(self):
        ev = master("w", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                    ["RRULE:FREQ=WEEKLY"])
        self.assertEqual(rows([ev], "2025-03-01", "2025-03-15"), [
            ("w_20250303T140000Z", "confirmed", "2025-03-03 14:00:00+00", "2025-03-03 15:00:00+00"),
            ("w_20250310T130000Z", "confirmed", "2025-03-10 13:00:00+00", "2025-03-10 14:00:00+00")])

    def test_gap_time_reads_with_offset_before_the_gap(self):
        # 02:30 does not exist in New York on 2025-03-09: PostgreSQL reads it as 02:30 EST.
        ev = master("g", "2025-03-08T02:30:00-05:00", "2025-03-08T03:00:00-05:00",
                    ["RRULE:FREQ=DAILY;COUNT=3"])
        self.assertEqual([r[2] for r in rows([ev], "2025-03-01", "2025-03-15")],
                         ["2025-03-08 07:30:00+00", "2025-03-09 07:30:00+00",
                          "2025-03-10 06:30:00+00"])

    def test_fold_time_reads_with_offset_after_the_fold(self):
        # 01:30 happens twice in New York on 2025-11-02: PostgreSQL takes 01:30 EST.
        ev = master("f", "2025-11-01T01:30:00-04:00", "2025-11-01T02:00:00-04:00",
                    ["RRULE:FREQ=DAILY;COUNT=3"])
        self.assertEqual([r[2] for r in rows([ev], "2025-10-30", "2025-11-05")],
                         ["2025-11-01 05:30:00+00", "2025-11-02 06:30:00+00",
                          "2025-11-03 06:30:00+00"])
        self.assertEqual(O.pg_instant(datetime(2025, 11, 2, 1, 30), O.zone_of(NY)),
                         utc("2025-11-02 06:30"))

    def test_sydney_southern_dst(self):
        ev = master("s", "2025-04-04T09:00:00+11:00", "2025-04-04T09:30:00+11:00",
                    ["RRULE:FREQ=WEEKLY;COUNT=2"], tz="Australia/Sydney")
        self.assertEqual([r[2] for r in rows([ev], "2025-04-01", "2025-04-20")],
                         ["2025-04-03 22:00:00+00", "2025-04-10 23:00:00+00"])


class Rules(unittest.TestCase):
    def starts(self, rule, start="1997-08-05T09:00:00-04:00", tmax="1998-12-31"):
        ev = master("r", start, start[:11] + "10:00:00" + start[19:], [rule])
        return [r[2][:10] for r in rows([ev], "1997-01-01", tmax)]

    def test_rfc_wkst_examples(self):
        self.assertEqual(self.starts("RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"),
                         ["1997-08-05", "1997-08-10", "1997-08-19", "1997-08-24"])
        self.assertEqual(self.starts("RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"),
                         ["1997-08-05", "1997-08-17", "1997-08-19", "1997-08-31"])

    def test_last_weekday_of_month_bysetpos(self):
        self.assertEqual(self.starts("RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
                                     start="1997-09-30T09:00:00-04:00"),
                         ["1997-09-30", "1997-10-31", "1997-11-28"])

    def test_negative_bymonthday_and_ordinal_byday(self):
        self.assertEqual(self.starts("RRULE:FREQ=MONTHLY;COUNT=3;BYMONTHDAY=-2",
                                     start="1997-09-29T09:00:00-04:00"),
                         ["1997-09-29", "1997-10-30", "1997-11-29"])
        self.assertEqual(self.starts("RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=-1FR",
                                     start="1997-09-26T09:00:00-04:00"),
                         ["1997-09-26", "1997-10-31", "1997-11-28"])

    def test_dtstart_is_the_first_occurrence_and_counts(self):
        # Start on a Monday, rule on Tuesdays: the Monday is an instance and uses one COUNT.
        self.assertEqual(self.starts("RRULE:FREQ=WEEKLY;COUNT=3;BYDAY=TU",
                                     start="1997-08-04T09:00:00-04:00"),
                         ["1997-08-04", "1997-08-05", "1997-08-12"])

    def test_endless_series_past_730_occurrences(self):
        ev = master("d", "2020-01-01T09:00:00-05:00", "2020-01-01T09:30:00-05:00",
                    ["RRULE:FREQ=DAILY"])
        self.assertEqual(ids([ev], "2027-06-01", "2027-06-03"),
                         ["d_20270601T130000Z", "d_20270602T130000Z"])


class UntilForms(unittest.TestCase):
    def test_utc_until_is_inclusive_instant(self):
        ev = master("u", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                    ["RRULE:FREQ=DAILY;UNTIL=20250305T140000Z"])
        self.assertEqual(len(rows([ev], "2025-03-01", "2025-03-31")), 3)

    def test_date_until_on_timed_series_keeps_that_day(self):
        ev = master("u", "2025-03-03T23:00:00-05:00", "2025-03-03T23:30:00-05:00",
                    ["RRULE:FREQ=DAILY;UNTIL=20250305"])
        self.assertEqual(ids([ev], "2025-03-01", "2025-03-31"),
                         ["u_20250304T040000Z", "u_20250305T040000Z", "u_20250306T040000Z"])

    def test_datetime_until_on_all_day_series(self):
        ev = master("a", "2025-03-03", "2025-03-04", ["RRULE:FREQ=DAILY;UNTIL=20250305T000000Z"])
        self.assertEqual(ids([ev], "2025-03-01", "2025-03-31"),
                         ["a_20250303", "a_20250304", "a_20250305"])

    def test_floating_until_on_timed_series(self):
        ev = master("u", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                    ["RRULE:FREQ=DAILY;UNTIL=20250304T090000"])
        self.assertEqual(len(rows([ev], "2025-03-01", "2025-03-31")), 2)


class ExdateRdate(unittest.TestCase):
    def test_every_exdate_form(self):
        ev = master("x", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                    ["RRULE:FREQ=DAILY;COUNT=6",
                     "EXDATE;TZID=America/New_York:20250304T090000",
                     "EXDATE:20250305T140000Z",
                     "EXDATE;VALUE=DATE:20250306",
                     "EXDATE;TZID=Europe/Berlin:20250307T150000,20250308T150000"])
        self.assertEqual(ids([ev], "2025-03-01", "2025-03-31"), ["x_20250303T140000Z"])

    def test_rdate_forms_merge_with_the_rule(self):
        ev = master("r", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                    ["RRULE:FREQ=WEEKLY;COUNT=1", "RDATE;TZID=America/New_York:20250304T120000",
                     "RDATE:20250303T140000Z", "RDATE;VALUE=DATE:20250310"])
        self.assertEqual(ids([ev], "2025-03-01", "2025-03-31"),
                         ["r_20250303T140000Z", "r_20250304T170000Z", "r_20250310T130000Z"])

    def test_all_day_exdate_forms(self):
        ev = master("a", "2025-03-03", "2025-03-04",
                    ["RRULE:FREQ=DAILY;COUNT=4", "EXDATE;VALUE=DATE:20250304",
                     "EXDATE:20250305T000000Z"])
        self.assertEqual(ids([ev], "2025-03-01", "2025-03-31"), ["a_20250303", "a_20250306"])


class Exceptions(unittest.TestCase):
    def setUp(self):
        self.m = master("m", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                        ["RRULE:FREQ=WEEKLY;COUNT=4"], summary="Standup")
        # moved from Mon 10 Mar into Fri 28 Mar (outside the occurrence's week)
        self.moved = {"id": "m_20250310T130000Z", "recurringEventId": "m", "status": "confirmed",
                      "originalStartTime": {"dateTime": "2025-03-10T09:00:00-04:00", "timeZone": NY},
                      "start": {"dateTime": "2025-03-28T15:00:00-04:00", "timeZone": NY},
                      "end": {"dateTime": "2025-03-28T16:00:00-04:00", "timeZone": NY}}
        self.cancelled = {"id": "m_20250317T130000Z", "recurringEventId": "m", "status": "cancelled",
                          "originalStartTime": {"dateTime": "2025-03-17T09:00:00-04:00",
                                                "timeZone": NY}}

    def test_moved_and_cancelled(self):
        evs = [self.m, self.moved, self.cancelled]
        self.assertEqual(ids(evs, "2025-03-01", "2025-04-01"),
                         ["m_20250303T140000Z", "m_20250324T130000Z", "m_20250310T130000Z"])
        self.assertEqual(rows(evs, "2025-03-16", "2025-03-18", show_deleted=True),
                         [("m_20250317T130000Z", "cancelled", "2025-03-17 13:00:00+00",
                           "2025-03-17 14:00:00+00")])
        # the moved occurrence is found from a window around where it went, not where it was
        self.assertEqual(ids(evs, "2025-03-28", "2025-03-29"), ["m_20250310T130000Z"])
        self.assertEqual(ids(evs, "2025-03-10", "2025-03-11"), [])

    def test_orphan_exceptions_as_they_are(self):
        self.assertEqual(ids([self.moved, self.cancelled], "2025-03-01", "2025-04-01"),
                         ["m_20250310T130000Z"])

    def test_split_series(self):
        old = master("s", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                     ["RRULE:FREQ=WEEKLY;UNTIL=20250316T235959Z"])
        new = master("s_R20250317T130000", "2025-03-17T11:00:00-04:00",
                     "2025-03-17T12:00:00-04:00", ["RRULE:FREQ=WEEKLY;COUNT=2"])
        self.assertEqual(ids([old, new], "2025-03-01", "2025-04-01"),
                         ["s_20250303T140000Z", "s_20250310T130000Z",
                          "s_R20250317T130000_20250317T150000Z",
                          "s_R20250317T130000_20250324T150000Z"])


class Window(unittest.TestCase):
    def test_all_day_in_calendar_zone(self):
        ev = {"id": "d", "start": {"date": "2025-03-03"}, "end": {"date": "2025-03-04"}}
        # Tokyo's 2025-03-03 is [2025-03-02 15:00Z, 2025-03-03 15:00Z)
        self.assertEqual(ids([ev], "2025-03-03 14:59", "2025-03-03 16:00", zone="Asia/Tokyo"), ["d"])
        self.assertEqual(ids([ev], "2025-03-03 15:00", "2025-03-03 16:00", zone="Asia/Tokyo"), [])
        self.assertEqual(ids([ev], "2025-03-02 14:00", "2025-03-02 15:00", zone="Asia/Tokyo"), [])

    def test_end_after_min_start_before_max_and_order(self):
        a = {"id": "b", "start": {"dateTime": "2025-03-03T10:00:00Z"},
             "end": {"dateTime": "2025-03-03T11:00:00Z"}}
        b = dict(a, id="a")
        c = {"id": "c", "start": {"dateTime": "2025-03-03T09:00:00Z"},
             "end": {"dateTime": "2025-03-03T10:00:00Z"}}
        self.assertEqual(ids([a, b, c], "2025-03-03 10:00", "2025-03-03 10:30"), ["a", "b"])
        self.assertEqual(ids([a, b, c], "2025-03-03 09:00", "2025-03-03 10:30"), ["c", "a", "b"])
        self.assertEqual(ids([a, b, c], "2025-03-03 08:00", "2025-03-03 10:00"), ["c"])

    def test_deletion_stub_never_listed(self):
        stub = {"id": "z", "status": "cancelled"}
        self.assertEqual(ids([stub], "2025-01-01", "2026-01-01", show_deleted=True), [])

    def test_endless_without_time_max_refused(self):
        ev = master("e", "2025-03-03T09:00:00-05:00", "2025-03-03T10:00:00-05:00",
                    ["RRULE:FREQ=DAILY"])
        with self.assertRaises(O.OracleError):
            O.expand_calendar("cal", [ev], None, None)


class Generated(unittest.TestCase):
    def test_series_are_deterministic_and_expandable(self):
        import random
        a = [G.random_series(random.Random(7), i) for i in range(3)]
        b = [G.random_series(random.Random(7), i) for i in range(3)]
        self.assertEqual(a, b)
        rng, lines = random.Random(3), []
        for i in range(300):
            master, zone, windows = G.random_series(rng, i)
            lines += master["recurrence"]
            for tmin, tmax in windows:
                O.expand_calendar("c", [master], tmin, tmax, False, zone)
        text = "\n".join(lines)
        for part in ("BYSETPOS=", "BYMONTHDAY=-", "BYWEEKNO=", "BYYEARDAY=", "WKST=", "COUNT=",
                     "UNTIL=", "EXDATE;TZID=", "EXDATE;VALUE=DATE", "RDATE", "INTERVAL="):
            self.assertTrue(any(part in line for line in lines), part)

    def test_account_has_exceptions_and_splits(self):
        cals = G.account()
        self.assertEqual(cals, G.account())
        events = [ev for _, evs in cals for ev in evs]
        self.assertTrue(any("_R" in ev["id"] and ev.get("recurrence") for ev in events))
        self.assertTrue(any(ev.get("status") == "cancelled" and ev.get("recurringEventId") for ev in events))
        self.assertTrue(any(ev.get("recurringEventId") and ev.get("start") for ev in events))
        self.assertTrue(any("date" in ev.get("start", {}) and ev.get("recurrence") for ev in events))
        self.assertEqual(len({ev["id"] for _, evs in cals for ev in evs}),
                         sum(len(evs) for _, evs in cals))


if __name__ == "__main__":
    unittest.main()
