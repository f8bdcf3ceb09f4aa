"""State of the Google Calendar emulator and the semantics of the API calls gcalsync uses.

The model, in one paragraph: a global change counter (`seq`) stamps every visible change.
Calendars hold events (shared by every user who has the calendar on their list); users
hold calendar-list entries, refresh tokens and access tokens. Events of a calendar and
entries of a user are kept in change order (an OrderedDict moved-to-end on change), so an
incremental listing "everything after sync token seq S" is a walk from the end. Every
record keeps its serialised API form (`data`, bytes) so serving a page only joins bytes.

A listing is a *snapshot*: the first request of a (full or incremental) listing freezes the
list of item bytes and the seq at that moment; page tokens point into that frozen list,
the last page's nextSyncToken carries the snapshot seq. Anything changed after the
snapshot has a larger seq and is returned by the next incremental sync - never lost.
Snapshots are cached per (resource, mutation counter, parameters), so repeated full
listings of an unchanged calendar are served from memory.

Thread safety: one RLock guards all state; page bytes are assembled outside it from the
immutable snapshot.
"""

import base64
import hashlib
import itertools
import json
import random
import re
import secrets
import threading
import time
import zoneinfo
from collections import OrderedDict
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import quote

import gcal_errors as E
from gcal_errors import ApiError, dumps

BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
ROLE_RANK = {"freeBusyReader": 1, "reader": 2, "writerWithoutPrivateAccess": 3, "writer": 4,
             "owner": 5}
SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
# What a user created with "read_only": false (the default) grants: the
# Calendar scope that allows writes (events.insert, patch, delete).
WRITE_SCOPE = "https://www.googleapis.com/auth/calendar"
SEND_UPDATES = ("all", "externalOnly", "none")
CALENDAR_LIST = "calendarList"          # resource name of a user's calendar list (sync tokens)

# Item state of an event record, decides how it is rendered and filtered.
LIVE, EXCEPTION_CANCELLED, DELETED = "live", "cancelledException", "deleted"

# Parameters Google refuses together with syncToken (400).
EVENTS_FORBIDDEN_WITH_SYNC = ("iCalUID", "orderBy", "privateExtendedProperty", "q",
                              "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin")
LIST_FORBIDDEN_WITH_SYNC = ("minAccessRole", "showOwnOrganizationOnly")

# Key order of a rendered event (Google's own order); unknown keys follow.
EVENT_KEY_ORDER = (
    "kind", "etag", "id", "status", "htmlLink", "created", "updated", "summary", "description",
    "location", "colorId", "creator", "organizer", "start", "end", "endTimeUnspecified",
    "recurrence", "recurringEventId", "originalStartTime", "transparency", "visibility",
    "iCalUID", "sequence", "attendees", "attendeesOmitted", "extendedProperties", "hangoutLink",
    "conferenceData", "gadget", "anyoneCanAddSelf", "guestsCanInviteOthers", "guestsCanModify",
    "guestsCanSeeOtherGuests", "privateCopy", "locked", "reminders", "source", "attachments",
    "birthdayProperties", "eventType", "workingLocationProperties", "outOfOfficeProperties",
    "focusTimeProperties")

DEFAULT_SETTINGS = {
    "token_lifetime": 3600,        # seconds an access token lives (expires_in)
    "channel_lifetime": 604800,    # default watch channel lifetime in seconds (Google: 7 days)
    "client_id": "gcalsync-demo.apps.googleusercontent.com",
    "client_secret": "demo-client-secret",
    "page_pattern": None,          # e.g. [0, 3]: page i holds at most pattern[i % len] items
    "require_https": False,        # refuse http:// watch addresses like Google does
    "gzip_level": 1,               # compression level when a client accepts gzip
    "log_limit": 100000,           # request log entries kept (oldest dropped)
    "push_timeout": 5.0,           # seconds a push delivery may take
    "fresh_sync_tokens": False,    # events.list: a new nextSyncToken on every listing, changes or not
    "live_paging": False,          # pages after the first see changes made meanwhile (no snapshot),
                                   # as Google allows; the last page's token still covers them
    "page_token_lifetime": None,   # seconds a page token is accepted (None: while its listing is cached)
}


