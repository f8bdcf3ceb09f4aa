"""Tests of the Google Calendar emulator, over real HTTP against the real emulator process.

    python3 -m unittest discover -s test/emulator -v

One emulator process serves the whole module (each test resets it through the control
interface); the command-line tests start their own. Asynchronous things (push delivery,
token expiry) are awaited on conditions with deadlines, never with fixed sleeps.
"""

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gcal_datasets  # noqa: E402
import gcal_errors as E  # noqa: E402
from gcal_client import EMULATOR, EmulatorError, EmulatorProcess  # noqa: E402

EMU = None
CLIENT_ID, CLIENT_SECRET = gcal_datasets.DEMO_CLIENT_ID, gcal_datasets.DEMO_CLIENT_SECRET
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
TEAM, HOLIDAY = gcal_datasets.TEAM_CAL, gcal_datasets.HOLIDAY_CAL


def setUpModule():
    global EMU
    EMU = EmulatorProcess(data="empty").start()


def tearDownModule():
    EMU.stop()


def wait_until(predicate, timeout=10.0, interval=0.02):
    """Poll a condition until it holds or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)


class Api:
    """Google-side HTTP over one keep-alive connection (like gcalsync's libcurl)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, token=None, params=None, body=None, headers=None):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if params:
            path += "?" + urlencode(params, doseq=True)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())

    def token(self, form, headers=None):
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        hdrs.update(headers or {})
        return self.call("POST", "/token", body=urlencode(form).encode(), headers=hdrs)

    def close(self):
        self.conn.close()


def events_path(cal):
    return "/calendar/v3/calendars/%s/events" % quote(cal, safe="")


LIST_PATH = "/calendar/v3/users/me/calendarList"
GCALSYNC_PARAMS = {"maxResults": 2500, "showDeleted": "true", "singleEvents": "false"}


