// google.hpp — Google Calendar API v3 and OAuth, as plain C++: request URLs,
// and typed parsing of every response body gcalsync reads.
//
// Everything that comes from Google is outside input: parsing never trusts a
// field's presence or type. A value of the wrong type, or one PostgreSQL
// cannot hold (e.g. the year 0), becomes "absent" in the typed fields while
// the item's full JSON is kept verbatim in `data`; only a body that is not a
// JSON object of the expected shape fails the whole page.
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gcal::core {

// ---- time ------------------------------------------------------------------

// Micros is an instant in microseconds since 1970-01-01T00:00:00Z.
using Micros = int64_t;
// Days is a calendar date as days since 1970-01-01.
using Days = int32_t;

// parse_rfc3339 reads an RFC 3339 date-time ("2025-03-25T08:00:00-05:00",
// "2025-03-25T13:00:00.123Z"; 'T'/'t' and 'Z'/'z'; fractional seconds of any
// length, truncated to microseconds; offsets +-HH:MM). Returns nullopt for
// anything malformed and for instants PostgreSQL's timestamptz cannot hold or
// that do not exist in the proleptic Gregorian calendar with year >= 1
// (so Google's "0000-12-31T00:00:00Z" is nullopt). Seconds = 60 is refused.
std::optional<Micros> parse_rfc3339(std::string_view s);
// parse_date reads "YYYY-MM-DD" (year 0001..9999, real calendar dates only).
std::optional<Days> parse_date(std::string_view s);
// format_rfc3339_utc renders an instant as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z".
std::string format_rfc3339_utc(Micros t);
// next_pacific_midnight is the first midnight in America/Los_Angeles (US
// daylight saving rules since 2007) after `now`: when Google resets daily quotas.
Micros next_pacific_midnight(Micros now);

// ---- URLs ------------------------------------------------------------------

// percent_encode encodes everything except RFC 3986 unreserved characters
// (A-Z a-z 0-9 - . _ ~), so "en.usa#holiday@group.v.calendar.google.com"
// becomes "en.usa%23holiday%40group.v.calendar.google.com".
std::string percent_encode(std::string_view s);

// QueryParam is one name=value pair of a query string (unencoded).
struct QueryParam {
    std::string name;
    std::string value;
};
// with_query appends "?a=1&b=2" (percent-encoded) to a URL; no '?' if empty.
std::string with_query(std::string url, const std::vector<QueryParam> &params);

// The fixed request parameters gcalsync syncs with (README: How syncing works). Sync tokens
// are only valid for the same parameters, so they are stored together with
// params_key() of these lists.
std::vector<QueryParam> calendar_list_params();  // showDeleted=true, showHidden=true, maxResults=250
std::vector<QueryParam> events_params();         // singleEvents=false, showDeleted=true, maxResults=2500
// params_key renders params canonically ("maxResults=2500&showDeleted=true&...", sorted by name).
std::string params_key(const std::vector<QueryParam> &params);

// URL builders; base is gcalsync.google_api_url without a trailing slash.
// page_token / sync_token are added when non-empty (a sync token replaces
// nothing: the same params are sent with it, as Google requires).
std::string calendar_list_url(std::string_view base, std::string_view page_token,
                              std::string_view sync_token);
std::string calendar_url(std::string_view base, std::string_view calendar_id);
std::string events_url(std::string_view base, std::string_view calendar_id,
                       std::string_view page_token, std::string_view sync_token);

// token_request_body is the form body of a refresh-token grant
// (application/x-www-form-urlencoded).
std::string token_request_body(std::string_view client_id, std::string_view client_secret,
                               std::string_view refresh_token);

// ---- OAuth token responses --------------------------------------------------

enum class TokenOutcome {
    Granted,        // access_token and expires_in present
    InvalidGrant,   // 400 invalid_grant: the refresh token is revoked or expired
    InvalidClient,  // 401/400 invalid_client (or unauthorized_client): bad client credentials
    Temporary,      // 429, 5xx: try again later
    Malformed,      // 200 without a usable token, or a body that is not what Google sends
    OtherError      // any other error response
};

struct TokenResponse {
    TokenOutcome outcome = TokenOutcome::Malformed;
    std::string access_token;    // Granted only
    int64_t expires_in = 0;      // seconds, Granted only (clamped to >= 0)
    std::string error;           // OAuth "error" code when present ("invalid_grant")
    std::string description;     // "error_description", or why the body was malformed
    std::optional<std::string> scope;  // Granted: "scope" (space-separated) when present
};

// grants_calendar is whether a token response's scope list holds a Calendar
// scope (https://www.googleapis.com/auth/calendar...). Under granular consent
// a user can untick it; then every Calendar call answers 403.
bool grants_calendar(std::string_view scope);

// parse_token_response classifies the token endpoint's answer. Never copies
// the access token into error/description.
TokenResponse parse_token_response(long http_status, std::string_view body);

// ---- API errors ---------------------------------------------------------------

// ApiError is what a non-2xx Calendar API response means for the sync engine.
struct ApiError {
    long status = 0;
    std::string reason;   // error.errors[0].reason, e.g. "fullSyncRequired", "" if none
    std::string message;  // error.message, or a short description of a non-JSON body (first line, <= 200 bytes)
    bool full_sync_required = false;  // every 410
    bool not_found = false;           // 404
    bool unauthorized = false;        // 401: renew the access token once and retry
    bool rate_limited = false;        // 429; 403 rateLimitExceeded/userRateLimitExceeded/quotaExceeded
                                      // (also 403 whose body is not JSON, e.g. an HTML page)
    bool retryable = false;           // rate_limited, 5xx, 408
    bool push_not_supported = false;  // 400 pushNotSupportedForRequestedResource
    bool permanent = false;           // 403 insufficientPermissions, accessNotConfigured,
                                      // forbidden: retrying does not help
    bool owner_wide = false;          // permanent for every calendar of the owner
                                      // (insufficientPermissions, accessNotConfigured)
    bool daily_limit = false;         // 403 dailyLimitExceeded: wait for Pacific midnight
};
// parse_api_error reads an error response (any status >= 300; bodies may be
// HTML, empty or truncated).
ApiError parse_api_error(long http_status, std::string_view body);

// echoes_credentials: error text from a server looks like it quotes the
// request's credentials (an Authorization header, a token field, a token's
// shape), as a proxy's or a misconfigured server's error page may.
// withhold_echoed_credentials then replaces it with a fixed sentence; the
// parsers above apply it to every text they keep from an error body, so such
// text never reaches last_error or a log line.
bool echoes_credentials(std::string_view text);

// Most JSON values (arrays, objects, members, elements) one body may hold.
// A page of 2,500 events needs a few hundred thousand; the limit keeps what
// jansson allocates for a hostile body of tiny values (about 60 bytes each)
// bounded, next to the body's own size limit (http.hpp).
constexpr std::size_t kMaxJsonElements = 2000000;
enum class JsonShape { Ok, TooDeep, TooManyElements };
// json_shape checks nesting and the number of values of a JSON text in one
// pass, before it is parsed (strings are skipped, not counted).
JsonShape json_shape(std::string_view text, int max_depth, std::size_t max_elements);
std::string withhold_echoed_credentials(std::string text);

// parse_retry_after reads a Retry-After header value: delta-seconds, or an
// HTTP-date relative to now_unix_s. Returns seconds to wait (>= 0) or nullopt.
std::optional<int64_t> parse_retry_after(std::string_view value, int64_t now_unix_s);

// ---- resources --------------------------------------------------------------

// OptText is a string field that may be absent (absent, or not a string).
using OptText = std::optional<std::string>;

struct CalendarListEntry {
    std::string calendar_id;  // "id" (required: an item without a string id fails the page)
    OptText summary, summary_override, description, location, time_zone, access_role;
    bool is_primary = false, hidden = false, selected = false, deleted = false;  // absent = false
    OptText color_id, background_color, foreground_color;
    std::string data;  // the item's JSON, compact, verbatim in content
};

struct CalendarListPage {
    std::vector<CalendarListEntry> items;
    OptText next_page_token, next_sync_token;
};

struct CalendarResource {
    std::string calendar_id;  // "id"
    OptText summary, description, location, time_zone;
    std::string data;
};

struct EventRow {
    std::string event_id;           // "id" (required)
    std::string status;             // "confirmed" when absent
    OptText summary, description, location;
    std::optional<Micros> start_at, end_at;        // start/end.dateTime
    std::optional<Days> start_date, end_date;      // start/end.date
    OptText time_zone;                              // start.timeZone
    std::optional<std::vector<std::string>> recurrence;  // array of strings; non-strings skipped
    OptText recurring_event_id;
    std::optional<Micros> original_start_at;       // originalStartTime.dateTime
    std::optional<Days> original_start_date;       // originalStartTime.date
    OptText ical_uid;                               // iCalUID
    std::optional<int32_t> sequence;                // integer within int32
    OptText event_type, transparency, visibility;  // eventType, transparency, visibility; when
                                                    // absent, Google's defaults: default, opaque, default
    OptText self_response;                          // attendees[self=true].responseStatus
    OptText organizer_email, creator_email;         // organizer.email, creator.email
    OptText html_link;                              // htmlLink
    std::optional<Micros> created, updated;
    std::string data;  // the item's JSON, compact (empty when jsonb holds it)
    // The data as PostgreSQL's jsonb datum without its varlena header
    // (encode_jsonb, core/jsonb.hpp), made on the helper thread for full
    // listings when the store asks for it (Store::jsonb_events); then `data`
    // is freed. Empty when not made (the text is then in `data`).
    std::string jsonb;
};

struct EventsPage {
    std::vector<EventRow> items;
    OptText next_page_token, next_sync_token;
    OptText time_zone;  // the calendar's timeZone from the envelope
    OptText summary;    // the calendar's summary from the envelope
};

// Parsers of 2xx bodies. On failure return nullopt and set *error to a short
// reason without secrets or body content beyond a field name (e.g.
// "items[3].id is not a string", "body is not a JSON object: ...").
// Limits: bodies nested deeper than 64 levels are refused (jansson has its own
// depth limit too); duplicate object keys are refused.
std::optional<CalendarListPage> parse_calendar_list_page(std::string_view body, std::string *error);
std::optional<CalendarResource> parse_calendar(std::string_view body, std::string *error);
std::optional<EventsPage> parse_events_page(std::string_view body, std::string *error);

// ItemsLayout is where a list page keeps its items: the text of the
// top-level "items" array and of each of its elements (views into the body).
struct ItemsLayout {
    std::string_view array;               // "[...]"; empty when there is no "items"
    std::vector<std::string_view> items;  // each element's text, without surrounding space
};
// items_layout scans a list page for its "items" array without building
// anything. It does not validate: the parsers check every piece with jansson.
// nullopt when the text is laid out in a way it does not read (e.g. an
// escaped key, or no JSON at all); the parsers then parse the body whole.
std::optional<ItemsLayout> items_layout(std::string_view body);

// ---- watch channels (push) ------------------------------------------------------

struct WatchChannel {
    std::string id, resource_id, token;
    std::optional<Micros> expiration;  // "expiration": int64 ms as string or number
};
std::optional<WatchChannel> parse_watch_channel(std::string_view body, std::string *error);

}  // namespace gcal::core
