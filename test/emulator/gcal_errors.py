"""Google's error bodies, exactly as documented, and the ApiError that carries them.

Every error the emulator answers with comes from here, so the wording and shape of
Google's documented bodies live in one place (see docs/google-calendar-api.md).
The fault presets reuse the same bodies so a test can inject "what Google sends".
"""

import json


def dumps(obj):
    """Compact UTF-8 JSON bytes (what the emulator puts on the wire)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ApiError(Exception):
    """An HTTP error answer: status, body (dict → JSON, or bytes) and extra headers."""

    def __init__(self, status, body, headers=None, content_type="application/json; charset=UTF-8"):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def body_bytes(self):
        """The body as bytes, serialising a dict when needed."""
        return self.body if isinstance(self.body, bytes) else dumps(self.body)


def google_error(code, reason, message, domain="global", location=None, location_type=None,
                 status=None):
    """The classic Google JSON error envelope: {"error":{"errors":[…],"code","message"}}."""
    item = {"domain": domain, "reason": reason, "message": message}
    if location_type is not None:
        item["locationType"] = location_type
    if location is not None:
        item["location"] = location
    body = {"error": {"errors": [item], "code": code, "message": message}}
    if status is not None:
        body["error"]["status"] = status
    return body


# --- OAuth token endpoint (form-encoded request, flat JSON error) -----------------------

def oauth_error(error, description):
    """The token endpoint's flat error body {"error","error_description"}."""
    return {"error": error, "error_description": description}


INVALID_GRANT_REVOKED = oauth_error("invalid_grant", "Token has been expired or revoked.")
INVALID_GRANT_MALFORMED = oauth_error("invalid_grant", "Bad Request")
INVALID_CLIENT_UNKNOWN = oauth_error("invalid_client", "The OAuth client was not found.")
INVALID_CLIENT_SECRET = oauth_error("invalid_client", "Unauthorized")


# --- Calendar API bodies from the reference ---------------------------------------------

AUTH_MESSAGE = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.")
LOGIN_REQUIRED_MESSAGE = ("Request is missing required authentication credential. Expected OAuth 2 "
                          "access token, login cookie or other valid authentication credential. See "
                          "https://developers.google.com/identity/sign-in/web/devconsole-project.")

# 401 for an expired, revoked or unknown access token (documented body, Google's key order).
UNAUTHENTICATED = {"error": {
    "code": 401, "message": AUTH_MESSAGE,
    "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                "location": "Authorization", "locationType": "header"}],
    "status": "UNAUTHENTICATED"}}
# 401 when no Authorization header is sent at all.
LOGIN_REQUIRED = {"error": {
    "code": 401, "message": LOGIN_REQUIRED_MESSAGE,
    "errors": [{"message": "Login Required.", "domain": "global", "reason": "required",
                "location": "Authorization", "locationType": "header"}],
    "status": "UNAUTHENTICATED"}}
# Google adds this header to 401s of the API.
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'}

SYNC_MESSAGE = "Sync token is no longer valid, a full sync is required."
FULL_SYNC_REQUIRED = {"error": {
    "errors": [{"domain": "calendar", "reason": "fullSyncRequired", "message": SYNC_MESSAGE,
                "locationType": "parameter", "location": "syncToken"}],
    "code": 410, "message": SYNC_MESSAGE}}
# The variant without a reason (seen in the wild: every 410 means "full sync required").
GONE_NO_REASON = {"error": {"code": 410, "message": "Gone"}}

NOT_FOUND = google_error(404, "notFound", "Not Found")
PUSH_NOT_SUPPORTED = google_error(400, "pushNotSupportedForRequestedResource",
                                  "Push notifications are not supported by this resource.")
RATE_LIMIT = google_error(403, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")
USER_RATE_LIMIT = google_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded",
                               domain="usageLimits")