class Receiver:
    """A local webhook endpoint recording every notification (headers) it receives."""

    def __init__(self, status=200, gate=None):
        self.hits, self.cond, self.status, self.gate = [], threading.Condition(), status, gate
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.gate is not None:
                    outer.gate.wait(20)
                with outer.cond:
                    outer.hits.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": body, "path": self.path})
                    outer.cond.notify_all()
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count, timeout=10.0):
        """The first `count` notifications, waiting on a condition with a deadline."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.hits) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("only %d of %d notifications arrived" % (len(self.hits), count))
                self.cond.wait(left)
            return list(self.hits)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class EmulatorTest(unittest.TestCase):
    """Base: a reset emulator with a data set, a client and an API connection."""
    dataset = "demo"

    def setUp(self):
        self.c = EMU.client
        self.c.reset()
        if self.dataset:
            self.c.load(self.dataset)
        self.api = Api(EMU.port)

    def tearDown(self):
        self.api.close()

    def token(self, user):
        return self.c.token("demo-refresh-" + user)

    def events(self, token, cal, **params):
        return self.api.call("GET", events_path(cal), token, params)

    def sync(self, token, path, params):
        """Follow pages to the end: (items, nextSyncToken, pages)."""
        items, pages, page_token = [], [], None
        while True:
            query = dict(params)
            if page_token:
                query["pageToken"] = page_token
            resp = self.api.call("GET", path, token, query)
            self.assertEqual(resp.status, 200, resp.body)
            page = resp.json
            pages.append(page)
            items += page["items"]
            if "nextPageToken" in page:
                self.assertNotIn("nextSyncToken", page)
                page_token = page["nextPageToken"]
                continue
            self.assertIn("nextSyncToken", page)
            return items, page["nextSyncToken"], pages

    def assertGoogleError(self, resp, status, reason=None):
        """A Google-shaped JSON error with that status (and reason)."""
        self.assertEqual(resp.status, status, resp.body)
        err = resp.json["error"]
        self.assertEqual(err["code"], status)
        if reason is not None:
            self.assertEqual(err["errors"][0]["reason"], reason)
        return err


def timed_event(summary, day="2025-05-01", **extra):
    ev = {"summary": summary, "start": {"dateTime": day + "T10:00:00Z", "timeZone": "UTC"},
          "end": {"dateTime": day + "T11:00:00Z", "timeZone": "UTC"}}
    ev.update(extra)
    return ev


# ============================== OAuth token endpoint ==============================

class TokenEndpointTest(EmulatorTest):

    def grant(self, refresh="demo-refresh-alice", **override):
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": refresh,
                "grant_type": "refresh_token"}
        form.update(override)
        return self.api.token({k: v for k, v in form.items() if v is not None})

    def test_refresh_grant_returns_bearer_token_with_expiry(self):
        resp = self.grant()
        self.assertEqual(resp.status, 200)
        body = resp.json
        self.assertEqual(set(body), {"access_token", "expires_in", "scope", "token_type"})
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertTrue(body["access_token"].startswith("ya29."))
        self.assertNotIn("refresh_token", body)           # refresh tokens are not rotated
        self.assertIn("no-store", resp.headers["cache-control"])

    def test_client_credentials_by_http_basic(self):
        import base64
        basic = base64.b64encode(("%s:%s" % (CLIENT_ID, CLIENT_SECRET)).encode()).decode()
        resp = self.api.token({"refresh_token": "demo-refresh-bob", "grant_type": "refresh_token"},
                              {"Authorization": "Basic " + basic})
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(self.c.log(api="token")[-1]["client_auth"], "basic")

    def test_unknown_client_is_invalid_client_401(self):
        resp = self.grant(client_id="nobody.apps.googleusercontent.com")
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.json, {"error": "invalid_client",
                                     "error_description": "The OAuth client was not found."})

    def test_wrong_secret_is_invalid_client_unauthorized(self):
        resp = self.grant(client_secret="wrong")
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.json, {"error": "invalid_client", "error_description": "Unauthorized"})

    def test_revoked_refresh_token_is_invalid_grant(self):
        self.c.revoke_refresh_tokens(token="demo-refresh-alice")
        resp = self.grant()
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json, {"error": "invalid_grant",
                                     "error_description": "Token has been expired or revoked."})
        # the demo's erin starts revoked
        self.assertEqual(self.grant("demo-refresh-erin-revoked").json, E.INVALID_GRANT_REVOKED)

    def test_expired_refresh_token_is_invalid_grant(self):
        self.c.expire_refresh_tokens(user="bob")
        resp = self.grant("demo-refresh-bob")
        self.assertEqual((resp.status, resp.json), (400, E.INVALID_GRANT_REVOKED))

    def test_unknown_refresh_token_is_malformed_grant(self):
        resp = self.grant("no-such-token")
        self.assertEqual((resp.status, resp.json),
                         (400, {"error": "invalid_grant", "error_description": "Bad Request"}))

    def test_bad_grant_type_and_missing_token(self):
        resp = self.grant(grant_type="authorization_code")
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json["error"], "unsupported_grant_type")
        resp = self.grant(refresh=None)
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json["error"], "invalid_request")

    def test_configurable_lifetime_and_expiry_gives_documented_401(self):
        self.c.settings(token_lifetime=1)
        body = self.grant().json
        self.assertEqual(body["expires_in"], 1)
        token = body["access_token"]
        self.assertEqual(self.api.call("GET", LIST_PATH, token).status, 200)
        # expiry is a matter of time: wait on the condition with a deadline
        resp = wait_until(lambda: (lambda r: r if r.status == 401 else None)(
            self.api.call("GET", LIST_PATH, token)), timeout=5, interval=0.1)
        self.assertIsNotNone(resp, "token never expired")
        self.assertEqual(resp.json, E.UNAUTHENTICATED)
        self.assertIn("invalid_token", resp.headers["www-authenticate"])

    def test_expire_and_revoke_access_tokens_by_control(self):
        a, b = self.token("alice"), self.token("bob")
        self.c.expire_access_tokens(token=a)
        self.assertEqual(self.api.call("GET", LIST_PATH, a).json, E.UNAUTHENTICATED)
        self.assertEqual(self.api.call("GET", LIST_PATH, b).status, 200)
        self.c.revoke_access_tokens(user="bob")
        self.assertEqual(self.api.call("GET", LIST_PATH, b).status, 401)
        states = {t["user"]: t["state"] for t in self.c.access_tokens()}
        self.assertEqual(states, {"alice": "expired", "bob": "revoked"})

    def test_revoking_refresh_token_revokes_its_access_tokens(self):
        token = self.token("alice")
        self.c.revoke_refresh_tokens(user="alice")
        self.assertEqual(self.api.call("GET", LIST_PATH, token).status, 401)

    def test_missing_and_malformed_authorization(self):
        resp = self.api.call("GET", LIST_PATH)
        self.assertGoogleError(resp, 401, "required")
        self.assertEqual(resp.json, E.LOGIN_REQUIRED)
        resp = self.api.call("GET", LIST_PATH, headers={"Authorization": "Bearer nope"})
        self.assertEqual((resp.status, resp.json), (401, E.UNAUTHENTICATED))

    def test_new_refresh_token_for_user(self):
        token = self.c.add_refresh_token("alice", "second-token")["token"]
        self.assertEqual(self.grant(token).status, 200)
        self.c.update_user("bob", refresh_tokens=["bob-2"], revoked_refresh_tokens=["bob-old"])
        self.assertEqual(self.grant("bob-2").status, 200)
        self.assertEqual(self.grant("bob-old").json, E.INVALID_GRANT_REVOKED)


# ============================== calendarList.list ==============================

class CalendarListTest(EmulatorTest):

    def list_ids(self, token, **params):
        resp = self.api.call("GET", LIST_PATH, token, params)
        self.assertEqual(resp.status, 200, resp.body)
        return [e["id"] for e in resp.json["items"]], resp.json

    def test_default_listing_hides_deleted_and_hidden_entries(self):
        ids, page = self.list_ids(self.token("alice"))
        self.assertEqual(page["kind"], "calendar#calendarList")
        self.assertEqual(sorted(ids), sorted([ALICE, TEAM, HOLIDAY]))
        ids, _ = self.list_ids(self.token("bob"))
        self.assertNotIn(gcal_datasets.SIDE_CAL, ids)     # hidden

    def test_show_deleted_and_show_hidden(self):
        ids, page = self.list_ids(self.token("alice"), showDeleted="true")
        self.assertIn(gcal_datasets.OLD_CAL, ids)
        old = [e for e in page["items"] if e["id"] == gcal_datasets.OLD_CAL][0]
        self.assertIs(old["deleted"], True)
        ids, page = self.list_ids(self.token("bob"), showHidden="true")
        side = [e for e in page["items"] if e["id"] == gcal_datasets.SIDE_CAL][0]
        self.assertIs(side["hidden"], True)

    def test_entries_are_per_user_for_a_shared_calendar(self):
        _, alice = self.list_ids(self.token("alice"))
        _, bob = self.list_ids(self.token("bob"))
        _, carol = self.list_ids(self.token("carol"))
        a, b, c = [[e for e in page["items"] if e["id"] == TEAM][0] for page in (alice, bob, carol)]
        self.assertEqual((a["accessRole"], b["accessRole"], c["accessRole"]), ("owner", "writer", "reader"))
        self.assertEqual(b["summaryOverride"], "Team (shared)")
        self.assertNotIn("summaryOverride", a)
        self.assertEqual(c["colorId"], "3")
        self.assertEqual(a["summary"], b["summary"])
        self.assertNotIn(HOLIDAY, [e["id"] for e in carol["items"]])
        primary = [e for e in alice["items"] if e.get("primary")]
        self.assertEqual([e["id"] for e in primary], [ALICE])

    def test_max_results_default_100_max_250(self):
        self.c.load("generate", users=1, calendars=260, events=0)
        token = self.c.token("gen-refresh-user0001")
        _, page = self.list_ids(token)
        self.assertEqual(len(page["items"]), 100)
        self.assertIn("nextPageToken", page)
        _, page = self.list_ids(token, maxResults=250)
        self.assertEqual(len(page["items"]), 250)
        for bad in ("251", "0", "x"):
            err = self.assertGoogleError(self.api.call("GET", LIST_PATH, token, {"maxResults": bad}),
                                         400, "invalid")
            self.assertEqual(err["message"], "Invalid value '%s'. Values must be within the range: "
                                             "[1, 250]" % bad)
            self.assertEqual(err["errors"][0]["location"], "maxResults")

    def test_paging_and_sync_token_only_on_last_page(self):
        self.c.load("generate", users=1, calendars=7, events=0)
        token = self.c.token("gen-refresh-user0001")
        items, sync, pages = self.sync(token, LIST_PATH, {"maxResults": 3})
        self.assertEqual(len(pages), 3)
        self.assertEqual(len({e["id"] for e in items}), 7)

    def test_incremental_returns_changes_including_deleted_and_hidden(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, LIST_PATH, {})
        self.c.put_entry("alice", TEAM, hidden=True)
        self.c.delete_entry("alice", HOLIDAY)
        self.c.put_calendar({"id": "new@group.calendar.google.com", "summary": "New",
                             "members": {"alice": {"accessRole": "writer"}}})
        items, sync2, _ = self.sync(token, LIST_PATH, {"syncToken": sync})
        by_id = {e["id"]: e for e in items}
        self.assertEqual(set(by_id), {TEAM, HOLIDAY, "new@group.calendar.google.com"})
        self.assertTrue(by_id[TEAM]["hidden"])
        self.assertTrue(by_id[HOLIDAY]["deleted"])
        items, _, _ = self.sync(token, LIST_PATH, {"syncToken": sync2})
        self.assertEqual(items, [])

    def test_calendar_metadata_change_is_not_an_entry_change_unless_touched(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, LIST_PATH, {})
        self.c.patch_calendar(TEAM, summary="Renamed team")
        items, sync, _ = self.sync(token, LIST_PATH, {"syncToken": sync})
        self.assertEqual(items, [])              # Google: read-only calendar fields don't count
        ids, page = self.list_ids(token)
        self.assertEqual([e["summary"] for e in page["items"] if e["id"] == TEAM], ["Renamed team"])
        self.c.patch_calendar(TEAM, summary="Renamed again", touchListEntries=True)
        items, _, _ = self.sync(token, LIST_PATH, {"syncToken": sync})
        self.assertEqual([(e["id"], e["summary"]) for e in items], [(TEAM, "Renamed again")])

    def test_fresh_sync_tokens_move_without_changes(self):
        self.c.load("generate", users=1, calendars=2, events=5, seed=4)
        token = self.c.token("gen-refresh-user0001")
        cal = "user0001@example.com"
        listed, _, _ = self.sync(token, LIST_PATH, {})
        other = [e["id"] for e in listed if e["id"] != cal][0]
        _, sync, _ = self.sync(token, events_path(cal), GCALSYNC_PARAMS)
        self.c.settings(fresh_sync_tokens=True)
        self.c.insert_events(other, [timed_event("elsewhere 1")])
        items, fresh, _ = self.sync(token, events_path(cal), {**GCALSYNC_PARAMS, "syncToken": sync})
        self.assertEqual(items, [])
        self.assertNotEqual(fresh, sync)                          # no change here, a new token
        self.c.insert_events(other, [timed_event("elsewhere 2")])
        items, fresher, _ = self.sync(token, events_path(cal), {**GCALSYNC_PARAMS, "syncToken": fresh})
        self.assertEqual(items, [])
        self.assertNotEqual(fresher, fresh)
        self.c.insert_events(cal, [timed_event("here, after the fresh tokens")])
        for t in (sync, fresh, fresher):                           # every token still finds it
            items, _, _ = self.sync(token, events_path(cal), {**GCALSYNC_PARAMS, "syncToken": t})
            self.assertEqual([e["summary"] for e in items], ["here, after the fresh tokens"])

    def test_parameters_forbidden_with_sync_token(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, LIST_PATH, {})
        for name, value in (("minAccessRole", "reader"), ("showDeleted", "false"),
                            ("showHidden", "false"), ("showOwnOrganizationOnly", "true")):
            resp = self.api.call("GET", LIST_PATH, token, {"syncToken": sync, name: value})
            err = self.assertGoogleError(resp, 400)
            self.assertEqual(err["errors"][0]["location"], name)
        self.assertEqual(self.api.call("GET", LIST_PATH, token,
                                       {"syncToken": sync, "showDeleted": "true"}).status, 200)

    def test_min_access_role(self):
        ids, _ = self.list_ids(self.token("bob"), minAccessRole="writer")
        self.assertEqual(sorted(ids), sorted([BOB, TEAM]))

    def test_invalidated_list_token_is_410(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, LIST_PATH, {})
        self.c.invalidate_sync_tokens(user="alice", resource="calendarList")
        resp = self.api.call("GET", LIST_PATH, token, {"syncToken": sync})
        self.assertEqual((resp.status, resp.json), (410, E.FULL_SYNC_REQUIRED))


# ============================== calendars.get ==============================

class CalendarsGetTest(EmulatorTest):

    def get(self, token, raw_id):
        return self.api.call("GET", "/calendar/v3/calendars/" + raw_id, token)

    def test_get_calendar_and_primary_alias(self):
        token = self.token("alice")
        resp = self.get(token, quote(TEAM, safe=""))
        self.assertEqual(resp.status, 200)
        cal = resp.json
        self.assertEqual((cal["kind"], cal["id"], cal["summary"], cal["timeZone"]),
                         ("calendar#calendar", TEAM, "Product Team", "Europe/London"))
        self.assertEqual(self.get(token, "primary").json["id"], ALICE)
        self.assertEqual(self.get(token, "alice@example.com").json["id"], ALICE)  # raw '@'

    def test_percent_encoded_holiday_id(self):
        resp = self.get(self.token("alice"), "en.usa%23holiday%40group.v.calendar.google.com")
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json["id"], HOLIDAY)

    def test_unknown_or_unlisted_calendar_is_documented_404(self):
        token = self.token("carol")
        for raw in ("nope%40example.com", quote(HOLIDAY, safe=""), quote(ALICE, safe="")):
            resp = self.get(token, raw)
            self.assertEqual((resp.status, resp.json), (404, E.NOT_FOUND))

    def test_deleted_entry_or_calendar_is_404(self):
        token = self.token("alice")
        self.assertEqual(self.get(token, quote(gcal_datasets.OLD_CAL, safe="")).status, 404)
        self.c.delete_calendar(TEAM)
        self.assertEqual(self.get(token, quote(TEAM, safe="")).status, 404)
        self.assertEqual(self.events(token, TEAM).status, 404)


# ============================== events.list ==============================

class EventsListTest(EmulatorTest):

    def test_full_listing_shape_and_singleEvents_false_semantics(self):
        items, sync, pages = self.sync(self.token("alice"), events_path(ALICE), GCALSYNC_PARAMS)
        page = pages[0]
        for key in ("kind", "etag", "summary", "updated", "timeZone", "accessRole", "defaultReminders"):
            self.assertIn(key, page)
        self.assertEqual((page["kind"], page["accessRole"], page["timeZone"]),
                         ("calendar#events", "owner", "America/New_York"))
        by_id = {e["id"]: e for e in items}
        master = by_id["5hni4sj3ql1669otmjg7sn1mok"]
        self.assertEqual(master["recurrence"], ["RRULE:FREQ=WEEKLY;BYDAY=TU"])
        moved = by_id["5hni4sj3ql1669otmjg7sn1mok_20250401T130000Z"]
        self.assertEqual(moved["recurringEventId"], master["id"])
        self.assertEqual(moved["iCalUID"], master["iCalUID"])
        self.assertEqual(by_id["5legacy0exchange0import000"]["created"], "0000-12-31T00:00:00Z")
        zero = by_id["4zerolength0allday00000000"]
        self.assertEqual(zero["start"], zero["end"])
        self.assertNotIn("b1hidden0invitation0000000", by_id)
        self.assertNotIn("timeZone", by_id["7dentist00notimezone000000"]["start"])

    def test_cancelled_stubs_carry_only_guaranteed_fields(self):
        items, _, _ = self.sync(self.token("alice"), events_path(ALICE), GCALSYNC_PARAMS)
        by_id = {e["id"]: e for e in items}
        exception = by_id["5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z"]
        self.assertEqual(set(exception), {"kind", "etag", "id", "status", "recurringEventId",
                                          "originalStartTime"})
        self.assertEqual(exception["originalStartTime"],
                         {"dateTime": "2025-03-25T08:00:00-05:00", "timeZone": "America/Chicago"})
        deleted = by_id["8cancelled0lunch0000000000"]
        self.assertEqual(set(deleted), {"kind", "etag", "id", "status"})
        self.assertEqual(deleted["status"], "cancelled")

    def test_show_deleted_semantics(self):
        token = self.token("alice")
        items, _, _ = self.sync(token, events_path(ALICE), {"maxResults": 2500})
        ids = {e["id"] for e in items}
        self.assertNotIn("8cancelled0lunch0000000000", ids)                    # deleted: hidden
        self.assertIn("5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z", ids)      # cancelled instance: kept
        items, _, _ = self.sync(token, events_path(ALICE), {"maxResults": 2500, "showDeleted": "false"})
        self.assertEqual({e["id"] for e in items}, ids)

    def test_show_hidden_invitations(self):
        items, _, _ = self.sync(self.token("alice"), events_path(ALICE),
                                dict(GCALSYNC_PARAMS, showHiddenInvitations="true"))
        self.assertIn("b1hidden0invitation0000000", {e["id"] for e in items})

    # --- singleEvents=true (issue 14): instances from gcal_oracle ---

    def test_single_events_expands_the_weekly_series(self):
        token = self.token("alice")
        window = {"timeMin": "2025-03-17T00:00:00Z", "timeMax": "2025-04-05T00:00:00Z",
                  "singleEvents": "true", "orderBy": "startTime", "q": "weekly sync"}
        items = self.events(token, ALICE, **window).json["items"]
        # 18 Mar, 25 Mar cancelled, 1 Apr moved to 10:00 (keeps its own id and times)
        self.assertEqual([(e["id"], e["start"]["dateTime"]) for e in items], [
            ("5hni4sj3ql1669otmjg7sn1mok_20250318T130000Z", "2025-03-18T08:00:00-05:00"),
            ("5hni4sj3ql1669otmjg7sn1mok_20250401T130000Z", "2025-04-01T10:00:00-05:00")])
        first = items[0]
        self.assertEqual(first["recurringEventId"], "5hni4sj3ql1669otmjg7sn1mok")
        self.assertEqual(first["originalStartTime"],
                         {"dateTime": "2025-03-18T08:00:00-05:00", "timeZone": "America/Chicago"})
        self.assertNotIn("recurrence", first)
        deleted = self.events(token, ALICE, showDeleted="true", **window).json["items"]
        self.assertIn(("5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z", "cancelled"),
                      [(e["id"], e["status"]) for e in deleted])

    def assertSingleEventsEqualOracle(self, token, cal, zone, tmin, tmax, show_deleted=False):
        """singleEvents=true (paged) == the oracle over the singleEvents=false listing."""
        import gcal_oracle
        from datetime import datetime as dt
        stored, _, _ = self.sync(token, events_path(cal), GCALSYNC_PARAMS)
        want = [(i.id, i.status) for i in gcal_oracle.expand_calendar(
            cal, [e for e in stored if e["id"] != "b1hidden0invitation0000000"],
            dt.fromisoformat(tmin.replace("Z", "+00:00")), dt.fromisoformat(tmax.replace("Z", "+00:00")),
            show_deleted, zone)]
        params = {"singleEvents": "true", "maxResults": 50, "timeMin": tmin, "timeMax": tmax}
        if show_deleted:
            params["showDeleted"] = "true"
        items, _, _ = self.sync(token, events_path(cal), params)
        self.assertEqual([(e["id"], e.get("status")) for e in items], want)
        return want

    def test_single_events_equals_the_oracle_over_the_stored_events(self):
        want = self.assertSingleEventsEqualOracle(self.token("alice"), ALICE, "America/New_York",
                                                  "2025-01-01T00:00:00Z", "2025-12-31T00:00:00Z")
        self.assertGreater(len(want), 250)          # the standup alone: ~250 weekdays

    def test_recurrence_data_set(self):
        self.c.load("recurrence")
        token = self.token("rita")
        cals = [("rita@example.com", "America/New_York")] + list(zip(
            gcal_datasets.RITA_CALENDARS, ("Europe/Berlin", "Australia/Sydney", "Asia/Kolkata",
                                           "America/New_York")))
        total = 0
        for cal, zone in cals:
            for tmin, tmax in (("2025-03-01T00:00:00Z", "2025-04-15T00:00:00Z"),
                               ("2024-06-01T00:00:00Z", "2026-06-01T00:00:00Z")):
                total += len(self.assertSingleEventsEqualOracle(token, cal, zone, tmin, tmax, True))
        self.assertGreater(total, 1000)

    def test_events_instances(self):
        token = self.token("alice")
        path = events_path(ALICE) + "/5hni4sj3ql1669otmjg7sn1mok/instances"
        items, pages, query = [], 0, {"timeMin": "2025-03-10T00:00:00Z",
                                      "timeMax": "2025-04-09T00:00:00Z", "maxResults": 2}
        while True:
            resp = self.api.call("GET", path, token, query)
            self.assertEqual(resp.status, 200, resp.body)
            items, pages = items + resp.json["items"], pages + 1
            if "nextPageToken" not in resp.json:
                break
            query["pageToken"] = resp.json["nextPageToken"]
        self.assertEqual([e["id"][-16:] for e in items],
                         ["20250311T130000Z", "20250318T130000Z", "20250401T130000Z", "20250408T130000Z"])
        self.assertEqual(pages, 2)
        self.assertEqual(self.api.call("GET", events_path(ALICE) + "/7dentist00notimezone000000/instances",
                                       token).status, 404)

    def test_single_events_parameters_as_google(self):
        token = self.token("alice")
        self.assertEqual(self.events(token, ALICE, singleEvents="true", orderBy="startTime",
                                     timeMax="2025-05-01T00:00:00Z").status, 200)
        # endless series and no timeMax: the emulator refuses rather than cut them anywhere
        err = self.assertGoogleError(self.events(token, ALICE, singleEvents="true"), 400)
        self.assertIn("timeMax", err["message"])
        self.assertGoogleError(self.events(token, ALICE, orderBy="startTime"), 400)
        sync = self.events(token, ALICE, **GCALSYNC_PARAMS).json["nextSyncToken"]
        err = self.assertGoogleError(self.events(token, ALICE, singleEvents="true",
                                                 syncToken=sync), 400)
        self.assertIn("singleEvents", err["message"])

    def test_max_results_default_250_max_2500(self):
        self.c.load("generate", users=1, calendars=1, events=600)
        token = self.c.token("gen-refresh-user0001")
        cal = "user0001@example.com"
        self.assertEqual(len(self.events(token, cal).json["items"]), 250)
        self.assertEqual(len(self.events(token, cal, maxResults=2500).json["items"]), 600)
        err = self.assertGoogleError(self.events(token, cal, maxResults=2501), 400, "invalid")
        self.assertEqual(err["message"], "Invalid value '2501'. Values must be within the range: [1, 2500]")

    def test_paging_covers_everything_once(self):
        self.c.load("generate", users=1, calendars=1, events=1001, seed=7)
        token = self.c.token("gen-refresh-user0001")
        items, sync, pages = self.sync(token, events_path("user0001@example.com"),
                                       {"maxResults": 250, "showDeleted": "true"})
        self.assertEqual(len(pages), 5)
        self.assertEqual(len(items), 1001)
        self.assertEqual(len({e["id"] for e in items}), 1001)
        self.assertTrue(all("nextPageToken" in p for p in pages[:-1]))

    def test_forced_short_and_empty_pages(self):
        self.c.settings(page_pattern=[0, 2, 1])
        items, _, pages = self.sync(self.token("alice"), events_path(ALICE), GCALSYNC_PARAMS)
        sizes = [len(p["items"]) for p in pages]
        self.assertEqual(sizes[:3], [0, 2, 1])
        self.assertEqual(sum(sizes), 15)
        self.assertEqual(len({e["id"] for e in items}), 15)

    def test_incremental_sync_returns_every_change(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, events_path(ALICE), GCALSYNC_PARAMS)
        new = self.c.insert_event(ALICE, timed_event("New meeting"))
        self.c.patch_event(ALICE, "3taxday00000000000000000aa", summary="Tax day (filed)")
        self.c.delete_event(ALICE, "6unicode0cafe0tanaka000000")
        self.c.cancel_instance(ALICE, "0nq9t3k8h7b2c4d6e1f5g9a2b3",
                               {"dateTime": "2025-02-03T09:30:00-05:00", "timeZone": "America/New_York"})
        items, sync2, _ = self.sync(token, events_path(ALICE), {"maxResults": 2500, "syncToken": sync,
                                                                "showDeleted": "true"})
        by_id = {e["id"]: e for e in items}
        self.assertEqual(set(by_id), {new["id"], "3taxday00000000000000000aa",
                                      "6unicode0cafe0tanaka000000",
                                      "0nq9t3k8h7b2c4d6e1f5g9a2b3_20250203T143000Z"})
        self.assertEqual(by_id["3taxday00000000000000000aa"]["summary"], "Tax day (filed)")
        self.assertEqual(set(by_id["6unicode0cafe0tanaka000000"]), {"kind", "etag", "id", "status"})
        self.assertEqual(by_id["0nq9t3k8h7b2c4d6e1f5g9a2b3_20250203T143000Z"]["recurringEventId"],
                         "0nq9t3k8h7b2c4d6e1f5g9a2b3")
        items, _, _ = self.sync(token, events_path(ALICE), {"syncToken": sync2})
        self.assertEqual(items, [])

    def test_deleting_a_master_deletes_its_exceptions(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, events_path(ALICE), GCALSYNC_PARAMS)
        self.c.delete_event(ALICE, "5hni4sj3ql1669otmjg7sn1mok")
        items, _, _ = self.sync(token, events_path(ALICE), {"syncToken": sync})
        self.assertEqual({e["id"] for e in items}, {
            "5hni4sj3ql1669otmjg7sn1mok", "5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z",
            "5hni4sj3ql1669otmjg7sn1mok_20250401T130000Z"})
        for e in items:
            self.assertEqual(set(e), {"kind", "etag", "id", "status"})

    def test_paged_listing_is_a_snapshot_and_changes_go_to_next_sync(self):
        self.c.load("generate", users=1, calendars=1, events=30, seed=3)
        token, cal = self.c.token("gen-refresh-user0001"), "user0001@example.com"
        params = {"maxResults": 10, "showDeleted": "true"}
        first = self.events(token, cal, **params).json
        first_ids = {e["id"] for e in first["items"]}
        # change data between pages: one event already listed, one not yet listed, one new
        listed = first["items"][0]["id"]
        pending = next(v["event"]["id"] for v in self.c.events(cal) if v["event"]["id"] not in first_ids)
        self.c.patch_event(cal, listed, summary="changed while paging (listed)")
        self.c.patch_event(cal, pending, summary="changed while paging (pending)")
        added = self.c.insert_event(cal, timed_event("added while paging"))
        rest, sync, _ = self.sync(token, events_path(cal), dict(params, pageToken=first["nextPageToken"]))
        full = first["items"] + rest
        self.assertEqual(len(full), 30)                           # the snapshot: no added event
        self.assertNotIn(added["id"], {e["id"] for e in full})
        self.assertNotIn("changed while paging (pending)", {e.get("summary") for e in full})
        changes, _, _ = self.sync(token, events_path(cal), {"maxResults": 10, "syncToken": sync})
        self.assertEqual({e["id"] for e in changes}, {listed, pending, added["id"]})

    def test_sync_token_survives_paging_of_incremental_listing(self):
        self.c.load("generate", users=1, calendars=1, events=5, seed=4)
        token, cal = self.c.token("gen-refresh-user0001"), "user0001@example.com"
        _, sync, _ = self.sync(token, events_path(cal), GCALSYNC_PARAMS)
        self.c.insert_events(cal, [timed_event("bulk %d" % i) for i in range(25)])
        items, sync2, pages = self.sync(token, events_path(cal), {"maxResults": 10, "syncToken": sync})
        self.assertEqual((len(items), len(pages)), (25, 3))
        items, _, _ = self.sync(token, events_path(cal), {"syncToken": sync2})
        self.assertEqual(items, [])

    def test_parameters_forbidden_with_sync_token(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, events_path(ALICE), GCALSYNC_PARAMS)
        forbidden = {"iCalUID": "x@google.com", "orderBy": "updated", "privateExtendedProperty": "a=b",
                     "q": "tax", "sharedExtendedProperty": "a=b", "timeMin": "2025-01-01T00:00:00Z",
                     "timeMax": "2026-01-01T00:00:00Z", "updatedMin": "2025-01-01T00:00:00Z",
                     "showDeleted": "false"}
        for name, value in forbidden.items():
            resp = self.events(token, ALICE, syncToken=sync, **{name: value})
            err = self.assertGoogleError(resp, 400, "invalid")
            self.assertEqual(err["errors"][0]["location"], name, name)
        self.assertEqual(self.events(token, ALICE, syncToken=sync, **GCALSYNC_PARAMS).status, 200)

    def test_stale_or_invalidated_sync_tokens_are_410(self):
        alice, bob = self.token("alice"), self.token("bob")
        _, a_sync, _ = self.sync(alice, events_path(TEAM), GCALSYNC_PARAMS)
        _, b_sync, _ = self.sync(bob, events_path(TEAM), GCALSYNC_PARAMS)
        self.c.invalidate_sync_tokens(user="alice", calendar=TEAM)
        resp = self.events(alice, TEAM, syncToken=a_sync)
        self.assertEqual((resp.status, resp.json), (410, E.FULL_SYNC_REQUIRED))
        self.assertEqual(self.events(bob, TEAM, syncToken=b_sync).status, 200)   # bob unaffected
        # a fresh full sync gives a token that works again
        _, a_sync, _ = self.sync(alice, events_path(TEAM), GCALSYNC_PARAMS)
        self.assertEqual(self.events(alice, TEAM, syncToken=a_sync).status, 200)
        # another user's token, or another calendar's token: 410 too
        for token, cal, sync in ((alice, TEAM, b_sync), (alice, ALICE, a_sync)):
            self.assertEqual(self.events(token, cal, syncToken=sync).status, 410)
        # garbage is no token at all: 400 on the parameter (issue 13, item 13)
        for garbage in ("garbage", "%%%"):
            resp = self.events(alice, TEAM, syncToken=garbage)
            err = self.assertGoogleError(resp, 400, "invalid")
            self.assertEqual((err["errors"][0]["location"], err["message"]), ("syncToken", "Invalid sync token value."))
        resp = self.api.call("GET", "/calendar/v3/users/me/calendarList", alice, {"syncToken": "garbage"})
        self.assertGoogleError(resp, 400, "invalid")

    def test_live_paging_shows_changes_between_pages(self):
        # Google promises no consistency between pages (issue 13, item 13).
        self.c.settings(live_paging=True)
        self.c.load("generate", users=1, calendars=1, events=30, seed=3)
        token, cal = self.c.token("gen-refresh-user0001"), "user0001@example.com"
        params = {"maxResults": 10, "showDeleted": "true"}
        first = self.events(token, cal, **params).json
        first_ids = {e["id"] for e in first["items"]}
        pending = next(v["event"]["id"] for v in self.c.events(cal) if v["event"]["id"] not in first_ids)
        self.c.patch_event(cal, pending, summary="changed while paging (pending)")
        added = self.c.insert_event(cal, timed_event("added while paging"))
        rest, sync, _ = self.sync(token, events_path(cal), dict(params, pageToken=first["nextPageToken"]))
        full = first["items"] + rest
        # later pages see the data as it is now: the change and the new event show up
        self.assertIn("changed while paging (pending)", {e.get("summary") for e in full})
        self.assertIn(added["id"], {e["id"] for e in full})
        # and the last page's sync token still covers what changed while paging
        changes, _, _ = self.sync(token, events_path(cal), {"maxResults": 10, "syncToken": sync})
        self.assertTrue({pending, added["id"]} <= {e["id"] for e in changes})

    def test_live_paging_skips_no_unchanged_item(self):
        # A change moves nothing: a page after the first starts where the previous one
        # ended, so every item that did not change is listed (issue 13, item 13).
        self.c.settings(live_paging=True)
        self.c.load("generate", users=1, calendars=1, events=30, seed=3)
        token, cal = self.c.token("gen-refresh-user0001"), "user0001@example.com"
        params = {"maxResults": 10, "showDeleted": "true"}
        before = {v["event"]["id"] for v in self.c.events(cal)}
        first = self.events(token, cal, **params).json
        for e in first["items"][:3]:      # changed after they were listed
            self.c.patch_event(cal, e["id"], summary="changed after its page")
        self.c.delete_event(cal, first["items"][3]["id"])
        rest, sync, _ = self.sync(token, events_path(cal), dict(params, pageToken=first["nextPageToken"]))
        self.assertEqual(before, {e["id"] for e in first["items"] + rest})

    def test_page_tokens_expire(self):
        self.c.settings(page_pattern=[1], page_token_lifetime=0.2)
        token = self.token("alice")
        page = self.events(token, ALICE, **GCALSYNC_PARAMS).json
        self.assertEqual(self.events(token, ALICE, pageToken=page["nextPageToken"], **GCALSYNC_PARAMS).status, 200)
        time.sleep(0.3)   # the emulator's clock, not a wait for the system under test
        resp = self.events(token, ALICE, pageToken=page["nextPageToken"], **GCALSYNC_PARAMS)
        err = self.assertGoogleError(resp, 400)
        self.assertEqual(err["errors"][0]["location"], "pageToken")

    def test_permanent_error_presets(self):
        for name, (status, reason) in {"insufficientPermissions": (403, "insufficientPermissions"),
                                       "accessNotConfigured": (403, "accessNotConfigured"),
                                       "forbidden": (403, "forbidden"),
                                       "dailyLimitExceeded": (403, "dailyLimitExceeded"),
                                       "invalidSyncToken": (400, "invalid")}.items():
            token = self.token("alice")
            self.c.add_fault(path="/events$", preset=name, count=1)
            resp = self.events(token, ALICE)
            err = self.assertGoogleError(resp, status, reason)
            self.assertTrue(err["message"], name)
            self.c.clear_faults()
        # granular consent: a grant whose scope lacks the Calendar scope
        self.c.add_fault(path="^/token$", preset="grantWithoutCalendarScope", count=1)
        resp = self.api.token({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                               "grant_type": "refresh_token", "refresh_token": "demo-refresh-alice"})
        self.assertEqual(resp.status, 200)
        self.assertNotIn("auth/calendar", resp.json["scope"])

    def test_invalidate_all_and_410_without_reason(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, events_path(ALICE), GCALSYNC_PARAMS)
        self.c.invalidate_sync_tokens(variant="noReason")
        resp = self.events(token, ALICE, syncToken=sync)
        self.assertEqual((resp.status, resp.json), (410, E.GONE_NO_REASON))
        self.assertNotIn("errors", resp.json["error"])

    def test_tokens_from_before_a_reload_are_410(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, events_path(ALICE), GCALSYNC_PARAMS)
        self.c.load("demo")
        token = self.token("alice")
        self.assertEqual(self.events(token, ALICE, syncToken=sync).status, 410)

    def test_silent_deletion_only_a_full_listing_reveals(self):
        token = self.token("alice")
        _, sync, _ = self.sync(token, events_path(ALICE), GCALSYNC_PARAMS)
        self.c.delete_event(ALICE, "3taxday00000000000000000aa", silent=True)
        items, _, _ = self.sync(token, events_path(ALICE), {"syncToken": sync})
        self.assertEqual(items, [])
        items, _, _ = self.sync(token, events_path(ALICE), GCALSYNC_PARAMS)
        self.assertNotIn("3taxday00000000000000000aa", {e["id"] for e in items})

    def test_birthday_calendar_does_not_report_deletions(self):
        token = self.token("carol")
        cal = gcal_datasets.BIRTHDAY_CAL
        _, sync, _ = self.sync(token, events_path(cal), GCALSYNC_PARAMS)
        self.c.delete_event(cal, "n3birthday0taro00000000000")
        items, _, _ = self.sync(token, events_path(cal), {"syncToken": sync})
        self.assertEqual(items, [])

    def test_percent_encoded_holiday_calendar(self):
        resp = self.api.call("GET", "/calendar/v3/calendars/en.usa%23holiday%40group.v.calendar.google.com"
                             "/events", self.token("bob"), GCALSYNC_PARAMS)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(len(resp.json["items"]), 4)
        self.assertTrue(all("date" in e["start"] for e in resp.json["items"]))

    def test_shared_calendar_same_events_for_every_member(self):
        a, _, pa = self.sync(self.token("alice"), events_path(TEAM), GCALSYNC_PARAMS)
        b, _, pb = self.sync(self.token("bob"), events_path(TEAM), GCALSYNC_PARAMS)
        self.assertEqual(a, b)
        self.assertEqual((pa[0]["accessRole"], pb[0]["accessRole"]), ("owner", "writer"))
        self.assertEqual(self.events(self.token("carol"), ALICE).status, 404)

    def test_emulator_assigns_google_fields(self):
        ev = self.c.insert_event(ALICE, timed_event("Bare event"))
        self.assertRegex(ev["id"], r"^[0-9a-v]{26}$")
        self.assertRegex(ev["etag"], r'^"\d{16}"$')
        for key in ("created", "updated"):
            self.assertRegex(ev[key], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(ev["iCalUID"], ev["id"] + "@google.com")
        self.assertEqual(ev["sequence"], 0)
        self.assertTrue(ev["htmlLink"].startswith("https://www.google.com/calendar/event?eid="))
        self.assertEqual((ev["kind"], ev["status"], ev["eventType"]), ("calendar#event", "confirmed", "default"))
        moved = self.c.patch_event(ALICE, ev["id"], start={"dateTime": "2025-05-02T10:00:00Z"},
                                   end={"dateTime": "2025-05-02T11:00:00Z"})
        self.assertEqual(moved["sequence"], 1)
        self.assertNotEqual(moved["etag"], ev["etag"])
        self.assertEqual((moved["created"], moved["iCalUID"]), (ev["created"], ev["iCalUID"]))

    def test_filters_of_full_listing(self):
        token = self.token("alice")
        ids = lambda **p: {e["id"] for e in self.events(token, ALICE, **p).json["items"]}
        self.assertEqual(ids(q="tax"), {"3taxday00000000000000000aa"})
        self.assertEqual(ids(iCalUID="7dentist00notimezone000000@google.com"), {"7dentist00notimezone000000"})
        self.assertEqual(ids(eventTypes="focusTime"), {"a0focus0time0000000000000a"})
        self.assertEqual(ids(privateExtendedProperty="crm-id=OPP-4711"), {"1c8v2u9k0mdlp3q4r5s6t7u8v9"})
        window = ids(timeMin="2025-04-22T00:00:00Z", timeMax="2025-04-23T00:00:00Z")
        self.assertIn("7dentist00notimezone000000", window)
        self.assertNotIn("3taxday00000000000000000aa", window)
        self.assertGoogleError(self.events(token, ALICE, timeMin="2025-04-22"), 400)
        self.assertGoogleError(self.events(token, ALICE, orderBy="startTime"), 400)

    def test_page_token_of_another_query_is_400(self):
        self.c.settings(page_pattern=[1])
        token = self.token("alice")
        page = self.events(token, ALICE, **GCALSYNC_PARAMS).json
        resp = self.events(token, TEAM, pageToken=page["nextPageToken"], **GCALSYNC_PARAMS)
        self.assertGoogleError(resp, 400)
        self.assertGoogleError(self.events(token, ALICE, pageToken="bogus"), 400)

    def test_gzip_when_accepted(self):
        token = self.token("alice")
        plain = self.events(token, ALICE, **GCALSYNC_PARAMS)
        zipped = self.api.call("GET", events_path(ALICE) + "?" + urlencode(GCALSYNC_PARAMS), token,
                               headers={"Accept-Encoding": "gzip"})
        self.assertEqual(zipped.headers["content-encoding"], "gzip")
        self.assertEqual(int(zipped.headers["content-length"]), len(zipped.body))
        self.assertEqual(gzip.decompress(zipped.body), plain.body)
        self.assertNotIn("content-encoding", plain.headers)

    def test_keep_alive_and_exact_content_length(self):
        token = self.token("alice")
        sock_ids = set()
        for _ in range(5):
            resp = self.events(token, ALICE, **GCALSYNC_PARAMS)
            self.assertEqual(int(resp.headers["content-length"]), len(resp.body))
            sock_ids.add(id(self.api.conn.sock))
        self.assertEqual(len(sock_ids), 1)          # one connection served all requests


# ============================== Writes (events.insert, patch, delete) ==============================

def event_path(cal, event_id):
    return events_path(cal) + "/" + quote(event_id, safe="")


class WriteTest(EmulatorTest):
    """events.insert with client ids, events.patch/delete with If-Match, attendee answers,
    sendUpdates, scopes, and a fault that applies a write but loses its answer."""

    def test_insert_with_client_id_then_duplicate(self):
        tok = self.token("alice")
        ev = timed_event("Booked", id="client0id0001")
        resp = self.api.call("POST", events_path(ALICE), tok, {"sendUpdates": "none"}, ev)
        self.assertEqual(resp.status, 200, resp.body)
        made = resp.json
        self.assertEqual(made["id"], "client0id0001")
        self.assertTrue(made["etag"])
        got = self.api.call("GET", event_path(ALICE, "client0id0001"), tok)
        self.assertEqual(got.status, 200)
        self.assertEqual(got.json["etag"], made["etag"])
        # A retry of the same insert: 409 duplicate, nothing created twice.
        again = self.api.call("POST", events_path(ALICE), tok, None, ev)
        self.assertGoogleError(again, 409, "duplicate")
        items, _, _ = self.sync(tok, events_path(ALICE), GCALSYNC_PARAMS)
        self.assertEqual(sum(1 for i in items if i["id"] == "client0id0001"), 1)

    def test_insert_validation(self):
        tok = self.token("alice")
        for bad_id in ("UPPER0", "abc", "has-dash0", "w0000"):
            resp = self.api.call("POST", events_path(ALICE), tok, None, timed_event("x", id=bad_id))
            self.assertGoogleError(resp, 400, "invalid")
        resp = self.api.call("POST", events_path(ALICE), tok, None, {"summary": "no times"})
        self.assertGoogleError(resp, 400, "required")
        resp = self.api.call("POST", events_path(ALICE), tok, {"sendUpdates": "everyone"}, timed_event("x"))
        self.assertGoogleError(resp, 400, "invalid")
        # Without a client id Google picks one.
        resp = self.api.call("POST", events_path(ALICE), tok, {"sendUpdates": "all"}, timed_event("x"))
        self.assertEqual(resp.status, 200, resp.body)
        self.assertRegex(resp.json["id"], "^[a-v0-9]{5,}$")

    def test_patch_and_delete_with_if_match(self):
        tok = self.token("alice")
        made = self.api.call("POST", events_path(ALICE), tok, None, timed_event("v1", id="patch0me0001")).json
        stale = made["etag"]
        resp = self.api.call("PATCH", event_path(ALICE, "patch0me0001"), tok, {"sendUpdates": "externalOnly"},
                             {"summary": "v2", "location": "Room 1"}, headers={"If-Match": stale})
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json["summary"], "v2")
        self.assertNotEqual(resp.json["etag"], stale)
        # null removes a member
        resp2 = self.api.call("PATCH", event_path(ALICE, "patch0me0001"), tok, None, {"location": None},
                              headers={"If-Match": resp.json["etag"]})
        self.assertEqual(resp2.status, 200, resp2.body)
        self.assertNotIn("location", resp2.json)
        # The old etag no longer matches: 412 for patch and delete, nothing changed.
        resp = self.api.call("PATCH", event_path(ALICE, "patch0me0001"), tok, None, {"summary": "v3"},
                             headers={"If-Match": stale})
        self.assertGoogleError(resp, 412, "conditionNotMet")
        resp = self.api.call("DELETE", event_path(ALICE, "patch0me0001"), tok, headers={"If-Match": stale})
        self.assertGoogleError(resp, 412, "conditionNotMet")
        self.assertEqual(self.api.call("GET", event_path(ALICE, "patch0me0001"), tok).json["summary"], "v2")
        # The current etag: deleted (a cancelled stub), then 410 for a second delete.
        resp = self.api.call("DELETE", event_path(ALICE, "patch0me0001"), tok,
                             headers={"If-Match": resp2.json["etag"]})
        self.assertEqual(resp.status, 204, resp.body)
        self.assertEqual(self.api.call("GET", event_path(ALICE, "patch0me0001"), tok).json["status"], "cancelled")
        self.assertGoogleError(self.api.call("DELETE", event_path(ALICE, "patch0me0001"), tok), 410, "deleted")
        self.assertGoogleError(self.api.call("PATCH", event_path(ALICE, "nosuchevent0"), tok, None, {}), 404)

    def test_attendee_answers_only_for_itself(self):
        tok = self.token("alice")
        path = event_path(ALICE, "b1hidden0invitation0000000")
        ev = self.api.call("GET", path, tok).json
        answered = [dict(a, responseStatus="accepted") if a.get("self") else a for a in ev["attendees"]]
        resp = self.api.call("PATCH", path, tok, None, {"attendees": answered}, headers={"If-Match": ev["etag"]})
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual([a["responseStatus"] for a in resp.json["attendees"] if a.get("self")], ["accepted"])
        resp = self.api.call("PATCH", path, tok, None, {"summary": "mine now"})
        self.assertGoogleError(resp, 403, "forbiddenForNonOrganizer")

    def test_scopes_and_access(self):
        self.c.update_user("alice", read_only=True)
        grant = self.api.token({"grant_type": "refresh_token", "refresh_token": "demo-refresh-alice",
                                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json
        self.assertTrue(grant["scope"].endswith("calendar.readonly"))
        resp = self.api.call("POST", events_path(ALICE), grant["access_token"], None, timed_event("x"))
        self.assertGoogleError(resp, 403, "insufficientPermissions")
        self.assertEqual(self.events(grant["access_token"], ALICE).status, 200)   # reads still work
        # carol only reads the team calendar
        resp = self.api.call("POST", events_path(TEAM), self.token("carol"), None, timed_event("x"))
        self.assertGoogleError(resp, 403, "requiredAccessLevel")
        # bob writes to it
        resp = self.api.call("POST", events_path(TEAM), self.token("bob"), None, timed_event("x"))
        self.assertEqual(resp.status, 200, resp.body)

    def test_fault_applies_the_write_and_drops_the_answer(self):
        tok = self.token("alice")
        self.c.add_fault(method="POST", path="/events$", action="apply_drop", count=1)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            self.api.call("POST", events_path(ALICE), tok, None, timed_event("lost", id="lost0rep0001"))
        self.api.close()
        self.api = Api(EMU.port)
        # The write happened: a retry gets 409, and the event is there once.
        resp = self.api.call("POST", events_path(ALICE), tok, None, timed_event("lost", id="lost0rep0001"))
        self.assertGoogleError(resp, 409, "duplicate")
        self.assertEqual(self.api.call("GET", event_path(ALICE, "lost0rep0001"), tok).json["summary"], "lost")
        logged = self.c.log(api="events.insert")
        self.assertEqual(len(logged), 2)
        self.assertEqual(logged[0]["fault_action"], "apply_drop")


# ============================== push channels ==============================

class PushTest(EmulatorTest):

    def setUp(self):
        super().setUp()
        self.receiver = Receiver()

    def tearDown(self):
        self.receiver.close()
        super().tearDown()

    def watch(self, access_token, path, channel_id, **extra):
        body = dict({"id": channel_id, "type": "web_hook", "address": self.receiver.url}, **extra)
        return self.api.call("POST", path, access_token, body=body)

    def test_events_watch_returns_channel_and_sync_then_exists(self):
        token = self.token("alice")
        resp = self.watch(token, events_path(ALICE) + "/watch", "chan-1", token="secret-token")
        self.assertEqual(resp.status, 200, resp.body)
        ch = resp.json
        self.assertEqual(ch["kind"], "api#channel")
        self.assertEqual((ch["id"], ch["token"]), ("chan-1", "secret-token"))
        self.assertTrue(ch["resourceUri"].endswith("/calendar/v3/calendars/alice%40example.com/events?alt=json")
                        or ch["resourceUri"].endswith("/calendars/alice@example.com/events?alt=json"))
        self.assertIsInstance(ch["expiration"], str)
        first = self.receiver.wait_for(1)[0]["headers"]
        self.assertEqual(first["x-goog-resource-state"], "sync")
        self.assertEqual(first["x-goog-channel-id"], "chan-1")
        self.assertEqual(first["x-goog-channel-token"], "secret-token")
        self.assertEqual(first["x-goog-resource-id"], ch["resourceId"])
        self.assertEqual(first["x-goog-resource-uri"], ch["resourceUri"])
        self.assertIn("GMT", first["x-goog-channel-expiration"])
        self.c.insert_event(ALICE, timed_event("ping"))
        self.c.patch_event(ALICE, "3taxday00000000000000000aa", summary="again")
        hits = self.receiver.wait_for(3)
        states = [h["headers"]["x-goog-resource-state"] for h in hits]
        numbers = [int(h["headers"]["x-goog-message-number"]) for h in hits]
        self.assertEqual(states, ["sync", "exists", "exists"])
        self.assertEqual(numbers, sorted(set(numbers)))
        self.assertEqual({h["body"] for h in hits}, {b""})

    def test_no_token_header_when_channel_has_no_token(self):
        self.watch(self.token("alice"), events_path(ALICE) + "/watch", "chan-nt")
        self.assertNotIn("x-goog-channel-token", self.receiver.wait_for(1)[0]["headers"])

    def test_shared_calendar_change_notifies_every_watcher(self):
        self.watch(self.token("alice"), events_path(TEAM) + "/watch", "a-team")
        self.watch(self.token("bob"), events_path(TEAM) + "/watch", "b-team")
        self.receiver.wait_for(2)
        self.c.insert_event(TEAM, timed_event("team thing"))
        hits = self.receiver.wait_for(4)
        exists = {h["headers"]["x-goog-channel-id"] for h in hits
                  if h["headers"]["x-goog-resource-state"] == "exists"}
        self.assertEqual(exists, {"a-team", "b-team"})

    def test_calendar_list_watch(self):
        resp = self.watch(self.token("bob"), LIST_PATH + "/watch", "list-1")
        self.assertEqual(resp.status, 200, resp.body)
        self.assertTrue(resp.json["resourceUri"].endswith("/users/me/calendarList?alt=json"))
        self.receiver.wait_for(1)
        self.c.put_entry("bob", TEAM, colorId="5")
        hit = self.receiver.wait_for(2)[1]["headers"]
        self.assertEqual((hit["x-goog-channel-id"], hit["x-goog-resource-state"]), ("list-1", "exists"))

    def test_stopped_channel_delivers_nothing(self):
        token = self.token("alice")
        ch = self.watch(token, events_path(ALICE) + "/watch", "stop-me").json
        self.receiver.wait_for(1)
        resp = self.api.call("POST", "/calendar/v3/channels/stop", token,
                             body={"id": ch["id"], "resourceId": ch["resourceId"]})
        self.assertEqual((resp.status, resp.body), (204, b""))
        self.c.insert_event(ALICE, timed_event("after stop"))
        self.assertTrue(self.c.wait_push_idle())
        self.assertEqual(len(self.receiver.hits), 1)
        self.assertEqual(self.c.channels(), [])
        again = self.api.call("POST", "/calendar/v3/channels/stop", token,
                              body={"id": ch["id"], "resourceId": ch["resourceId"]})
        self.assertGoogleError(again, 404, "notFound")

    def test_expired_channel_delivers_nothing(self):
        token = self.token("alice")
        self.watch(token, events_path(ALICE) + "/watch", "short")
        self.receiver.wait_for(1)
        self.c.expire_channel("short")
        self.c.insert_event(ALICE, timed_event("after expiry"))
        self.assertTrue(self.c.wait_push_idle())
        self.assertEqual(len(self.receiver.hits), 1)
        self.assertEqual([c["state"] for c in self.c.channels()], ["expired"])

    def test_channel_lifetime_default_and_requested_expiration(self):
        self.c.settings(channel_lifetime=60)
        token = self.token("alice")
        now_ms = time.time() * 1000
        ch = self.watch(token, events_path(ALICE) + "/watch", "life-1").json
        self.assertAlmostEqual(int(ch["expiration"]), now_ms + 60000, delta=5000)
        wanted = int(now_ms + 20000)
        ch = self.watch(token, events_path(ALICE) + "/watch", "life-2", expiration=wanted).json
        self.assertEqual(ch["expiration"], str(wanted))
        ch = self.watch(token, events_path(ALICE) + "/watch", "life-3", expiration=int(now_ms + 10**9)).json
        self.assertLess(int(ch["expiration"]), now_ms + 70000)

    def test_holiday_calendar_cannot_be_watched(self):
        resp = self.watch(self.token("alice"), events_path(HOLIDAY) + "/watch", "hol")
        self.assertEqual((resp.status, resp.json), (400, E.PUSH_NOT_SUPPORTED))

    def test_watch_request_validation(self):
        token = self.token("alice")
        path = events_path(ALICE) + "/watch"
        self.assertGoogleError(self.api.call("POST", path, token, body={"type": "web_hook",
                                                                         "address": self.receiver.url}), 400)
        self.assertGoogleError(self.watch(token, path, "x" * 65), 400)
        self.assertGoogleError(self.api.call("POST", path, token, body={
            "id": "t", "type": "email", "address": self.receiver.url}), 400)
        self.assertEqual(self.watch(token, path, "dup").status, 200)
        self.assertGoogleError(self.watch(token, path, "dup"), 400, "channelIdNotUnique")
        self.c.settings(require_https=True)
        self.assertGoogleError(self.watch(token, path, "https-only"), 400, "push.webhookUrlNotHttps")

    def test_deliveries_and_failures_are_logged(self):
        self.receiver.close()
        self.receiver = Receiver(status=500)
        token = self.token("alice")
        self.watch(token, events_path(ALICE) + "/watch", "logged")
        self.receiver.wait_for(1)
        self.assertTrue(self.c.wait_push_idle())
        push = self.c.log(kind="push")
        self.assertEqual([(p["channel"], p["state"], p["status"]) for p in push], [("logged", "sync", 500)])
        self.receiver.close()                    # now nobody listens: connection refused
        self.c.insert_event(ALICE, timed_event("nobody hears"))
        self.assertTrue(self.c.wait_push_idle())
        last = self.c.log(kind="push")[-1]
        self.assertIsNone(last["status"])
        self.assertIn("Refused", last["error"])
        self.receiver = Receiver()               # for tearDown

    def test_slow_receiver_never_blocks_the_api(self):
        gate = threading.Event()
        self.receiver.close()
        self.receiver = Receiver(gate=gate)
        token = self.token("alice")
        started = time.monotonic()
        self.assertEqual(self.watch(token, events_path(ALICE) + "/watch", "slow").status, 200)
        self.c.insert_event(ALICE, timed_event("while the receiver hangs"))
        self.assertEqual(self.events(token, ALICE).status, 200)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(self.receiver.hits, [])     # still held at the gate
        gate.set()
        self.receiver.wait_for(2)

    def test_manual_notification(self):
        self.watch(self.token("alice"), events_path(ALICE) + "/watch", "manual")
        self.receiver.wait_for(1)
        self.assertTrue(self.c.notify_channel("manual", "exists")["queued"])
        self.assertEqual(self.receiver.wait_for(2)[1]["headers"]["x-goog-message-number"], "2")

    def test_deleted_calendar_notifies_not_exists(self):
        self.watch(self.token("alice"), events_path(TEAM) + "/watch", "gone")
        self.receiver.wait_for(1)
        self.c.delete_calendar(TEAM)
        self.assertEqual(self.receiver.wait_for(2)[1]["headers"]["x-goog-resource-state"], "not_exists")


# ============================== faults ==============================

class FaultTest(EmulatorTest):

    def test_status_presets_with_documented_bodies_for_next_n_requests(self):
        token = self.token("alice")
        for preset, status, body in (("rateLimitExceeded", 403, E.RATE_LIMIT),
                                     ("userRateLimitExceeded", 403, E.USER_RATE_LIMIT),
                                     ("quotaExceeded", 403, E.QUOTA_EXCEEDED),
                                     ("tooManyRequests", 429, E.RATE_LIMIT_429),
                                     ("backendError", 500, E.BACKEND_ERROR)):
            self.c.add_fault(path="/events$", preset=preset, count=2)
            for _ in range(2):
                resp = self.events(token, ALICE)
                self.assertEqual((resp.status, resp.json), (status, body), preset)
            self.assertEqual(self.events(token, ALICE).status, 200)

    def test_503_with_retry_after(self):
        self.c.add_fault(method="GET", path="calendarList", preset="serviceUnavailable",
                         headers={"Retry-After": "7"})
        resp = self.api.call("GET", LIST_PATH, self.token("alice"))
        self.assertEqual((resp.status, resp.headers["retry-after"]), (503, "7"))
        self.assertEqual(resp.json["error"]["status"], "UNAVAILABLE")

    def test_html_403(self):
        self.c.add_fault(path="/events$", preset="html403")
        resp = self.events(self.token("alice"), ALICE)
        self.assertEqual(resp.status, 403)
        self.assertTrue(resp.headers["content-type"].startswith("text/html"))
        self.assertRaises(ValueError, json.loads, resp.body)

    def test_custom_status_and_body(self):
        self.c.add_fault(path="/events$", status=418, body={"teapot": True})
        resp = self.events(self.token("alice"), ALICE)
        self.assertEqual((resp.status, resp.json), (418, {"teapot": True}))

    def test_matching_by_method_path_and_user(self):
        self.c.add_fault(method="GET", path="/calendars/en\\.usa#holiday@", user="bob",
                         preset="notFound", count=-1)
        alice, bob = self.token("alice"), self.token("bob")
        self.assertEqual(self.events(alice, HOLIDAY).status, 200)
        self.assertEqual(self.events(bob, HOLIDAY).status, 404)
        self.assertEqual(self.events(bob, HOLIDAY).status, 404)      # unlimited
        self.assertEqual(self.events(bob, BOB).status, 200)
        self.assertEqual(self.c.faults()[0]["hits"], 2)
        self.c.clear_faults()
        self.assertEqual(self.events(bob, HOLIDAY).status, 200)

    def test_skip_then_fail(self):
        self.c.add_fault(path="/events$", preset="backendError", skip=1)
        token = self.token("alice")
        self.assertEqual([self.events(token, ALICE).status for _ in range(3)], [200, 500, 200])

    def test_delay(self):
        self.c.add_fault(path="calendarList", delay=0.3)
        token = self.token("alice")
        started = time.monotonic()
        resp = self.api.call("GET", LIST_PATH, token)
        self.assertEqual(resp.status, 200)                 # delayed, then answered normally
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_malformed_json(self):
        self.c.add_fault(path="/events$", action="malformed")
        resp = self.events(self.token("alice"), ALICE)
        self.assertEqual(resp.status, 200)
        self.assertEqual(int(resp.headers["content-length"]), len(resp.body))
        self.assertRaises(ValueError, json.loads, resp.body)

    def test_truncated_body(self):
        self.c.add_fault(path="/events$", action="truncated")
        conn = http.client.HTTPConnection("127.0.0.1", EMU.port, timeout=10)
        conn.request("GET", events_path(ALICE), headers={"Authorization": "Bearer " + self.token("alice")})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        with self.assertRaises(http.client.IncompleteRead) as ctx:
            resp.read()
        self.assertGreater(len(ctx.exception.partial), 0)
        conn.close()

    def test_endless_body(self):
        f = self.c.add_fault(path="/events$", preset="endlessBody")
        self.assertEqual(f["action"], "endless")
        conn = http.client.HTTPConnection("127.0.0.1", EMU.port, timeout=10)
        conn.request("GET", events_path(ALICE), headers={"Authorization": "Bearer " + self.token("alice")})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertIsNone(resp.getheader("Content-Length"))
        head = resp.read(4 << 20)       # 4 MB and still going
        self.assertEqual(len(head), 4 << 20)
        self.assertTrue(head.startswith(b'{"kind":"calendar#events","items":['))
        conn.close()                    # the emulator stops when the client hangs up
        entry = self.c.log(api="events.list")[-1]
        self.assertEqual((entry["fault_action"], entry["status"]), ("endless", 200))

    def test_dropped_connection(self):
        self.c.add_fault(path="/token$", action="drop")
        conn = http.client.HTTPConnection("127.0.0.1", EMU.port, timeout=10)
        conn.request("POST", "/token", body=b"grant_type=refresh_token",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()
        conn.close()
        entry = self.c.log(api="token")[-1]
        self.assertEqual((entry["fault_action"], entry["status"]), ("drop", None))

    def test_token_endpoint_fault_matches_refresh_token_user(self):
        self.c.add_fault(path="^/token$", user="bob", preset="invalidGrant")
        self.assertEqual(self.token("alice")[:5], "ya29.")
        with self.assertRaises(EmulatorError) as ctx:
            self.token("bob")
        self.assertEqual((ctx.exception.status, ctx.exception.body), (400, E.INVALID_GRANT_REVOKED))

    def test_bad_fault_spec_is_rejected(self):
        for spec in ({"preset": "nope"}, {"action": "explode"}, {"bogus": 1}, {"path": "("}):
            with self.assertRaises(EmulatorError) as ctx:
                self.c.add_fault(**spec)
            self.assertEqual(ctx.exception.status, 400)


# ============================== log and control ==============================

class LogTest(EmulatorTest):

    def test_log_records_what_the_client_sent(self):
        token = self.token("alice")
        self.c.clear_log()
        self.api.call("GET", "/calendar/v3/calendars/en.usa%23holiday%40group.v.calendar.google.com/events",
                      token, {"maxResults": 2500, "showDeleted": "true", "syncToken": "a+b/c="},
                      headers={"User-Agent": "gcalsync/test", "Accept-Encoding": "gzip"})
        self.api.call("GET", LIST_PATH)
        entries = self.c.log()
        self.assertEqual(len(entries), 2)
        first, second = entries
        self.assertEqual(first["api"], "events.list")
        self.assertEqual(first["path"], "/calendar/v3/calendars/en.usa#holiday@group.v.calendar.google.com/events")
        self.assertEqual(first["query"], {"maxResults": "2500", "showDeleted": "true", "syncToken": "a+b/c="})
        self.assertEqual(first["headers"]["authorization"], "Bearer")
        self.assertEqual(first["headers"]["user-agent"], "gcalsync/test")
        self.assertEqual((first["user"], first["status"]), ("alice", 400))   # garbage sync token: 400
        self.assertIsNone(second["headers"]["authorization"])
        self.assertEqual(second["status"], 401)
        self.assertEqual(self.c.log(since=first["seq"]), [second])
        self.c.clear_log()
        self.assertEqual(self.c.log(), [])

    def test_token_requests_are_logged_without_the_secret(self):
        self.c.clear_log()
        self.token("alice")
        entry = self.c.log(api="token")[0]
        self.assertEqual(entry["form"]["refresh_token"], "demo-refresh-alice")
        self.assertEqual(entry["form"]["client_secret"], "<redacted>")
        self.assertEqual((entry["user"], entry["status"]), ("alice", 200))


class ControlTest(EmulatorTest):
    dataset = None

    def test_reset_empties_everything(self):
        self.c.load("demo")
        self.c.add_fault(path="x")
        self.c.reset()
        state = self.c.state()
        self.assertEqual((state["users"], state["calendars"], state["events"]), (0, 0, 0))
        self.assertEqual(self.c.faults(), [])

    def test_build_data_by_hand(self):
        self.c.create_user("zoe", refresh_tokens=["rt-zoe"], timeZone="Europe/Paris")
        self.c.put_calendar({"id": "shared@group.calendar.google.com", "summary": "Shared",
                             "members": {"zoe": {"accessRole": "writer", "summaryOverride": "Mine"}}})
        self.c.insert_event("shared@group.calendar.google.com", timed_event("hello",
                                                                            _emulator={"hiddenInvitation": True}))
        token = self.c.token("rt-zoe")
        ids = [e["id"] for e in self.api.call("GET", LIST_PATH, token).json["items"]]
        self.assertEqual(sorted(ids), ["shared@group.calendar.google.com", "zoe@example.com"])
        self.assertEqual(self.events(token, "shared@group.calendar.google.com").json["items"], [])
        views = self.c.events("shared@group.calendar.google.com")
        self.assertTrue(views[0]["hiddenInvitation"])
        self.c.delete_user("zoe")
        with self.assertRaises(EmulatorError):
            self.c.token("rt-zoe")

    def test_control_errors(self):
        for call, status in ((lambda: self.c.calendar("nope"), 404),
                             (lambda: self.c.insert_event("nope", timed_event("x")), 404),
                             (lambda: self.c.create_user(""), 400),
                             (lambda: self.c.control("GET", "/nothing"), 404),
                             (lambda: self.c.control("DELETE", "/state"), 405),
                             (lambda: self.c.settings(page_pattern=[0]), 400)):
            with self.assertRaises(EmulatorError) as ctx:
                call()
            self.assertEqual(ctx.exception.status, status)
        self.c.load("demo")
        with self.assertRaises(EmulatorError) as ctx:
            self.c.insert_event(ALICE, {"summary": "no times"})
        self.assertEqual(ctx.exception.status, 400)

    def test_load_inline_document(self):
        doc = {"users": [{"id": "u", "refresh_tokens": ["rt-u"]}],
               "calendars": [{"id": "u@example.com", "events": [timed_event("one")]}]}
        self.assertEqual(self.c.load_data(doc)["events"], 1)

    def test_demo_data_set_contents(self):
        self.c.load("demo")
        users = {u["id"]: u for u in self.c.users()}
        self.assertEqual(set(users), {"alice", "bob", "carol", "erin"})
        self.assertEqual(users["alice"]["refresh_tokens"], [{"token": "demo-refresh-alice", "state": "active"}])
        self.assertEqual(users["erin"]["refresh_tokens"][0]["state"], "revoked")
        holiday = self.c.calendar(HOLIDAY)
        self.assertFalse(holiday["watchable"])
        self.assertEqual(set(self.c.calendar(TEAM)["members"]), {"alice", "bob", "carol"})
        events = [v["event"] for v in self.c.events(ALICE)]
        self.assertTrue(any(e.get("conferenceData") for e in events))
        self.assertTrue(any("<b>" in e.get("description", "") for e in events))
        self.assertTrue(any(any("EXDATE" in r for r in e.get("recurrence", [])) for e in events))
        zones = {e["start"].get("timeZone") for c in self.c.calendars()
                 for e in [v["event"] for v in self.c.events(c["calendar"]["id"])] if "start" in e}
        self.assertGreaterEqual(len(zones - {None}), 5)

    def test_generator_is_deterministic_with_a_realistic_mix(self):
        a = gcal_datasets.generate(2, 2, 300, seed=11)
        b = gcal_datasets.generate(2, 2, 300, seed=11)
        c = gcal_datasets.generate(2, 2, 300, seed=12)
        self.assertEqual(json.dumps(a), json.dumps(b))
        self.assertNotEqual(json.dumps(a), json.dumps(c))
        events = [e for cal in a["calendars"] for e in cal["events"]]
        self.assertEqual(len(events), 1200)
        self.assertEqual(len({(cal["id"], e["id"]) for cal in a["calendars"] for e in cal["events"]}), 1200)
        kinds = {"allday": 0, "recurring": 0, "exception": 0, "timed": 0}
        for e in events:
            kinds["exception" if e.get("recurringEventId") else "recurring" if e.get("recurrence")
                  else "allday" if "date" in e.get("start", {}) else "timed"] += 1
        for kind, count in kinds.items():
            self.assertGreater(count, 40, kind)
        state = self.c.load("generate", users=2, calendars=2, events=300, seed=11)
        self.assertEqual(state["events"], 1200)
        sizes = [len(json.dumps(v["api"]).encode()) for v in self.c.events("user0001@example.com")
                 if v["state"] == "live"]
        self.assertTrue(1000 <= sum(sizes) / len(sizes) <= 2100, sum(sizes) / len(sizes))


# ============================== speed path (smoke) ==============================

class SpeedSmokeTest(EmulatorTest):
    dataset = None

    def test_large_pages_plain_and_gzip(self):
        self.c.load("generate", users=2, calendars=1, events=3000, seed=5)
        for user in ("user0001", "user0002"):
            token = self.c.token("gen-refresh-" + user)
            for encoding in ("identity", "gzip"):
                page_token, total = None, 0
                while True:
                    params = dict(GCALSYNC_PARAMS, **({"pageToken": page_token} if page_token else {}))
                    resp = self.api.call("GET", events_path(user + "@example.com") + "?" + urlencode(params),
                                         token, headers={"Accept-Encoding": encoding})
                    body = gzip.decompress(resp.body) if encoding == "gzip" else resp.body
                    page = json.loads(body)
                    total += len(page["items"])
                    page_token = page.get("nextPageToken")
                    if not page_token:
                        break
                self.assertEqual(total, 3000)


# ============================== HTTPS ==============================

class TlsTest(unittest.TestCase):
    """--tls-cert/--tls-key: the emulator over HTTPS with a throwaway CA made by the openssl
    CLI (gcal_tls.py): a client that trusts the CA gets through, one that does not is
    refused, and host names are checked against the subjectAltName."""

    @classmethod
    def setUpClass(cls):
        import gcal_tls
        cls.tmp = tempfile.mkdtemp(prefix="gcal-tls-")
        cls.paths = gcal_tls.make_server_cert(cls.tmp)
        cls.wrong = gcal_tls.make_server_cert(cls.tmp, "wrong", "DNS:wrong.example")
        cls.emu = EmulatorProcess(data="demo", tls=(cls.paths["cert"], cls.paths["key"], cls.paths["ca"])).start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def https(self, host="127.0.0.1", port=None, cafile=None):
        ctx = ssl.create_default_context(cafile=cafile)
        return http.client.HTTPSConnection(host, port or self.emu.port, timeout=30, context=ctx)

    def test_ca_and_certificate_made_by_the_openssl_cli(self):
        for name in ("cert", "wrong"):
            path = self.paths["cert"] if name == "cert" else self.wrong["cert"]
            out = subprocess.run(["openssl", "verify", "-CAfile", self.paths["ca"], path],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
        text = subprocess.run(["openssl", "x509", "-in", self.paths["cert"], "-noout", "-text"],
                              capture_output=True, text=True, timeout=30).stdout
        self.assertIn("IP Address:127.0.0.1", text)
        self.assertIn("DNS:localhost", text)

    def test_banner_and_urls_are_https(self):
        self.assertRegex(self.emu.banner, r"^gcal_emulator listening on https://127\.0\.0\.1:\d+$")
        health = self.emu.client.health()
        self.assertEqual(health["base_url"], "https://127.0.0.1:%d" % self.emu.port)
        self.assertEqual(health["token_url"], "https://127.0.0.1:%d/token" % self.emu.port)
        self.assertEqual(health["api_url"], "https://127.0.0.1:%d/calendar/v3" % self.emu.port)
        self.assertTrue(self.emu.api_url.startswith("https://"))

    def test_client_trusting_the_ca_syncs(self):
        for host in ("127.0.0.1", "localhost"):
            conn = self.https(host, cafile=self.paths["ca"])
            try:
                form = urlencode({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "grant_type": "refresh_token", "refresh_token": "demo-refresh-alice"})
                conn.request("POST", "/token", body=form,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                token = json.loads(resp.read())["access_token"]
                # the same (keep-alive) connection carries the API call
                conn.request("GET", LIST_PATH, headers={"Authorization": "Bearer " + token})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                ids = [item["id"] for item in json.loads(resp.read())["items"]]
                self.assertIn(ALICE, ids)
            finally:
                conn.close()

    def test_client_without_the_ca_is_refused(self):
        conn = self.https()      # the system's CA store only
        with self.assertRaises(ssl.SSLCertVerificationError) as ctx:
            conn.request("GET", "/_emulator/health")
        self.assertIn("certificate verify failed", str(ctx.exception))
        conn.close()
        # a failed handshake costs the server nothing
        self.assertTrue(self.emu.client.health()["ok"])

    def test_plain_http_to_the_tls_port_gets_no_answer(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=30)
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            conn.request("GET", "/_emulator/health")
            conn.getresponse().read()
        conn.close()
        self.assertTrue(self.emu.client.health()["ok"])

    def test_certificate_for_another_host_is_refused(self):
        emu = EmulatorProcess(data="empty", tls=(self.wrong["cert"], self.wrong["key"], self.wrong["ca"])).start()
        try:
            for host, why in (("127.0.0.1", "IP address mismatch"), ("localhost", "Hostname mismatch")):
                conn = self.https(host, emu.port, cafile=self.paths["ca"])
                with self.assertRaises(ssl.SSLCertVerificationError) as ctx:
                    conn.request("GET", "/_emulator/health")
                self.assertIn(why, str(ctx.exception))
                conn.close()
            # the certificate itself is fine: only the name is wrong
            ctx = ssl.create_default_context(cafile=self.paths["ca"])
            ctx.check_hostname = False
            conn = http.client.HTTPSConnection("127.0.0.1", emu.port, timeout=30, context=ctx)
            conn.request("GET", "/_emulator/health")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            resp.read()
            conn.close()
            conn.close()
        finally:
            emu.stop()

    def test_cert_without_key_is_refused(self):
        out = subprocess.run([sys.executable, EMULATOR, "--data", "empty", "--tls-cert", self.paths["cert"]],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--tls-cert and --tls-key go together", out.stderr)
        out = subprocess.run([sys.executable, EMULATOR, "--data", "empty", "--tls-cert", self.paths["cert"],
                              "--tls-key", os.path.join(self.tmp, "missing.key")],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("cannot load", out.stderr)


# ============================== command line ==============================

class CommandLineTest(unittest.TestCase):

    def test_flags_port_file_banner_and_clean_sigterm_exit(self):
        tmp = tempfile.mkdtemp()
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--port-file", port_file,
                                 "--data", "generate:1,1,10,3", "--token-lifetime", "42",
                                 "--channel-lifetime", "90", "--client-id", "cid", "--client-secret", "cs"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline().strip()
            match = re.fullmatch(r"gcal_emulator listening on http://127\.0\.0\.1:(\d+)", line)
            self.assertIsNotNone(match, line)
            with open(port_file) as fh:
                self.assertEqual(fh.read().strip(), match.group(1))
            api = Api(int(match.group(1)))
            resp = api.token({"client_id": "cid", "client_secret": "cs", "grant_type": "refresh_token",
                              "refresh_token": "gen-refresh-user0001"})
            self.assertEqual(resp.json["expires_in"], 42)
            state = json.loads(api.call("GET", "/_emulator/settings").body)
            self.assertEqual(state["channel_lifetime"], 90)
            api.close()
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(15), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def test_refuses_non_loopback_host(self):
        out = subprocess.run([sys.executable, EMULATOR, "--host", "0.0.0.0", "--data", "empty"],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("loopback", out.stderr)

    def test_sigint_also_exits_cleanly(self):
        with EmulatorProcess(data="empty") as emu:
            emu.proc.send_signal(signal.SIGINT)
            self.assertEqual(emu.proc.wait(15), 0)


class WorkersTest(unittest.TestCase):
    """--workers 2: two processes on one port, each with a replica of the state. Every
    request below goes over a new connection, so the kernel spreads them over both."""

    @classmethod
    def setUpClass(cls):
        cls.emu = EmulatorProcess(data="demo", args=["--workers", "2"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def call(self, method, path, body=None, headers=None):
        """One request on a fresh connection → (status, decoded JSON or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=30)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, (json.loads(payload) if payload else None)
        finally:
            conn.close()

    def spread(self, method, path, n=24, **kwargs):
        """The same request n times; asserts both processes answered; the answers."""
        seen, answers = set(), []
        for _ in range(n):
            answers.append(self.call(method, path, **kwargs))
            seen.add(self.call("GET", "/_emulator/health")[1]["worker"])
        self.assertEqual(seen, {0, 1})
        return answers

    def bearer(self, refresh="demo-refresh-alice"):
        status, body = self.call("POST", "/token", urlencode({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token",
            "refresh_token": refresh}).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, body)
        return {"Authorization": "Bearer " + body["access_token"]}

    def test_health_names_the_workers(self):
        self.assertEqual(self.call("GET", "/_emulator/health")[1]["workers"], 2)

    def test_a_token_from_one_process_works_on_every_process(self):
        auth = self.bearer()
        for status, body in self.spread("GET", "/calendar/v3/users/me/calendarList", headers=auth):
            self.assertEqual(status, 200, body)
            self.assertIn(ALICE, [e["id"] for e in body["items"]])
        tokens = [t["token"] for t in self.emu.client.access_tokens(user="alice")]
        self.assertIn(auth["Authorization"][7:], tokens)

    def test_changes_reach_every_process_before_the_answer(self):
        auth = self.bearer()
        path = "/calendar/v3/calendars/%s/events" % quote(ALICE, safe="")
        status, full = self.call("GET", path + "?" + urlencode({"showDeleted": "true", "maxResults": 2500}),
                                 headers=auth)
        self.assertEqual(status, 200)
        incremental = path + "?" + urlencode({"syncToken": full["nextSyncToken"]})
        for status, body in self.spread("GET", incremental, headers=auth):
            self.assertEqual((status, body["items"]), (200, []))      # "no changes" everywhere
        live = next(i for i in full["items"] if i.get("status") != "cancelled" and "recurrence" not in i)
        self.emu.client.patch_event(ALICE, live["id"], summary="changed through one process")
        answers = self.spread("GET", incremental, headers=auth)
        for status, body in answers:
            self.assertEqual(status, 200)
            self.assertEqual([(i["id"], i["summary"]) for i in body["items"]],
                             [(live["id"], "changed through one process")])
        # the same item, etag and timestamps everywhere: the change was made alike
        self.assertEqual(len({json.dumps(b["items"], sort_keys=True) for _, b in answers}), 1)
        self.assertEqual(len({b["nextSyncToken"] for _, b in answers}), 1)

    def test_writes_through_the_api_are_replicated(self):
        auth = dict(self.bearer("demo-refresh-bob"), **{"Content-Type": "application/json"})
        path = "/calendar/v3/calendars/%s/events" % quote(BOB, safe="")
        status, made = self.call("POST", path, {"summary": "made on one process",
                                               "start": {"dateTime": "2030-01-01T10:00:00Z"},
                                               "end": {"dateTime": "2030-01-01T11:00:00Z"}}, auth)
        self.assertEqual(status, 200, made)
        for status, got in self.spread("GET", path + "/" + made["id"], headers=auth):
            self.assertEqual((status, got["etag"], got["updated"]), (200, made["etag"], made["updated"]))

    def test_page_tokens_work_on_every_process(self):
        auth = self.bearer()
        path = "/calendar/v3/calendars/%s/events?" % quote(ALICE, safe="")
        status, whole = self.call("GET", path + urlencode({"showDeleted": "true", "maxResults": 2500}),
                                  headers=auth)
        self.assertEqual(status, 200)
        items, page_token, pages = [], None, 0
        while True:
            query = {"showDeleted": "true", "maxResults": 2}
            if page_token:
                query["pageToken"] = page_token
            status, page = self.call("GET", path + urlencode(query), headers=auth)
            self.assertEqual(status, 200, page)
            items += page["items"]
            pages += 1
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        self.assertGreater(pages, 3)
        self.assertEqual([i["id"] for i in items], [i["id"] for i in whole["items"]])

    def test_the_request_log_holds_every_process_in_order(self):
        marker = "/calendar/v3/workers-marker-%d" % time.monotonic_ns()
        self.assertEqual(self.call("GET", marker)[0], 404)
        since = self.emu.client.log(path=re.escape(marker))[-1]["seq"]
        self.spread("GET", "/calendar/v3/users/me/calendarList", n=10)   # 401 each: no token
        entries = self.emu.client.log(since=since, kind="request")
        self.assertEqual(len(entries), 10)
        seqs = [e["seq"] for e in entries]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertTrue(all(e["status"] == 401 for e in entries))

    def test_faults_and_watch_channels_are_refused(self):
        with self.assertRaises(EmulatorError) as ctx:
            self.emu.client.add_fault(path="/token", preset="rate_limit")
        self.assertEqual(ctx.exception.status, 501)
        auth = dict(self.bearer(), **{"Content-Type": "application/json"})
        status, body = self.call("POST", "/calendar/v3/calendars/%s/events/watch" % quote(ALICE, safe=""),
                                 {"id": "ch1", "type": "web_hook", "address": "http://127.0.0.1:9/hook"}, auth)
        self.assertEqual(status, 501, body)

    def test_sigterm_ends_every_process(self):
        emu = EmulatorProcess(data="empty", args=["--workers", "3"]).start()
        with open("/proc/%d/task/%d/children" % (emu.proc.pid, emu.proc.pid)) as f:
            children = [int(p) for p in f.read().split()]
        self.assertEqual(len(children), 3)
        emu.proc.send_signal(signal.SIGTERM)
        self.assertEqual(emu.proc.wait(15), 0)
        emu.stop()
        for pid in children:
            self.assertFalse(os.path.exists("/proc/%d/stat" % pid) and
                             open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z", pid)


if __name__ == "__main__":
    unittest.main()
