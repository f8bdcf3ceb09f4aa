#!/usr/bin/python3
"""bench/appsync.py — what an application would write instead of gcalsync.

The baseline of bench/run's "initial sync" figure: a straightforward
application-side sync, written the way a team would write it in an afternoon
with Debian's python3-psycopg2 and the standard library, run against the same
emulator and into a table of the same shape (same indexes) as gcalsync.event:

  for each owner:
    POST /token (refresh grant)                    -> access token
    GET  users/me/calendarList (paged)             -> calendar ids
    for each calendar:
      GET calendars/{id}/events?maxResults=2500&showDeleted=true&singleEvents=false (paged)
      upsert the page's rows (INSERT ... ON CONFLICT DO UPDATE; execute_values or row by row)
      commit the page together with its page/sync token

One HTTP keep-alive connection (with gzip, as `requests` would ask for), one
database connection, one thread: what "straightforward" means. Typed columns
are lifted from the JSON the same way gcalsync lifts them; timestamps go to
PostgreSQL as the RFC 3339 strings Google sends.

Two ways to write the rows, both common: "mode": "batch" (the default;
psycopg2.extras.execute_values, 100 rows per INSERT) or "rows" (one INSERT per
event, as an ORM or a first version would do).

Input on stdin: {"token_url", "api_url", "client_id", "client_secret", "dsn",
"table", "mode", "owners": [[owner, refresh_token], ...]}. Output on stdout: one JSON
line {"events", "requests", "pages", "seconds"}.
"""

import gzip
import http.client
import json
import sys
import time
from urllib.parse import quote, urlencode, urlsplit

import psycopg2
import psycopg2.extras

COLUMNS = ("owner, calendar_id, event_id, status, summary, description, location, start_at, end_at, "
           "start_date, end_date, time_zone, recurrence, recurring_event_id, original_start_at, "
           "original_start_date, ical_uid, sequence, event_type, transparency, visibility, "
           "organizer_email, creator_email, html_link, created, updated, data")
UPDATED = [c.strip() for c in COLUMNS.split(",")][3:] + ["synced_at"]


def upsert_sql(table):
    return ("INSERT INTO %s (%s, synced_at) VALUES %%s ON CONFLICT (owner, calendar_id, event_id) "
            "DO UPDATE SET %s" % (table, COLUMNS, ", ".join("%s = excluded.%s" % (c, c) for c in UPDATED)))


TEMPLATE = "(" + ", ".join(["%s"] * 27) + ", now())"


def event_row(owner, calendar_id, e):
    start, end, orig = e.get("start") or {}, e.get("end") or {}, e.get("originalStartTime") or {}
    return (owner, calendar_id, e["id"], e.get("status", "confirmed"), e.get("summary"),
            e.get("description"), e.get("location"), start.get("dateTime"), end.get("dateTime"),
            start.get("date"), end.get("date"), start.get("timeZone"), e.get("recurrence"),
            e.get("recurringEventId"), orig.get("dateTime"), orig.get("date"), e.get("iCalUID"),
            e.get("sequence"), e.get("eventType"), e.get("transparency"), e.get("visibility"),
            (e.get("organizer") or {}).get("email"), (e.get("creator") or {}).get("email"),
            e.get("htmlLink"), e.get("created"), e.get("updated"), psycopg2.extras.Json(e))


class Google:
    """One keep-alive HTTP connection to the (emulated) Google endpoints."""

    def __init__(self, token_url, api_url):
        u = urlsplit(api_url)
        self.api_path = u.path.rstrip("/")
        self.token_path = urlsplit(token_url).path
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.requests = 0

    def call(self, method, path, body=None, headers=None):
        hdrs = {"Accept-Encoding": "gzip"}
        hdrs.update(headers or {})
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        self.requests += 1
        if resp.getheader("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        if resp.status != 200:
            raise RuntimeError("%s %s -> %d %s" % (method, path, resp.status, data[:200]))
        return json.loads(data)

    def token(self, client_id, client_secret, refresh_token):
        form = urlencode({"client_id": client_id, "client_secret": client_secret,
                          "refresh_token": refresh_token, "grant_type": "refresh_token"})
        return self.call("POST", self.token_path, form,
                         {"Content-Type": "application/x-www-form-urlencoded"})["access_token"]

    def get(self, access_token, path, params):
        return self.call("GET", self.api_path + path + "?" + urlencode(params),
                         headers={"Authorization": "Bearer " + access_token})


def sync_owner(g, db, cfg, owner, refresh_token, stats):
    token = g.token(cfg["client_id"], cfg["client_secret"], refresh_token)
    calendars, page = [], None
    while True:
        params = {"maxResults": 250, "showDeleted": "true", "showHidden": "true"}
        if page:
            params["pageToken"] = page
        body = g.get(token, "/users/me/calendarList", params)
        calendars += [c["id"] for c in body.get("items", []) if not c.get("deleted")]
        page = body.get("nextPageToken")
        if not page:
            break
    sql = upsert_sql(cfg["table"])
    row_sql = sql.replace("VALUES %s", "VALUES " + TEMPLATE)
    cur = db.cursor()
    for cal in calendars:
        page = None
        while True:
            params = {"maxResults": 2500, "showDeleted": "true", "singleEvents": "false"}
            if page:
                params["pageToken"] = page
            body = g.get(token, "/calendars/%s/events" % quote(cal, safe=""), params)
            rows = [event_row(owner, cal, e) for e in body.get("items", [])]
            if rows and cfg.get("mode") == "rows":
                for r in rows:  # one INSERT ... ON CONFLICT per event
                    cur.execute(row_sql, r)
            elif rows:  # execute_values: 100 rows per statement
                psycopg2.extras.execute_values(cur, sql, rows, template=TEMPLATE)
            page = body.get("nextPageToken")
            cur.execute("INSERT INTO %s_sync (owner, calendar_id, page_token, sync_token) "
                        "VALUES (%%s, %%s, %%s, %%s) ON CONFLICT (owner, calendar_id) DO UPDATE SET "
                        "page_token = excluded.page_token, sync_token = excluded.sync_token"
                        % cfg["table"], (owner, cal, page, body.get("nextSyncToken")))
            db.commit()
            stats["events"] += len(rows)
            stats["pages"] += 1
            if not page:
                break


def main():
    cfg = json.load(sys.stdin)
    g = Google(cfg["token_url"], cfg["api_url"])
    db = psycopg2.connect(cfg["dsn"])
    stats = {"events": 0, "pages": 0}
    t0 = time.monotonic()
    for owner, refresh_token in cfg["owners"]:
        sync_owner(g, db, cfg, owner, refresh_token, stats)
    stats["seconds"] = time.monotonic() - t0
    stats["requests"] = g.requests
    db.close()
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