RATE_LIMIT_429 = google_error(429, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")
# Documented key order differs here (message before reason); keep it verbatim.
QUOTA_EXCEEDED = {"error": {
    "errors": [{"domain": "usageLimits", "message": "Calendar usage limits exceeded.",
                "reason": "quotaExceeded"}],
    "code": 403, "message": "Calendar usage limits exceeded."}}
BACKEND_ERROR = google_error(500, "backendError", "Backend Error")
# "Today's quota errors carry a longer message and status PERMISSION_DENIED."
MODERN_QUOTA_MESSAGE = ("Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per "
                        "user' of service 'calendar-json.googleapis.com' for consumer "
                        "'project_number:000000000000'.")
RATE_LIMIT_MODERN = {"error": {
    "code": 403, "message": MODERN_QUOTA_MESSAGE,
    "errors": [{"message": MODERN_QUOTA_MESSAGE, "domain": "usageLimits",
                "reason": "rateLimitExceeded"}],
    "status": "PERMISSION_DENIED"}}
SERVICE_UNAVAILABLE = {"error": {
    "code": 503, "message": "The service is currently unavailable.",
    "errors": [{"message": "The service is currently unavailable.", "domain": "global",
                "reason": "backendError"}],
    "status": "UNAVAILABLE"}}

# Permanent 403s (docs/google-calendar-api.md, "Errors"): retrying does not help.
INSUFFICIENT_SCOPES_MESSAGE = "Request had insufficient authentication scopes."
INSUFFICIENT_PERMISSIONS = {"error": {
    "code": 403, "message": INSUFFICIENT_SCOPES_MESSAGE,
    "errors": [{"message": "Insufficient Permission", "domain": "global",
                "reason": "insufficientPermissions"}],
    "status": "PERMISSION_DENIED"}}
ACCESS_NOT_CONFIGURED_MESSAGE = (
    "Google Calendar API has not been used in project 000000000000 before or it is disabled. "
    "Enable it by visiting https://console.developers.google.com/apis/api/calendar-json.googleapis.com"
    "/overview?project=000000000000 then retry.")
ACCESS_NOT_CONFIGURED = {"error": {
    "code": 403, "message": ACCESS_NOT_CONFIGURED_MESSAGE,
    "errors": [{"message": ACCESS_NOT_CONFIGURED_MESSAGE, "domain": "usageLimits",
                "reason": "accessNotConfigured", "extendedHelp": "https://console.developers.google.com"}],
    "status": "PERMISSION_DENIED"}}
FORBIDDEN = google_error(403, "forbidden", "Forbidden")
DAILY_LIMIT = google_error(403, "dailyLimitExceeded", "Daily Limit Exceeded", domain="usageLimits")
# 400 for a sync token Google cannot read at all (a stale one gets 410).
INVALID_SYNC_TOKEN = google_error(400, "invalid", "Invalid sync token value.",
                                  location="syncToken", location_type="parameter")
# A token grant under granular consent where the user unticked the Calendar scope:
# a working access token whose `scope` holds no Calendar scope.
NO_CALENDAR_SCOPE = "openid https://www.googleapis.com/auth/userinfo.email"
GRANT_WITHOUT_CALENDAR_SCOPE = {"access_token": "ya29.emu-no-calendar-scope", "expires_in": 3599,
                                "scope": NO_CALENDAR_SCOPE, "token_type": "Bearer"}

# A 403 that is not JSON at all (Google's front end answers with an HTML page).
HTML_403 = (b"<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 403 (Forbidden)!!1"
            b"</title>\n  <p><b>403.</b> <ins>That\xe2\x80\x99s an error.</ins>\n  <p>Your client does "
            b"not have permission to get URL <code>/calendar/v3/</code> from this server.  "
            b"<ins>That\xe2\x80\x99s all we know.</ins>\n")


def invalid_parameter(name, message, reason="invalid"):
    """400 for a bad query parameter, located on that parameter like Google does."""
    return ApiError(400, google_error(400, reason, message, location=name, location_type="parameter"))


def bad_request(message, reason="badRequest"):
    """400 that is not tied to one parameter."""
    return ApiError(400, google_error(400, reason, message))


def not_found():
    """Google's documented 404 for an unknown calendar (or resource)."""
    return ApiError(404, NOT_FOUND)


# Fault presets: name -> (status, body, content type). A fault may override any part.
JSON = "application/json; charset=UTF-8"
PRESETS = {
    "rateLimitExceeded": (403, RATE_LIMIT, JSON),
    "userRateLimitExceeded": (403, USER_RATE_LIMIT, JSON),
    "quotaExceeded": (403, QUOTA_EXCEEDED, JSON),
    "rateLimitExceededModern": (403, RATE_LIMIT_MODERN, JSON),
    "tooManyRequests": (429, RATE_LIMIT_429, JSON),
    "html403": (403, HTML_403, "text/html; charset=UTF-8"),
    "backendError": (500, BACKEND_ERROR, JSON),
    "serviceUnavailable": (503, SERVICE_UNAVAILABLE, JSON),
    "notFound": (404, NOT_FOUND, JSON),
    "fullSyncRequired": (410, FULL_SYNC_REQUIRED, JSON),
    "goneNoReason": (410, GONE_NO_REASON, JSON),
    "authError": (401, UNAUTHENTICATED, JSON),
    "invalidGrant": (400, INVALID_GRANT_REVOKED, JSON),
    "invalidClient": (401, INVALID_CLIENT_UNKNOWN, JSON),
    # A compromised or broken endpoint: 200, the start of an events page, then
    # items without end and without Content-Length (action "endless").
    "endlessBody": (200, b'{"kind":"calendar#events","items":[', JSON),
    "insufficientPermissions": (403, INSUFFICIENT_PERMISSIONS, JSON),
    "accessNotConfigured": (403, ACCESS_NOT_CONFIGURED, JSON),
    "forbidden": (403, FORBIDDEN, JSON),
    "dailyLimitExceeded": (403, DAILY_LIMIT, JSON),
    "invalidSyncToken": (400, INVALID_SYNC_TOKEN, JSON),
    "grantWithoutCalendarScope": (200, GRANT_WITHOUT_CALENDAR_SCOPE, JSON),
}

# Presets that imply an action other than "respond".
PRESET_ACTIONS = {"endlessBody": "endless"}

# What an "endless" answer repeats after its body, until the client hangs up
# (or ENDLESS_LIMIT bytes, so a client that never stops reading ends anyway).
ENDLESS_CHUNK = b'{"id":"x","status":"confirmed","summary":"' + b"a" * 200 + b'"},'
ENDLESS_LIMIT = 4 << 30