class ControlError(Exception):
    """A bad control request: status and a human-readable message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


# --- small helpers ------------------------------------------------------------------------

def rfc3339(ts):
    """UTC RFC 3339 with milliseconds, like Google's `updated` (2025-03-25T13:00:00.123Z)."""
    dt = datetime.fromtimestamp(ts, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def parse_datetime(value, tz_name=None):
    """Parse an RFC 3339 dateTime; naive values are read in tz_name (else UTC)."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        try:
            dt = dt.replace(tzinfo=zoneinfo.ZoneInfo(tz_name) if tz_name else timezone.utc)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            dt = dt.replace(tzinfo=timezone.utc)
    return dt


def new_event_id(rng=None):
    """A fresh base32hex event id of 26 characters, like Google's (seeded when rng given)."""
    bits = rng.getrandbits(130) if rng is not None else secrets.randbits(130)
    return "".join(BASE32HEX[(bits >> (5 * i)) & 31] for i in range(26))


def instance_id(master_id, original_start):
    """Google's id of a recurring-event instance: <master>_<UTC basic start>Z or _<date>."""
    if original_start.get("date"):
        return master_id + "_" + original_start["date"].replace("-", "")
    dt = parse_datetime(original_start["dateTime"], original_start.get("timeZone"))
    return master_id + "_" + dt.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def b64(text):
    """Standard base64 (may contain + / =, like Google's tokens: clients must URL-encode)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def unb64(token):
    """Inverse of b64; raises ValueError on anything malformed."""
    return base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")


def one(query, name):
    """First value of a query parameter, or None."""
    values = query.get(name)
    return values[0] if values else None


def parse_bool(query, name):
    """Google's boolean parameter: true/false (any case); None when absent; 400 otherwise."""
    value = one(query, name)
    if value is None:
        return None
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    raise E.invalid_parameter(name, "Invalid boolean value: '%s'." % value)


def parse_max_results(query, default, maximum):
    """maxResults within [1, maximum] (400 with Google's range message otherwise)."""
    value = one(query, "maxResults")
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not 1 <= number <= maximum:
        raise E.invalid_parameter(
            "maxResults", "Invalid value '%s'. Values must be within the range: [1, %d]" % (value, maximum))
    return number


def parse_time_param(query, name):
    """An RFC 3339 timestamp parameter with mandatory offset (timeMin, timeMax, updatedMin)."""
    value = one(query, name)
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        raise E.invalid_parameter(name, "Bad Request")
    return dt


def gcal_oracle_zone(name):
    """The zone a freebusy answer is written in (timeZone, default UTC); Google refuses an
    unknown one with 400 invalid."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        raise E.bad_request("Invalid time zone.", reason="invalid")


def ordered_event(ev):
    """The event dict with keys in Google's order (stable bytes, readable output)."""
    out = {k: ev[k] for k in EVENT_KEY_ORDER if k in ev}
    for k, v in ev.items():
        if k not in out:
            out[k] = v
    return out


def validate_event(ev):
    """Reject event JSON that Google could never return (catches broken test data early)."""
    if not isinstance(ev, dict):
        raise ControlError(400, "an event must be a JSON object")
    for key in ("start", "end", "originalStartTime"):
        value = ev.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or (("date" in value) == ("dateTime" in value)):
            raise ControlError(400, "event %s must hold exactly one of date/dateTime" % key)
    cancelled = ev.get("status") == "cancelled"
    if not cancelled and ("start" not in ev or "end" not in ev):
        raise ControlError(400, "a non-cancelled event needs start and end")
    if ev.get("recurringEventId") and not ev.get("originalStartTime"):
        raise ControlError(400, "an exception (recurringEventId) needs originalStartTime")
    if "recurrence" in ev and not (isinstance(ev["recurrence"], list)
                                   and all(isinstance(r, str) for r in ev["recurrence"])):
        raise ControlError(400, "recurrence must be a list of strings")


class ListParams:
    """Parsed parameters of a list call (events.list or calendarList.list)."""
    __slots__ = ("max_results", "page_token", "sync_token", "show_deleted", "show_hidden",
                 "min_role", "ical_uid", "text", "event_types", "private_props", "shared_props",
                 "time_min", "time_max", "updated_min", "order_by", "filter_key", "single_events")


def parse_events_params(query):
    """Validate events.list parameters with Google's rules; 400 on what Google refuses."""
    p = ListParams()
    p.max_results = parse_max_results(query, 250, 2500)
    p.page_token, p.sync_token = one(query, "pageToken"), one(query, "syncToken")
    p.show_deleted = parse_bool(query, "showDeleted")
    p.show_hidden = parse_bool(query, "showHiddenInvitations") or False
    p.single_events = bool(parse_bool(query, "singleEvents"))
    if p.single_events and p.sync_token is not None:
        raise E.invalid_parameter(
            "syncToken", "The gcalsync emulator does not sync incrementally with singleEvents=true "
            "(gcalsync syncs with singleEvents=false).", reason="unsupported")
    if p.sync_token is not None:
        for name in EVENTS_FORBIDDEN_WITH_SYNC:
            if name in query:
                raise E.invalid_parameter(name, "The parameter '%s' cannot be used together with "
                                                "syncToken." % name)
        if p.show_deleted is False:
            raise E.invalid_parameter("showDeleted", "showDeleted=false cannot be used together "
                                                     "with syncToken.")
    p.order_by = one(query, "orderBy")
    if p.order_by == "startTime" and not p.single_events:
        raise E.invalid_parameter("orderBy", "The requested ordering is not available for the "
                                             "particular query.")
    if p.order_by not in (None, "updated", "startTime"):
        raise E.invalid_parameter("orderBy", "Invalid value '%s'." % p.order_by)
    p.time_min, p.time_max = parse_time_param(query, "timeMin"), parse_time_param(query, "timeMax")
    if p.time_min and p.time_max and p.time_min >= p.time_max:
        raise E.invalid_parameter("timeMax", "The specified time range is empty.",
                                  reason="timeRangeEmpty")
    p.updated_min = parse_time_param(query, "updatedMin")
    p.ical_uid, p.text = one(query, "iCalUID"), one(query, "q")
    p.event_types = tuple(query.get("eventTypes", ()))
    p.private_props = tuple(query.get("privateExtendedProperty", ()))
    p.shared_props = tuple(query.get("sharedExtendedProperty", ()))
    p.min_role = None
    p.filter_key = ("events", p.show_deleted, p.show_hidden, p.ical_uid, p.text, p.event_types,
                    p.private_props, p.shared_props, one(query, "timeMin"), one(query, "timeMax"),
                    one(query, "updatedMin"), p.order_by, p.single_events)
    return p


def parse_list_params(query):
    """Validate calendarList.list parameters with Google's rules."""
    p = ListParams()
    p.max_results = parse_max_results(query, 100, 250)
    p.page_token, p.sync_token = one(query, "pageToken"), one(query, "syncToken")
    p.show_deleted = parse_bool(query, "showDeleted")
    p.show_hidden = parse_bool(query, "showHidden")
    parse_bool(query, "showOwnOrganizationOnly")
    p.min_role = one(query, "minAccessRole")
    if p.min_role is not None and p.min_role not in ROLE_RANK:
        raise E.invalid_parameter("minAccessRole", "Invalid value '%s'." % p.min_role)
    if p.sync_token is not None:
        for name in LIST_FORBIDDEN_WITH_SYNC:
            if name in query:
                raise E.invalid_parameter(name, "The parameter '%s' cannot be used together with "
                                                "syncToken." % name)
        for name, value in (("showDeleted", p.show_deleted), ("showHidden", p.show_hidden)):
            if value is False:
                raise E.invalid_parameter(name, "%s=false cannot be used together with syncToken."
                                          % name)
    p.filter_key = ("calendarList", p.show_deleted, p.show_hidden, p.min_role)
    return p


def event_matches(rec, p, with_time=True):
    """Whether a live or cancelled event passes the full-listing filters of events.list
    (without timeMin/timeMax when with_time is false: singleEvents=true applies them to
    the instances)."""
    r = rec.resource
    if p.ical_uid is not None and r.get("iCalUID") != p.ical_uid:
        return False
    if p.event_types and r.get("eventType", "default") not in p.event_types:
        return False
    if p.updated_min is not None and parse_datetime(r.get("updated", "1970-01-01T00:00:00Z")) < p.updated_min:
        return False
    for props, kind in ((p.private_props, "private"), (p.shared_props, "shared")):
        have = (r.get("extendedProperties") or {}).get(kind) or {}
        for constraint in props:
            name, _, value = constraint.partition("=")
            if have.get(name) != value:
                return False
    if p.text and not text_matches(r, p.text.lower()):
        return False
    return not with_time or time_overlaps(r, p.time_min, p.time_max)


def text_matches(r, needle):
    """events.list `q`: case-insensitive match in summary, description, location, people."""
    people = list(r.get("attendees") or []) + [r.get("organizer") or {}]
    hay = [r.get("summary"), r.get("description"), r.get("location")]
    hay += [x.get("email") for x in people] + [x.get("displayName") for x in people]
    return any(needle in h.lower() for h in hay if isinstance(h, str))


def event_instant(edt, tz_name):
    """Instant of an EventDateTime (all-day: midnight UTC; good enough for range filters)."""
    if not edt:
        return None
    if edt.get("date"):
        return datetime.fromisoformat(edt["date"]).replace(tzinfo=timezone.utc)
    return parse_datetime(edt["dateTime"], edt.get("timeZone") or tz_name)


def time_overlaps(r, time_min, time_max):
    """timeMin is exclusive on the end, timeMax exclusive on the start; series never end."""
    if time_min is None and time_max is None:
        return True
    start = event_instant(r.get("start") or r.get("originalStartTime"), None)
    if start is None:
        return True
    end = None if r.get("recurrence") else event_instant(r.get("end"), None) or start
    if time_max is not None and start >= time_max:
        return False
    return not (time_min is not None and end is not None and end <= time_min)


# --- records ----------------------------------------------------------------------------------

# Creation order of events and calendar-list entries (`born`): with live_paging, listings
# are in this order, which a change does not alter, so a page after the first starts where
# the previous one ended: like Google's cursor-like page tokens, a listing may show an item
# that changed while it paged on a later page too, but never skips one that did not change
# (no client could converge if it did).
_BORN = itertools.count()


class EventRec:
    """One stored event: the full resource, its change seq, and its rendered bytes."""
    __slots__ = ("id", "resource", "seq", "state", "master_id", "hidden_invitation", "data", "born")

    def __init__(self, event_id):
        self.id, self.born = event_id, next(_BORN)
        self.resource, self.seq, self.state, self.data = None, 0, LIVE, b""
        self.master_id, self.hidden_invitation = None, False


class Calendar:
    """A calendar: metadata, events in change order, and the users that list it."""
    __slots__ = ("id", "meta", "watchable", "report_deletions", "deleted", "events", "mutation",
                 "meta_version", "updated", "etag", "members", "data")

    def __init__(self, cal_id):
        self.id, self.meta, self.watchable, self.report_deletions = cal_id, {}, True, True
        self.deleted, self.events, self.mutation, self.meta_version = False, OrderedDict(), 0, 0
        self.updated, self.etag, self.members, self.data = None, "", set(), b""


class Entry:
    """A user's calendar-list entry: per-user fields, change seq and rendered bytes."""
    __slots__ = ("calendar_id", "fields", "seq", "etag", "data", "born")

    def __init__(self, cal_id):
        self.calendar_id, self.fields, self.seq, self.etag, self.data = cal_id, {}, 0, "", b""
        self.born = next(_BORN)


class User:
    """A Google account: email and calendar-list entries in change order."""
    __slots__ = ("id", "email", "entries", "mutation", "read_only")

    def __init__(self, user_id, email):
        self.id, self.email, self.entries, self.mutation = user_id, email, OrderedDict(), 0
        self.read_only = False      # the grant holds only calendar.readonly: writes get 403


class RefreshToken:
    __slots__ = ("token", "user", "state")     # state: active | revoked | expired

    def __init__(self, token, user, state="active"):
        self.token, self.user, self.state = token, user, state


class AccessToken:
    __slots__ = ("token", "user", "refresh", "expires_at", "state")   # state: active | revoked

    def __init__(self, token, user, refresh, expires_at):
        self.token, self.user, self.refresh, self.expires_at, self.state = (
            token, user, refresh, expires_at, "active")


class Channel:
    """A push channel (events of a calendar, or a user's calendar list)."""
    __slots__ = ("id", "kind", "key", "user", "resource_id", "resource_uri", "token", "address",
                 "expiration_ms", "state", "message_number", "created")

    def expired(self, now_ms=None):
        return (now_ms if now_ms is not None else time.time() * 1000) >= self.expiration_ms

    def active(self):
        """Delivers notifications: not stopped, not expired."""
        return self.state == "active" and not self.expired()

    def resource(self):
        """The channel resource as events.watch / calendarList.watch return it."""
        out = {"kind": "api#channel", "id": self.id, "resourceId": self.resource_id,
               "resourceUri": self.resource_uri}
        if self.token is not None:
            out["token"] = self.token
        out["expiration"] = str(self.expiration_ms)
        return out

    def describe(self):
        """Control view of the channel (adds owner, address, state, counters)."""
        out = self.resource()
        out.update({"user": self.user, "address": self.address, "watch": self.kind,
                    "target": self.key, "message_number": self.message_number,
                    "state": "expired" if self.state == "active" and self.expired() else self.state})
        return out


class Snapshot:
    """A frozen listing: item bytes, the seq it reflects, and what selected them."""
    __slots__ = ("id", "resource", "filter_key", "items", "seq", "updated")


class ByteCache:
    """A small thread-safe LRU of bytes values bounded by total size."""

    def __init__(self, max_bytes):
        self.max_bytes, self.size, self.items = max_bytes, 0, OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value):
        if len(value) > self.max_bytes // 4:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += len(value)
            while self.size > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.size -= len(old)

    def clear(self):
        with self.lock:
            self.items.clear()
            self.size = 0


# --- the store ------------------------------------------------------------------------------

class Store:
    """All emulator state and the Google semantics over it."""

    SNAPSHOT_ITEM_LIMIT = 4_000_000    # item references kept across cached snapshots

    def __init__(self, settings=None, push=None):
        self.lock = threading.RLock()
        self.defaults = dict(DEFAULT_SETTINGS, **(settings or {}))
        self.settings = dict(self.defaults)
        self.push = push                 # gcal_push.PushDeliverer (or None in unit use)
        self.api_base = "http://127.0.0.1/calendar/v3"
        self.page_cache = ByteCache(256 << 20)
        self.portable_pages = False      # --workers: page tokens any process can serve
        self._replay = threading.local()
        self._clear_data()

    # ---- time and randomness of changes ----
    #
    # With --workers N every process holds a replica of the state and applies every change
    # itself; the process that takes a change runs it under replaying(now, seed) and has
    # the others run it the same way, so ids, tokens and timestamps come out identical.

    @contextmanager
    def replaying(self, now, seed):
        """Changes made in this block use `now` as the time and a Random(seed) for ids."""
        self._replay.ctx = (now, random.Random(seed))
        try:
            yield
        finally:
            self._replay.ctx = None

    def now(self):
        ctx = getattr(self._replay, "ctx", None)
        return ctx[0] if ctx else time.time()

    def _rng(self):
        ctx = getattr(self._replay, "ctx", None)
        return ctx[1] if ctx else None

    def _token_hex(self, nbytes):
        rng = self._rng()
        return rng.randbytes(nbytes).hex() if rng else secrets.token_hex(nbytes)

    def _token_urlsafe(self, nbytes):
        rng = self._rng()
        if rng is None:
            return secrets.token_urlsafe(nbytes)
        return base64.urlsafe_b64encode(rng.randbytes(nbytes)).rstrip(b"=").decode("ascii")

    # ---- lifecycle ----

    def _clear_data(self):
        """Forget every user, calendar, token, channel and snapshot; start a new instance.

        A new instance id makes every sync token and page token handed out before unusable
        (410 / 400), exactly what a client would see if Google lost its state.
        """
        for ch in getattr(self, "channels", {}).values():
            ch.state = "stopped"            # queued notifications of old channels are dropped
        self.instance = self._token_hex(4)
        self.etag_base = int(self.now()) % 10_000_000
        self.seq = 0
        self.generation = 0
        self.users, self.calendars = {}, {}
        self.refresh_tokens, self.access_tokens = {}, {}
        self.channels, self.channels_by_target = {}, {}
        self.invalidations = []
        self.snapshots, self.snapshot_ids = OrderedDict(), {}
        self.snapshot_items = 0
        self.snapshot_counter = 0
        self.page_cache.clear()

    def reset(self):
        """Empty state and default settings (control: POST /_emulator/reset)."""
        with self.lock:
            self._clear_data()
            self.settings = dict(self.defaults)

    def load(self, doc):
        """Replace all data by a data-set document (users, calendars with members and events)."""
        if not isinstance(doc, dict):
            raise ControlError(400, "a data set is a JSON object with users and calendars")
        with self.lock:
            self._clear_data()
            for spec in doc.get("users", []):
                self.create_user(spec)
            for spec in doc.get("calendars", []):
                self.put_calendar(spec, notify=False)
            for spec in doc.get("invalidate", []):
                self.invalidate_sync_tokens(**spec)
            return self.describe()

    def describe(self):
        """Counts for GET /_emulator/state."""
        with self.lock:
            return {"instance": self.instance, "seq": self.seq, "users": len(self.users),
                    "calendars": len(self.calendars),
                    "events": sum(len(c.events) for c in self.calendars.values()),
                    "channels": len(self.channels), "snapshots": len(self.snapshots),
                    "access_tokens": len(self.access_tokens)}

    def update_settings(self, changes):
        """PATCH /_emulator/settings: validate and apply known keys."""
        with self.lock:
            for key, value in changes.items():
                if key not in DEFAULT_SETTINGS:
                    raise ControlError(400, "unknown setting %r" % key)
                if key == "page_pattern" and value is not None:
                    if (not isinstance(value, list) or not value
                            or not all(isinstance(v, int) for v in value)
                            or not any(v != 0 for v in value)):
                        raise ControlError(400, "page_pattern is null or a list of ints with a "
                                                "non-zero entry (negative = maxResults)")
                self.settings[key] = value
            self.page_cache.clear()
            return dict(self.settings)

    # ---- counters, etags ----

    def _next_seq(self):
        self.seq += 1
        return self.seq

    def _etag(self, seq):
        """A 16-digit quoted etag, unique per change and per emulator instance."""
        return '"%07d%09d"' % (self.etag_base, seq)

    # ---- users and tokens ----

    def create_user(self, spec):
        """Create a user (id, email, refresh tokens, optional primary calendar)."""
        if not isinstance(spec, dict) or not spec.get("id"):
            raise ControlError(400, "a user needs an id")
        with self.lock:
            uid = spec["id"]
            if uid in self.users:
                raise ControlError(409, "user %r exists" % uid)
            user = User(uid, spec.get("email") or "%s@example.com" % uid)
            user.read_only = bool(spec.get("read_only", False))
            self.users[uid] = user
            for token in spec.get("refresh_tokens", []):
                self._add_refresh_token(uid, token)
            for token in spec.get("revoked_refresh_tokens", []):
                self._add_refresh_token(uid, token).state = "revoked"
            if spec.get("primary_calendar", True):
                self.put_calendar({"id": user.email, "summary": spec.get("summary", user.email),
                                   "timeZone": spec.get("timeZone", "UTC"),
                                   "members": {uid: {"accessRole": "owner", "primary": True,
                                                     "selected": True}}}, notify=False)
            return self.user_view(uid)

    def user_view(self, uid):
        """Control view of a user."""
        user = self._user(uid)
        return {"id": uid, "email": user.email, "read_only": user.read_only,
                "refresh_tokens": [{"token": t.token, "state": t.state}
                                   for t in self.refresh_tokens.values() if t.user == uid],
                "calendars": list(user.entries)}

    def update_user(self, uid, spec):
        """Change a user's email and/or add refresh tokens (active or already revoked)."""
        unknown = set(spec) - {"email", "refresh_tokens", "revoked_refresh_tokens", "read_only"}
        if unknown:
            raise ControlError(400, "unknown user fields: %s" % ", ".join(sorted(unknown)))
        with self.lock:
            user = self._user(uid)
            if spec.get("email"):
                user.email = spec["email"]
            if "read_only" in spec:
                user.read_only = bool(spec["read_only"])
            for token in spec.get("refresh_tokens", []):
                self._add_refresh_token(uid, token)
            for token in spec.get("revoked_refresh_tokens", []):
                self._add_refresh_token(uid, token).state = "revoked"
            return self.user_view(uid)

    def list_users(self):
        with self.lock:
            return [self.user_view(uid) for uid in self.users]

    def delete_user(self, uid):
        """Remove a user with its entries, tokens and channels (calendars stay)."""
        with self.lock:
            user = self._user(uid)
            for cal_id in user.entries:
                cal = self.calendars.get(cal_id)
                if cal is not None:
                    cal.members.discard(uid)
            for table in (self.refresh_tokens, self.access_tokens):
                for token in [t for t, rec in table.items() if rec.user == uid]:
                    del table[token]
            for ch in [c for c in self.channels.values() if c.user == uid]:
                self._drop_channel(ch, "stopped")
            del self.users[uid]

    def _user(self, uid):
        user = self.users.get(uid)
        if user is None:
            raise ControlError(404, "no user %r" % uid)
        return user

    def _add_refresh_token(self, uid, token):
        if token in self.refresh_tokens:
            raise ControlError(409, "refresh token %r exists" % token)
        rec = RefreshToken(token, uid)
        self.refresh_tokens[token] = rec
        return rec

    def add_refresh_token(self, uid, token=None):
        """Give a user another refresh token (generated when not given)."""
        with self.lock:
            self._user(uid)
            token = token or "1//emu-" + self._token_urlsafe(24)
            self._add_refresh_token(uid, token)
            return {"token": token, "user": uid}

    def set_refresh_state(self, state, token=None, user=None):
        """Revoke or expire refresh tokens (one, a user's, or all) and their access tokens."""
        with self.lock:
            hits = [t for t in self.refresh_tokens.values()
                    if (token is None or t.token == token) and (user is None or t.user == user)]
            if token is not None and not hits:
                raise ControlError(404, "no refresh token %r" % token)
            for rec in hits:
                rec.state = state
                for at in self.access_tokens.values():
                    if at.refresh == rec.token:
                        at.state = "revoked"
            return {"count": len(hits)}

    def set_access_state(self, action, token=None, user=None):
        """Revoke ('revoke') or expire ('expire') access tokens: one, a user's, or all."""
        with self.lock:
            hits = [t for t in self.access_tokens.values()
                    if (token is None or t.token == token) and (user is None or t.user == user)]
            if token is not None and not hits:
                raise ControlError(404, "no access token %r" % token)
            for rec in hits:
                if action == "revoke":
                    rec.state = "revoked"
                else:
                    rec.expires_at = min(rec.expires_at, self.now() - 1)
            return {"count": len(hits)}

    def list_access_tokens(self, user=None):
        """Control view of issued access tokens."""
        now = time.time()
        with self.lock:
            return [{"token": t.token, "user": t.user, "refresh_token": t.refresh,
                     "expires_at": t.expires_at,
                     "state": t.state if t.state != "active" or now < t.expires_at else "expired"}
                    for t in self.access_tokens.values() if user is None or t.user == user]

    def token_grant(self, form, basic_client):
        """POST /token, refresh grant: (status, body dict) with Google's documented errors."""
        client_id = form.get("client_id") or (basic_client[0] if basic_client else None)
        secret = form.get("client_secret") or (basic_client[1] if basic_client else None)
        if not client_id:
            return 400, E.oauth_error("invalid_request", "Could not determine client ID from request.")
        with self.lock:
            if client_id != self.settings["client_id"]:
                return 401, E.INVALID_CLIENT_UNKNOWN
            if secret != self.settings["client_secret"]:
                return 401, E.INVALID_CLIENT_SECRET
            grant = form.get("grant_type")
            if grant != "refresh_token":
                return 400, E.oauth_error("unsupported_grant_type", "Invalid grant_type: %s" % (grant or ""))
            token = form.get("refresh_token")
            if not token:
                return 400, E.oauth_error("invalid_request", "Missing required parameter: refresh_token")
            rec = self.refresh_tokens.get(token)
            if rec is None:
                return 400, E.INVALID_GRANT_MALFORMED
            if rec.state != "active":
                return 400, E.INVALID_GRANT_REVOKED
            lifetime = self.settings["token_lifetime"]
            access = AccessToken("ya29.emu-" + self._token_urlsafe(36), rec.user, token,
                                 self.now() + lifetime)
            self.access_tokens[access.token] = access
            read_only = self.users[rec.user].read_only if rec.user in self.users else True
            return 200, {"access_token": access.token, "expires_in": int(lifetime),
                         "scope": SCOPE if read_only else WRITE_SCOPE, "token_type": "Bearer"}

    def peek_user(self, authorization=None, refresh_token=None):
        """The user behind a bearer or refresh token, valid or not (for logs and fault matching)."""
        if refresh_token:
            rec = self.refresh_tokens.get(refresh_token)
            return rec.user if rec else None
        if authorization and authorization[:7].lower() == "bearer ":
            rec = self.access_tokens.get(authorization[7:].strip())
            return rec.user if rec else None
        return None

    def authenticate(self, authorization):
        """The user of a valid `Authorization: Bearer` header, else Google's 401."""
        if not authorization:
            raise ApiError(401, E.LOGIN_REQUIRED, E.WWW_AUTHENTICATE)
        if authorization[:7].lower() == "bearer ":
            rec = self.access_tokens.get(authorization[7:].strip())
            if (rec is not None and rec.state == "active" and time.time() < rec.expires_at
                    and rec.user in self.users):
                return rec.user
        raise ApiError(401, E.UNAUTHENTICATED, E.WWW_AUTHENTICATE)

    # ---- calendars and list entries ----

    def put_calendar(self, spec, notify=True):
        """Create or update a calendar with metadata, members' entries and events.

        Returns (created, view). Metadata changes re-render entries but, like Google, do not
        make entries appear in incremental calendarList syncs unless touchListEntries is set.
        """
        if not isinstance(spec, dict):
            raise ControlError(400, "a calendar is a JSON object")
        with self.lock:
            cal_id = spec.get("id") or "c_%s@group.calendar.google.com" % self._token_hex(16)
            cal = self.calendars.get(cal_id)
            created = cal is None
            if created:
                cal = Calendar(cal_id)
                cal.meta = {"summary": cal_id, "timeZone": "UTC"}
                self.calendars[cal_id] = cal
            self._apply_calendar_meta(cal, spec, touch=bool(spec.get("touchListEntries")),
                                      notify=notify and not created)
            for uid, fields in (spec.get("members") or {}).items():
                self.put_entry(uid, cal_id, fields or {}, notify=notify)
            if spec.get("events"):
                self.insert_events(cal_id, spec["events"], notify=notify)
            return created, self.calendar_view(cal_id)

    def _apply_calendar_meta(self, cal, spec, touch, notify):
        """Apply metadata keys of a calendar spec and refresh every rendering of it."""
        for key in ("summary", "description", "location", "timeZone", "dataOwner",
                    "conferenceProperties"):
            if key in spec:
                if spec[key] is None:
                    cal.meta.pop(key, None)
                else:
                    cal.meta[key] = spec[key]
        if "watchable" in spec:
            cal.watchable = bool(spec["watchable"])
        if "reportDeletions" in spec:
            cal.report_deletions = bool(spec["reportDeletions"])
        cal.meta_version += 1
        cal.etag = self._etag(self._next_seq())
        cal.data = dumps(self._calendar_resource(cal))
        for uid in cal.members:
            user = self.users[uid]
            entry = user.entries[cal.id]
            if touch:
                self._bump_entry(user, entry)
                if notify:
                    self._notify_list(uid)
            else:
                entry.data = dumps(self._entry_resource(cal, entry))
                user.mutation += 1

    def _calendar_resource(self, cal):
        """calendars.get representation."""
        m = cal.meta
        out = {"kind": "calendar#calendar", "etag": cal.etag, "id": cal.id, "summary": m["summary"]}
        for key in ("description", "location"):
            if m.get(key):
                out[key] = m[key]
        out["timeZone"] = m.get("timeZone", "UTC")
        if m.get("dataOwner"):
            out["dataOwner"] = m["dataOwner"]
        out["conferenceProperties"] = m.get("conferenceProperties",
                                            {"allowedConferenceSolutionTypes": ["hangoutsMeet"]})
        return out

    def _entry_resource(self, cal, entry):
        """calendarList entry representation (calendar fields + the user's own fields)."""
        f, m = entry.fields, cal.meta
        out = {"kind": "calendar#calendarListEntry", "etag": entry.etag, "id": cal.id,
               "summary": m["summary"]}
        for key in ("description", "location"):
            if m.get(key):
                out[key] = m[key]
        out["timeZone"] = m.get("timeZone", "UTC")
        if f.get("summaryOverride"):
            out["summaryOverride"] = f["summaryOverride"]
        out["colorId"] = f.get("colorId", "14")
        out["backgroundColor"] = f.get("backgroundColor", "#9fe1e7")
        out["foregroundColor"] = f.get("foregroundColor", "#000000")
        for flag in ("hidden", "selected"):
            if f.get(flag):
                out[flag] = True
        out["accessRole"] = f["accessRole"]
        out["defaultReminders"] = f.get("defaultReminders", [])
        if f.get("notificationSettings"):
            out["notificationSettings"] = f["notificationSettings"]
        for flag in ("primary", "deleted"):
            if f.get(flag):
                out[flag] = True
        out["conferenceProperties"] = m.get("conferenceProperties",
                                            {"allowedConferenceSolutionTypes": ["hangoutsMeet"]})
        if m.get("dataOwner"):
            out["dataOwner"] = m["dataOwner"]
        return out

    ENTRY_FIELDS = ("accessRole", "primary", "summaryOverride", "colorId", "backgroundColor",
                    "foregroundColor", "hidden", "selected", "deleted", "defaultReminders",
                    "notificationSettings")

    def put_entry(self, uid, cal_id, fields, notify=True):
        """Create or patch a user's calendar-list entry (a visible change: new seq)."""
        if not isinstance(fields, dict):
            raise ControlError(400, "entry fields must be a JSON object")
        unknown = set(fields) - set(self.ENTRY_FIELDS)
        if unknown:
            raise ControlError(400, "unknown entry fields: %s" % ", ".join(sorted(unknown)))
        role = fields.get("accessRole")
        if role is not None and role not in ROLE_RANK:
            raise ControlError(400, "accessRole must be one of %s" % ", ".join(ROLE_RANK))
        with self.lock:
            user, cal = self._user(uid), self._calendar(cal_id)
            entry = user.entries.get(cal_id)
            if entry is None:
                entry = Entry(cal_id)
                primary = bool(fields.get("primary"))
                entry.fields = {"accessRole": "owner" if primary else "reader"}
                if primary:
                    entry.fields["defaultReminders"] = [{"method": "popup", "minutes": 10}]
                    entry.fields["notificationSettings"] = {"notifications": [
                        {"type": "eventCreation", "method": "email"},
                        {"type": "eventChange", "method": "email"},
                        {"type": "eventCancellation", "method": "email"},
                        {"type": "eventResponse", "method": "email"}]}
                user.entries[cal_id] = entry
                cal.members.add(uid)
            for key, value in fields.items():
                if value is None:
                    entry.fields.pop(key, None)
                else:
                    entry.fields[key] = value
            if entry.fields.get("primary"):
                for other in user.entries.values():
                    if other is not entry and other.fields.get("primary"):
                        other.fields.pop("primary")
                        self._bump_entry(user, other)
            self._bump_entry(user, entry)
            if notify:
                self._notify_list(uid)
            return self._entry_resource(cal, entry)

    def _bump_entry(self, user, entry):
        """Record a visible change of an entry: new seq and etag, moved to the end, re-render."""
        entry.seq = self._next_seq()
        entry.etag = self._etag(entry.seq)
        entry.data = dumps(self._entry_resource(self.calendars[entry.calendar_id], entry))
        user.entries.move_to_end(entry.calendar_id)
        user.mutation += 1

    def delete_entry(self, uid, cal_id):
        """Remove a calendar from a user's list: the entry becomes deleted, access is lost."""
        return self.put_entry(uid, cal_id, {"deleted": True})

    def patch_calendar(self, cal_id, spec):
        """Change calendar metadata (PATCH /_emulator/calendars/{id})."""
        with self.lock:
            self._calendar(cal_id)
            spec = dict(spec, id=cal_id)
            return self.put_calendar(spec)[1]

    def delete_calendar(self, cal_id):
        """Delete a calendar: every entry is deleted, events channels hear not_exists."""
        with self.lock:
            cal = self._calendar(cal_id)
            cal.deleted = True
            cal.mutation += 1
            for uid in sorted(cal.members):
                entry = self.users[uid].entries[cal_id]
                entry.fields["deleted"] = True
                self._bump_entry(self.users[uid], entry)
                self._notify_list(uid)
            self._notify_events(cal_id, "not_exists")

    def calendar_view(self, cal_id):
        """Control view of a calendar."""
        with self.lock:
            cal = self._calendar(cal_id)
            return {"calendar": self._calendar_resource(cal), "watchable": cal.watchable,
                    "reportDeletions": cal.report_deletions, "deleted": cal.deleted,
                    "members": {uid: self._entry_resource(cal, self.users[uid].entries[cal.id])
                                for uid in sorted(cal.members)},
                    "events": len(cal.events)}

    def list_calendars(self):
        with self.lock:
            return [self.calendar_view(cid) for cid in self.calendars]

    def _calendar(self, cal_id):
        cal = self.calendars.get(cal_id)
        if cal is None:
            raise ControlError(404, "no calendar %r" % cal_id)
        return cal

    # ---- events ----

    def insert_events(self, cal_id, events, notify=True):
        """Insert (or replace, when the id exists) events; one notification per call."""
        if not isinstance(events, list):
            raise ControlError(400, "events must be a list")
        for ev in events:
            validate_event(ev)
        with self.lock:
            cal = self._calendar(cal_id)
            out = []
            for ev in events:
                ev = dict(ev)
                options = ev.pop("_emulator", None) or {}
                if not ev.get("id") and ev.get("recurringEventId"):
                    ev["id"] = instance_id(ev["recurringEventId"], ev["originalStartTime"])
                old = cal.events.get(ev.get("id")) if ev.get("id") else None
                out.append(self._store_event(cal, ev, old, explicit=set(ev), options=options))
            self._rerender_orphans(cal)
            if notify and out:
                self._notify_events(cal_id)
            return [r.resource for r in out]

    def replace_event(self, cal_id, event_id, ev, merge=False):
        """PUT (replace) or PATCH (merge top-level keys) one event."""
        if not isinstance(ev, dict):
            raise ControlError(400, "an event must be a JSON object")
        with self.lock:
            cal = self._calendar(cal_id)
            old = cal.events.get(event_id)
            if old is None and merge:
                raise ControlError(404, "no event %r in %r" % (event_id, cal_id))
            ev = dict(ev)
            options = ev.pop("_emulator", None) or {}
            explicit = set(ev)
            if merge:
                ev = dict(old.resource, **ev)
            validate_event(ev)
            ev["id"] = event_id
            rec = self._store_event(cal, ev, old, explicit=explicit, options=options)
            self._rerender_exceptions(cal, rec)
            self._notify_events(cal_id)
            return rec.resource

    def delete_event(self, cal_id, event_id, silent=False):
        """Delete an event like Google: it becomes a cancelled stub (a deleted master takes
        its exceptions with it). silent=True (or a calendar with reportDeletions=false) makes
        it vanish without any incremental change: only a full listing reveals it."""
        with self.lock:
            cal = self._calendar(cal_id)
            rec = cal.events.get(event_id)
            if rec is None:
                raise ControlError(404, "no event %r in %r" % (event_id, cal_id))
            family = [rec] + [r for r in cal.events.values() if r.master_id == event_id]
            if silent or not cal.report_deletions:
                for r in family:
                    del cal.events[r.id]
                cal.mutation += 1
                return {"deleted": [r.id for r in family], "silent": True}
            if rec.state == DELETED:
                return {"deleted": [], "silent": False}
            changed = []
            for r in family:    # the master first: its exceptions then render as deletions
                if r is rec or r.state != DELETED:
                    self._store_event(cal, dict(r.resource, status="cancelled"), r,
                                      explicit=set(), options=None)
                    changed.append(r.id)
            self._notify_events(cal_id)
            return {"deleted": changed, "silent": False}

    def cancel_instance(self, cal_id, master_id, original_start):
        """Cancel one occurrence of a recurring event: a cancelled exception stub."""
        if not isinstance(original_start, dict):
            raise ControlError(400, "originalStartTime is required")
        with self.lock:
            cal = self._calendar(cal_id)
            master = cal.events.get(master_id)
            if master is None:
                raise ControlError(404, "no event %r in %r" % (master_id, cal_id))
            ex_id = instance_id(master_id, original_start)
            old = cal.events.get(ex_id)
            base = dict(old.resource) if old else {"id": ex_id, "recurringEventId": master_id,
                                                   "originalStartTime": original_start}
            base["status"] = "cancelled"
            rec = self._store_event(cal, base, old, explicit=set(), options=None)
            self._notify_events(cal_id)
            return rec.resource

    def event_views(self, cal_id, event_id=None):
        """Control view: stored resource (details kept even when cancelled) and API rendering."""
        with self.lock:
            cal = self._calendar(cal_id)
            if event_id is not None:
                rec = cal.events.get(event_id)
                if rec is None:
                    raise ControlError(404, "no event %r in %r" % (event_id, cal_id))
                recs = [rec]
            else:
                recs = list(cal.events.values())
            views = [{"event": r.resource, "api": json.loads(r.data), "seq": r.seq,
                      "state": r.state, "hiddenInvitation": r.hidden_invitation} for r in recs]
            return views[0] if event_id is not None else views

    def _store_event(self, cal, ev, old, explicit, options):
        """Complete an event like Google (ids, etag, timestamps…), store it as a change."""
        seq = self._next_seq()
        now = rfc3339(self.now())
        full = self._complete_event(cal, ev, old, explicit, seq, now)
        rec = old if old is not None else EventRec(full["id"])
        rec.resource, rec.seq, rec.master_id = full, seq, full.get("recurringEventId")
        if options is not None and "hiddenInvitation" in options:
            rec.hidden_invitation = bool(options["hiddenInvitation"])
        self._render_event(cal, rec)
        cal.events[rec.id] = rec
        cal.events.move_to_end(rec.id)
        cal.mutation += 1
        if cal.updated is None or full["updated"] > cal.updated:
            cal.updated = full["updated"]
        return rec

    def _complete_event(self, cal, ev, old, explicit, seq, now):
        """Fill what Google assigns: id, etag, created/updated, iCalUID, sequence, htmlLink…"""
        prev = old.resource if old is not None else {}
        ev["id"] = ev.get("id") or new_event_id(self._rng())
        ev["kind"] = "calendar#event"
        ev["etag"] = self._etag(seq)
        ev.setdefault("status", "confirmed")
        ev["created"] = ev.get("created") or prev.get("created") or now
        if "updated" not in explicit or not ev.get("updated"):
            ev["updated"] = now
        master = cal.events.get(ev.get("recurringEventId") or "")
        if "iCalUID" not in explicit:
            ev["iCalUID"] = (prev.get("iCalUID") or (master.resource.get("iCalUID") if master else None)
                             or ev["id"] + "@google.com")
        if "sequence" not in explicit:
            moved = any(prev.get(k) != ev.get(k) for k in ("start", "end", "recurrence"))
            ev["sequence"] = prev.get("sequence", 0) + (1 if old is not None and moved else 0)
        if "htmlLink" not in explicit:
            eid = base64.urlsafe_b64encode(("%s %s" % (ev["id"], cal.id)).encode()).decode().rstrip("=")
            ev["htmlLink"] = "https://www.google.com/calendar/event?eid=" + eid
        if ev["status"] != "cancelled" or not ev.get("recurringEventId"):
            owner = cal.meta.get("dataOwner") or cal.id
            ev.setdefault("creator", {"email": owner})
            ev.setdefault("organizer", {"email": cal.id, "displayName": cal.meta.get("summary")}
                          if cal.id != owner else {"email": owner, "self": True})
            ev.setdefault("reminders", {"useDefault": True})
            ev.setdefault("eventType", "default")
        return ordered_event(ev)

    def _render_event(self, cal, rec):
        """Serialise what events.list shows: full event, or the stub Google guarantees."""
        r = rec.resource
        if r.get("status") != "cancelled":
            rec.state, body = LIVE, r
        else:
            master = cal.events.get(rec.master_id) if rec.master_id else None
            if master is not None and master.state == LIVE and r.get("originalStartTime"):
                rec.state = EXCEPTION_CANCELLED
                body = {"kind": r["kind"], "etag": r["etag"], "id": r["id"], "status": "cancelled",
                        "recurringEventId": r["recurringEventId"],
                        "originalStartTime": r["originalStartTime"]}
            else:
                rec.state = DELETED
                body = {"kind": r["kind"], "etag": r["etag"], "id": r["id"], "status": "cancelled"}
        rec.data = dumps(body)

    def _rerender_exceptions(self, cal, master):
        """A master's state decides how its cancelled exceptions render: when that changes
        (master deleted or restored) the exception changes too, as a visible change."""
        for r in list(cal.events.values()):
            if r.master_id == master.id and r.resource.get("status") == "cancelled":
                before = r.data
                self._render_event(cal, r)
                if r.data != before:
                    self._store_event(cal, dict(r.resource), r, explicit=set(), options=None)

    def _rerender_orphans(self, cal):
        """After a batch insert, exceptions stored before their master render correctly."""
        for r in cal.events.values():
            if r.master_id and r.state == DELETED and r.master_id in cal.events:
                self._render_event(cal, r)

    # ---- sync tokens ----

    def _make_sync_token(self, uid, resource, seq):
        return b64("v1\x1f%s\x1f%s\x1f%s\x1f%d" % (self.instance, uid, resource, seq))

    def _check_sync_token(self, token, uid, resource):
        """Seq of a valid sync token; 410 for stale, invalidated or foreign tokens, 400 for garbage."""
        try:
            version, instance, t_uid, t_res, seq = unb64(token).split("\x1f")
            seq = int(seq)
        except (ValueError, UnicodeError):
            # Not a token at all: Google refuses the parameter (a stale or
            # foreign token, below, is a 410).
            raise ApiError(400, E.INVALID_SYNC_TOKEN)
        if (version, instance, t_uid, t_res) != ("v1", self.instance, uid, resource) or seq > self.seq:
            raise ApiError(410, E.FULL_SYNC_REQUIRED)
        for rule in self.invalidations:
            if (seq < rule["seq"] and rule["user"] in (None, uid)
                    and rule["resource"] in (None, resource)):
                raise ApiError(410, E.GONE_NO_REASON if rule["variant"] == "noReason"
                               else E.FULL_SYNC_REQUIRED)
        return seq

    def invalidate_sync_tokens(self, user=None, calendar=None, resource=None,
                               variant="fullSyncRequired"):
        """Make sync tokens issued so far 410 (for a user and/or resource, or all)."""
        if variant not in ("fullSyncRequired", "noReason"):
            raise ControlError(400, "variant is fullSyncRequired or noReason")
        with self.lock:
            rule = {"user": user, "resource": resource or calendar, "variant": variant,
                    "seq": self._next_seq()}
            self.invalidations.append(rule)
            self.generation += 1
            return rule

    # ---- snapshots and page tokens ----

    def _remember_snapshot(self, key, resource, filter_key, items, updated):
        """Cache a new snapshot (bounded by total item references, least recently used out)."""
        snap = Snapshot()
        self.snapshot_counter += 1
        if self.portable_pages:
            # Named by what it holds (the key: resource, its mutation counter, parameters,
            # since), so any process with the same state can build it again (--workers).
            snap.id = "%s.%s.%s" % (self.instance, hashlib.sha1(repr(key).encode()).hexdigest()[:20],
                                    "-" if key[-1] is None else key[-1])
        else:
            snap.id = "%s.%d" % (self.instance, self.snapshot_counter)
        snap.resource, snap.filter_key, snap.items = resource, filter_key, items
        snap.seq, snap.updated = self.seq, updated
        self.snapshots[key] = snap
        self.snapshot_ids[snap.id] = key
        self.snapshot_items += len(items)
        while self.snapshot_items > self.SNAPSHOT_ITEM_LIMIT and len(self.snapshots) > 1:
            _, old = self.snapshots.popitem(last=False)
            del self.snapshot_ids[old.id]
            self.snapshot_items -= len(old.items)
        return snap

    def _cached_snapshot(self, key):
        snap = self.snapshots.get(key)
        if snap is not None:
            self.snapshots.move_to_end(key)
        return snap

    def _page_position(self, token, resource, filter_key, rebuild=None):
        """(snapshot, offset, page index, since) of a page token; 400 if foreign, unknown or expired.

        `since` is the sync token's seq the listing started from (None: a full listing).
        With portable pages (--workers), a snapshot this process does not hold is built
        again by `rebuild(since)` when the data are still those it was taken from.
        """
        try:
            snap_id, offset, index, issued = unb64(token).rsplit(":", 3)
            key = self.snapshot_ids.get(snap_id)
            if key is None and self.portable_pages and rebuild is not None:
                since = snap_id.rsplit(".", 1)[1]
                snap = rebuild(None if since == "-" else int(since))
                key = self.snapshot_ids[snap.id] if snap.id == snap_id else None
            snap = self.snapshots[key]
            offset, index, issued = int(offset), int(index), float(issued)
        except (ValueError, KeyError, UnicodeError):
            raise E.invalid_parameter("pageToken", "Invalid page token value.")
        lifetime = self.settings["page_token_lifetime"]
        if lifetime is not None and time.time() - issued > lifetime:
            raise E.invalid_parameter("pageToken", "Invalid page token value.")
        if snap.resource != resource or snap.filter_key != filter_key or not 0 <= offset <= len(snap.items):
            raise E.invalid_parameter("pageToken", "Invalid page token value: it belongs to "
                                                   "another query.")
        self.snapshots.move_to_end(key)
        return snap, offset, index, key[-1]

    def _page_bounds(self, p, snap, offset, index, origin=None):
        """Items of this page and the next page token (None on the last page).

        The page_pattern setting makes pages shorter (even empty) while more remain, which
        Google allows and clients must handle.
        """
        size = p.max_results
        pattern = self.settings["page_pattern"]
        if pattern:
            cap = pattern[index % len(pattern)]
            size = size if cap < 0 else min(size, cap)
        end = min(offset + size, len(snap.items))
        if end >= len(snap.items) and (size > 0 or offset >= len(snap.items)):
            return end, None
        # The token names the listing's first snapshot (its sync token and
        # query), whatever snapshot this page came from.
        return end, b64("%s:%d:%d:%.3f" % ((origin or snap).id, end, index + 1, time.time()))

    # ---- API: calendarList.list ----

    def calendar_list(self, uid, query):
        """GET /users/me/calendarList → (page bytes, cache key)."""
        p = parse_list_params(query)
        with self.lock:
            user = self.users[uid]
            if p.page_token:
                snap, offset, index, since = self._page_position(
                    p.page_token, (CALENDAR_LIST, uid), p.filter_key,
                    lambda since: self._list_snapshot(user, p, since))
            else:
                since = self._check_sync_token(p.sync_token, uid, CALENDAR_LIST) if p.sync_token else None
                snap, offset, index = self._list_snapshot(user, p, since), 0, 0
            page_snap = self._list_snapshot(user, p, since) if p.page_token and self.settings["live_paging"] else snap
            end, next_page = self._page_bounds(p, page_snap, offset, index, snap)
            env = {"kind": "calendar#calendarList",
                   "etag": '"p%s"' % hashlib.sha1(("%s:%d" % (snap.id, offset)).encode()).hexdigest()[:14]}
            if next_page:
                env["nextPageToken"] = next_page
            else:
                env["nextSyncToken"] = self._make_sync_token(uid, CALENDAR_LIST, snap.seq)
        return self._assemble(env, page_snap.items[offset:end]), end - offset

    def _list_snapshot(self, user, p, since):
        """Entries of a full listing (filtered) or of an incremental one (all changed)."""
        key = (CALENDAR_LIST, user.id, user.mutation, self.generation, self.settings["live_paging"],
               p.filter_key, since)
        snap = self._cached_snapshot(key)
        if snap is not None:
            return snap
        if since is None:
            rank = ROLE_RANK.get(p.min_role, 0)
            entries = [e for e in user.entries.values()
                       if (p.show_deleted or not e.fields.get("deleted"))
                       and (p.show_hidden or not e.fields.get("hidden"))
                       and ROLE_RANK[e.fields["accessRole"]] >= rank]
        else:
            entries = []
            for e in reversed(user.entries.values()):
                if e.seq <= since:
                    break
                entries.append(e)
            entries.reverse()
        if self.settings["live_paging"]:
            entries.sort(key=lambda e: e.born)
        items = [e.data for e in entries]
        return self._remember_snapshot(key, (CALENDAR_LIST, user.id), p.filter_key, items, None)

    # ---- API: calendars.get ----

    def _accessible(self, user, cal_ref):
        """(calendar, entry) the user may read; 'primary' resolves; 404 otherwise."""
        cal_id = cal_ref
        if cal_ref == "primary":
            cal_id = next((cid for cid, e in user.entries.items() if e.fields.get("primary")), None)
        entry = user.entries.get(cal_id) if cal_id else None
        cal = self.calendars.get(cal_id) if cal_id else None
        if entry is None or cal is None or cal.deleted or entry.fields.get("deleted"):
            raise E.not_found()
        return cal, entry

    def calendar_get(self, uid, cal_ref):
        """GET /calendars/{id} → bytes."""
        with self.lock:
            cal, _ = self._accessible(self.users[uid], cal_ref)
            return cal.data

    # ---- API: events.get, insert, patch, delete (writes) ----

    def _writable(self, uid, cal_ref, query):
        """(user, calendar) for a write: sendUpdates valid, a token with the write scope,
        writer access to the calendar; Google's errors otherwise."""
        send = query.get("sendUpdates")
        if send is not None and (len(send) != 1 or send[0] not in SEND_UPDATES):
            raise E.invalid_parameter("sendUpdates", "Invalid value for: %s is not a valid value"
                                      % (send[0] if send else ""))
        user = self.users[uid]
        cal, entry = self._accessible(user, cal_ref)
        if user.read_only:
            raise ApiError(403, E.INSUFFICIENT_PERMISSIONS)
        if ROLE_RANK.get(entry.fields.get("accessRole"), 0) < ROLE_RANK["writer"]:
            raise ApiError(403, E.google_error(403, "requiredAccessLevel",
                                               "You need to have writer access to this calendar."))
        return user, cal

    @staticmethod
    def _if_match(rec, if_match):
        """412 when If-Match names another etag than the event's."""
        if if_match is not None and if_match.strip() != "*" and if_match.strip() != rec.resource.get("etag"):
            raise ApiError(412, E.google_error(412, "conditionNotMet", "Precondition Failed",
                                               location="If-Match", location_type="header"))

    def event_get(self, uid, cal_ref, event_id):
        """GET /calendars/{id}/events/{eventId} → bytes (a deleted event too, as Google)."""
        with self.lock:
            cal, _ = self._accessible(self.users[uid], cal_ref)
            rec = cal.events.get(event_id)
            if rec is None:
                raise E.not_found()
            return dumps(rec.resource)

    def event_insert(self, uid, cal_ref, query, body):
        """POST /calendars/{id}/events → bytes: client ids checked, 409 for one that exists."""
        if not isinstance(body, dict):
            raise E.bad_request("Parse Error", reason="parseError")
        with self.lock:
            _, cal = self._writable(uid, cal_ref, query)
            ev = {k: v for k, v in body.items() if v is not None}
            for k in ("etag", "kind", "created", "updated", "htmlLink", "iCalUID", "sequence"):
                ev.pop(k, None)
            eid = ev.get("id")
            if eid is not None:
                if not isinstance(eid, str) or not re.fullmatch("[a-v0-9]{5,1024}", eid or "x"):
                    raise E.bad_request("Invalid resource id value.", reason="invalid")
                if eid in cal.events:
                    raise ApiError(409, E.google_error(409, "duplicate", "The requested identifier already exists."))
            if "start" not in ev:
                raise E.bad_request("Missing start time.", reason="required")
            if "end" not in ev:
                raise E.bad_request("Missing end time.", reason="required")
            try:
                validate_event(ev)
            except ControlError as err:
                raise E.bad_request(err.message, reason="invalid")
            rec = self._store_event(cal, ev, None, explicit=set(ev) - {"id"}, options=None)
            self._notify_events(cal.id)
            return dumps(rec.resource)

    def event_patch(self, uid, cal_ref, event_id, query, body, if_match):
        """PATCH /calendars/{id}/events/{eventId} → bytes: patch semantics (members given
        replace, null removes), If-Match → 412, an attendee may only answer for itself."""
        if not isinstance(body, dict):
            raise E.bad_request("Parse Error", reason="parseError")
        with self.lock:
            user, cal = self._writable(uid, cal_ref, query)
            rec = cal.events.get(event_id)
            if rec is None or rec.state == DELETED:
                raise E.not_found() if rec is None else ApiError(410, E.google_error(410, "deleted", "Resource has been deleted"))
            self._if_match(rec, if_match)
            old = rec.resource
            if "id" in body and body["id"] != event_id:
                raise E.bad_request("Invalid resource id value.", reason="invalid")
            organizer = (old.get("organizer") or {}).get("email")
            if organizer not in (cal.id, user.email):
                # Not the organizer's copy: only the own attendee entry's answer may change.
                own = lambda a: a.get("self") or a.get("email") in (cal.id, user.email)
                before = [a for a in old.get("attendees") or [] if not own(a)]
                after = [a for a in body.get("attendees") or [] if not own(a)]
                if set(body) - {"attendees"} or before != after:
                    raise ApiError(403, E.google_error(403, "forbiddenForNonOrganizer",
                                                       "Shared properties can only be changed by the organizer of the event."))
            ev = dict(old)
            for k, v in body.items():
                if v is None:
                    ev.pop(k, None)
                else:
                    ev[k] = v
            try:
                validate_event(ev)
            except ControlError as err:
                raise E.bad_request(err.message, reason="invalid")
            rec = self._store_event(cal, ev, rec, explicit=set(body) - {"id"}, options=None)
            self._rerender_exceptions(cal, rec)
            self._notify_events(cal.id)
            return dumps(rec.resource)

    def event_delete(self, uid, cal_ref, event_id, query, if_match):
        """DELETE /calendars/{id}/events/{eventId}: If-Match → 412, 410 when already deleted."""
        with self.lock:
            _, cal = self._writable(uid, cal_ref, query)
            rec = cal.events.get(event_id)
            if rec is None:
                raise E.not_found()
            if rec.state == DELETED:
                raise ApiError(410, E.google_error(410, "deleted", "Resource has been deleted"))
            self._if_match(rec, if_match)
        self.delete_event(cal.id, event_id)

    # ---- API: events.list ----

    def events_list(self, uid, cal_ref, query):
        """GET /calendars/{id}/events → (page bytes, item count, cache key of the page)."""
        p = parse_events_params(query)
        with self.lock:
            cal, entry = self._accessible(self.users[uid], cal_ref)
            if p.page_token:
                snap, offset, index, since = self._page_position(
                    p.page_token, ("events", cal.id), p.filter_key,
                    lambda since: self._events_snapshot(cal, p, since))
            else:
                since = self._check_sync_token(p.sync_token, uid, cal.id) if p.sync_token else None
                snap, offset, index = self._events_snapshot(cal, p, since), 0, 0
            # Live paging: this page comes from the data as it is now (items
            # may shift between pages, as at Google), while the listing's
            # sync token stays that of its first page, so a change made
            # while paging is in the next incremental listing.
            page_snap = self._events_snapshot(cal, p, since) if p.page_token and self.settings["live_paging"] else snap
            end, next_page = self._page_bounds(p, page_snap, offset, index, snap)
            token_seq = snap.seq
            if self.settings["fresh_sync_tokens"] and not next_page:
                # A token at the current change counter: right as long as this
                # calendar did not change after the snapshot was taken.
                latest = next(reversed(cal.events.values())).seq if cal.events else 0
                if latest <= snap.seq:
                    token_seq = self.seq
            cache_key = ("events", page_snap.id, uid, entry.etag, cal.meta_version, offset, end,
                         next_page, token_seq)
            page = self.page_cache.get(cache_key)
            if page is not None:
                return page, end - offset, cache_key
            env = {"kind": "calendar#events",
                   "etag": '"p%s"' % hashlib.sha1(("%s:%d" % (snap.id, offset)).encode()).hexdigest()[:14],
                   "summary": cal.meta["summary"]}
            if cal.meta.get("description"):
                env["description"] = cal.meta["description"]
            env["updated"] = snap.updated or rfc3339(0)
            env["timeZone"] = cal.meta.get("timeZone", "UTC")
            env["accessRole"] = entry.fields["accessRole"]
            env["defaultReminders"] = entry.fields.get("defaultReminders", [])
            if next_page:
                env["nextPageToken"] = next_page
            else:
                env["nextSyncToken"] = self._make_sync_token(uid, cal.id, token_seq)
        page = self._assemble(env, page_snap.items[offset:end])
        self.page_cache.put(cache_key, page)
        return page, end - offset, cache_key

    def _events_snapshot(self, cal, p, since):
        """Event items of a full listing (Google's filters) or of an incremental one."""
        key = ("events", cal.id, cal.mutation, self.generation, self.settings["live_paging"],
               p.filter_key, since)
        snap = self._cached_snapshot(key)
        if snap is not None:
            return snap
        if since is None and p.single_events:
            return self._remember_snapshot(key, ("events", cal.id), p.filter_key,
                                           self._instance_items(cal, p), cal.updated)
        if since is None:
            recs = self._full_selection(cal, p)
        else:
            recs = []
            for r in reversed(cal.events.values()):
                if r.seq <= since:
                    break
                if (p.show_hidden or not r.hidden_invitation) and (
                        not p.event_types or r.resource.get("eventType", "default") in p.event_types):
                    recs.append(r)
            recs.reverse()
        if self.settings["live_paging"] and not (since is None and p.order_by == "updated"):
            recs.sort(key=lambda r: r.born)
        return self._remember_snapshot(key, ("events", cal.id), p.filter_key,
                                       [r.data for r in recs], cal.updated)

    def _full_selection(self, cal, p):
        """Records of a full listing: showDeleted, hidden invitations, filters, orderBy."""
        filtered = bool(p.ical_uid or p.text or p.event_types or p.private_props or
                        p.shared_props or p.time_min or p.time_max or p.updated_min)
        deleted_ok = bool(p.show_deleted) or p.updated_min is not None
        recs = []
        for r in cal.events.values():
            if r.hidden_invitation and not p.show_hidden:
                continue
            if r.state == DELETED and not deleted_ok:
                continue
            if filtered and not event_matches(r, p):
                continue
            recs.append(r)
        if p.order_by == "updated":
            recs.sort(key=lambda r: r.resource.get("updated", ""))
        return recs

    # ---- singleEvents=true (issue 14): the instances, from the test oracle ----

    def _instance_items(self, cal, p):
        """Item bytes of events.list(singleEvents=true): the stored events as clients see
        them (stubs for deletions), expanded by gcal_oracle, in its order (start, id) —
        which is also orderBy=startTime; orderBy=updated sorts them by `updated`."""
        import gcal_oracle  # python3-dateutil: only this call needs it
        sources = []
        for r in cal.events.values():
            if r.hidden_invitation and not p.show_hidden:
                continue
            if r.state == LIVE and not event_matches(r, p, with_time=False):
                continue
            sources.append(json.loads(r.data))
        try:
            found = gcal_oracle.expand_calendar(cal.id, sources, p.time_min, p.time_max,
                                                bool(p.show_deleted), cal.meta.get("timeZone", "UTC"))
        except gcal_oracle.OracleError as err:
            raise E.invalid_parameter("singleEvents", "The gcalsync emulator cannot expand this "
                                      "calendar: %s." % err, reason="unsupported")
        resources = [ordered_event(i.resource) for i in found]
        if p.order_by == "updated":
            resources.sort(key=lambda r: r.get("updated", ""))
        return [dumps(r) for r in resources]

    def events_instances(self, uid, cal_ref, event_id, query):
        """GET /calendars/{id}/events/{eventId}/instances → (page bytes, item count): the
        instances of one recurring event (timeMin, timeMax, showDeleted, maxResults,
        pageToken; no snapshot: a page token is the offset into the same query)."""
        import gcal_oracle
        max_results = parse_max_results(query, 250, 2500)
        show_deleted = bool(parse_bool(query, "showDeleted"))
        tmin, tmax = parse_time_param(query, "timeMin"), parse_time_param(query, "timeMax")
        token = one(query, "pageToken")
        with self.lock:
            cal, entry = self._accessible(self.users[uid], cal_ref)
            rec = cal.events.get(event_id)
            if rec is None or rec.state != LIVE or not rec.resource.get("recurrence"):
                raise E.not_found()
            sources = [json.loads(r.data) for r in cal.events.values()
                       if r.id == event_id or r.master_id == event_id]
            zone = cal.meta.get("timeZone", "UTC")
            envelope = {"kind": "calendar#events", "etag": '"%s"' % rec.resource["etag"].strip('"'),
                        "summary": cal.meta["summary"], "updated": rec.resource["updated"],
                        "timeZone": zone, "accessRole": entry.fields["accessRole"],
                        "defaultReminders": entry.fields.get("defaultReminders", [])}
        try:
            found = gcal_oracle.expand_calendar(cal.id, sources, tmin, tmax, show_deleted, zone)
        except gcal_oracle.OracleError as err:
            raise E.invalid_parameter("timeMax", "The gcalsync emulator cannot expand this "
                                      "event: %s." % err, reason="unsupported")
        found = [i for i in found if i.resource.get("recurringEventId") == event_id]
        try:
            offset = int(unb64(token)) if token else 0
        except ValueError:
            raise E.invalid_parameter("pageToken", "Invalid page token.")
        end = offset + max_results
        if end < len(found):
            envelope["nextPageToken"] = b64(str(end))
        items = [dumps(ordered_event(i.resource)) for i in found[offset:end]]
        return self._assemble(envelope, items), len(items)

    # ---- freebusy.query (issue 15): busy ranges, from the test oracle ----

    def freebusy(self, uid, body):
        """POST /freeBusy → bytes: merged busy ranges of each requested calendar the user can
        read, by gcal_busy's rules; {"errors": [notFound]} for the others, as Google does."""
        import gcal_busy
        if not isinstance(body, dict):
            raise E.bad_request("Parse Error", reason="parseError")
        bounds = {}
        for name in ("timeMin", "timeMax"):
            value = body.get(name)
            if value is None:
                raise E.bad_request("Missing %s." % name, reason="required")
            try:
                dt = datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                dt = None
            if dt is None or dt.tzinfo is None:
                raise E.bad_request("Bad Request", reason="invalid")
            bounds[name] = dt
        tmin, tmax = bounds["timeMin"], bounds["timeMax"]
        if tmax <= tmin:
            raise E.bad_request("The specified time range is empty.", reason="timeRangeEmpty")
        items = body.get("items") or []
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str)
                                                  for i in items):
            raise E.bad_request("Bad Request", reason="invalid")
        if len(items) > 50:
            raise E.bad_request("Too many calendars requested.", reason="tooManyCalendarsRequested")
        out_zone = gcal_oracle_zone(body.get("timeZone"))
        answer = {}
        with self.lock:
            user = self.users[uid]
            sources = {}
            for item in items:
                try:
                    cal, _ = self._accessible(user, item["id"])
                except ApiError:
                    sources[item["id"]] = None
                    continue
                sources[item["id"]] = (cal.id, [json.loads(r.data) for r in cal.events.values()
                                                if not r.hidden_invitation],
                                       cal.meta.get("timeZone", "UTC"))
        for ref, src in sources.items():
            if src is None:
                answer[ref] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            busy = gcal_busy.busy_ranges([src], tmin, tmax)
            answer[ref] = {"busy": [{"start": s.astimezone(out_zone).isoformat().replace("+00:00", "Z"),
                                     "end": e.astimezone(out_zone).isoformat().replace("+00:00", "Z")}
                                    for s, e in busy]}
        return dumps({"kind": "calendar#freeBusy",
                      "timeMin": tmin.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                      "timeMax": tmax.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                      "calendars": answer})

    @staticmethod
    def _assemble(envelope, items):
        """Envelope JSON with the pre-rendered item bytes joined in as "items" (last key)."""
        head = dumps(envelope)
        return b"".join((head[:-1], b',"items":[', b",".join(items), b"]}"))

    # ---- API: watch and stop ----

    def watch(self, uid, kind, cal_ref, body):
        """events.watch / calendarList.watch: open a channel, queue its `sync` message."""
        self._validate_channel_request(body)
        with self.lock:
            user = self.users[uid]
            if kind == "events":
                cal, _ = self._accessible(user, cal_ref)
                if not cal.watchable:
                    raise ApiError(400, E.PUSH_NOT_SUPPORTED)
                key = cal.id
                uri = "%s/calendars/%s/events?alt=json" % (self.api_base, quote(cal_ref, safe="@"))
            else:
                key = uid
                uri = "%s/users/me/calendarList?alt=json" % self.api_base
            if body["id"] in self.channels:
                raise ApiError(400, E.google_error(400, "channelIdNotUnique",
                                                   "Channel id %s not unique" % body["id"]))
            ch = self._new_channel(uid, kind, key, uri, body)
            self.channels[ch.id] = ch
            self.channels_by_target.setdefault((kind, key), set()).add(ch.id)
            self._queue_push(ch, "sync")
            return dumps(ch.resource())

    def _validate_channel_request(self, body):
        """Google's checks of a watch request body (id, type, address, token)."""
        if not isinstance(body, dict):
            raise E.bad_request("Parse Error", reason="parseError")
        cid = body.get("id")
        if not isinstance(cid, str) or not cid:
            raise E.invalid_parameter("id", "Required", reason="required")
        if len(cid) > 64 or not re.fullmatch(r"[A-Za-z0-9\-_+/=]+", cid):
            raise E.invalid_parameter("id", "Invalid channel id %s" % cid)
        if body.get("type") not in ("web_hook", "webhook"):
            raise E.invalid_parameter("type", "Invalid value for: %s is not a valid value"
                                      % body.get("type"))
        address = body.get("address")
        if not isinstance(address, str) or not re.match(r"https?://", address):
            raise E.invalid_parameter("address", "Invalid value for: address", reason="required")
        if self.settings["require_https"] and not address.startswith("https://"):
            raise E.bad_request("WebHook callback must be HTTPS: %s" % address,
                                reason="push.webhookUrlNotHttps")
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 256):
            raise E.invalid_parameter("token", "Channel token must be a string of at most 256 "
                                               "characters")

    def _new_channel(self, uid, kind, key, uri, body):
        """Channel record: expiration = min(requested, now + channel_lifetime)."""
        now_ms = int(self.now() * 1000)
        limit = now_ms + int(self.settings["channel_lifetime"] * 1000)
        requested = body.get("expiration")
        try:
            requested = int(requested) if requested is not None else None
        except (TypeError, ValueError):
            raise E.invalid_parameter("expiration", "Invalid value for: expiration")
        ch = Channel()
        ch.id, ch.kind, ch.key, ch.user = body["id"], kind, key, uid
        digest = hashlib.sha256(("%s|%s|%s|%s" % (self.instance, kind, key, uid)).encode()).digest()
        ch.resource_id = base64.urlsafe_b64encode(digest).decode()[:27]
        ch.resource_uri, ch.token, ch.address = uri, body.get("token"), body["address"]
        ch.expiration_ms = min(requested, limit) if requested and requested > now_ms else limit
        ch.state, ch.message_number, ch.created = "active", 0, now_ms
        return ch

    def stop_channel(self, body):
        """channels.stop: 404 unless id and resourceId name a known channel."""
        if not isinstance(body, dict) or not body.get("id"):
            raise E.invalid_parameter("id", "Required", reason="required")
        with self.lock:
            ch = self.channels.get(body["id"])
            if ch is None or body.get("resourceId") != ch.resource_id:
                raise ApiError(404, E.google_error(
                    404, "notFound", "Channel '%s' not found for project '000000000000'" % body["id"]))
            self._drop_channel(ch, "stopped")

    def _drop_channel(self, ch, state):
        ch.state = state
        self.channels.pop(ch.id, None)
        self.channels_by_target.get((ch.kind, ch.key), set()).discard(ch.id)

    def list_channels(self):
        """Control view of open channels (stopped ones are forgotten)."""
        with self.lock:
            return [ch.describe() for ch in self.channels.values()]

    def expire_channel(self, cid):
        """Make a channel expire now (it then delivers nothing)."""
        with self.lock:
            ch = self.channels.get(cid)
            if ch is None:
                raise ControlError(404, "no channel %r" % cid)
            ch.expiration_ms = int(self.now() * 1000) - 1
            return ch.describe()

    def notify_channel(self, cid, state="exists"):
        """Send one notification on a channel without any data change."""
        with self.lock:
            ch = self.channels.get(cid)
            if ch is None:
                raise ControlError(404, "no channel %r" % cid)
            queued = self._queue_push(ch, state)
            return {"queued": queued}

    def _notify_events(self, cal_id, state="exists"):
        """A calendar's events changed: tell every channel watching them."""
        for cid in sorted(self.channels_by_target.get(("events", cal_id), ())):
            self._queue_push(self.channels[cid], state)

    def _notify_list(self, uid):
        """A user's calendar list changed: tell that user's calendarList channels."""
        for cid in sorted(self.channels_by_target.get((CALENDAR_LIST, uid), ())):
            self._queue_push(self.channels[cid], "exists")

    def _queue_push(self, ch, state):
        """Queue one delivery (numbered now, so numbers follow change order)."""
        if self.push is None or not ch.active():
            return False
        ch.message_number += 1
        self.push.enqueue(ch, state, ch.message_number)
        return True
