// google.cpp — Google Calendar API v3 and OAuth as plain C++ (see google.hpp).
//
// Every body parsed here comes from the network. The rules, in one place:
// a body must be one JSON object (no duplicate keys, at most 64 levels deep);
// a typed field of the wrong type or an impossible value is "absent", never a
// failure; only an envelope of the wrong shape (items not an array, an item
// without a string id) fails the page. Error texts name fields and positions,
// never body content, so they are safe to log.
#include "core/google.hpp"

#include "core/json.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <new>

namespace gcal::core {

namespace {

// ---- calendar arithmetic -----------------------------------------------------

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kMicrosPerDay = kSecondsPerDay * kMicrosPerSecond;

// days_from_civil is Howard Hinnant's algorithm: days since 1970-01-01 of a
// proleptic Gregorian date (any year; m 1..12, d 1..31 already validated).
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);              // [0, 399]
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;         // [0, 146096]
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
    int64_t year;
    unsigned month, day;
};

// civil_from_days is the inverse of days_from_civil.
constexpr Civil civil_from_days(int64_t z)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
    const unsigned mp = (5 * doy + 2) / 153;                                     // [0, 11]
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11017).year == 2000);

constexpr bool is_leap_year(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned days_in_month(int64_t y, unsigned m)
{
    constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : kDays[m - 1];
}

// The instants gcalsync stores: 0001-01-01T00:00:00Z up to the last
// microsecond of 9999. Both the written fields and the UTC result must lie in
// this range, so every accepted instant formats back to a 4-digit year that
// PostgreSQL (and parse_rfc3339) reads again.
constexpr Micros kMinInstant = days_from_civil(1, 1, 1) * kMicrosPerDay;
constexpr Micros kMaxInstant = days_from_civil(10000, 1, 1) * kMicrosPerDay - 1;

// Reader walks a string_view for the fixed-width formats below.
struct Reader {
    std::string_view s;
    std::size_t i = 0;

    bool done() const { return i == s.size(); }
    bool peek_digit() const { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }
    // number reads exactly n decimal digits.
    bool number(std::size_t n, int &out)
    {
        if (s.size() - i < n)
            return false;
        int v = 0;
        for (std::size_t k = 0; k < n; k++) {
            char c = s[i + k];
            if (c < '0' || c > '9')
                return false;
            v = v * 10 + (c - '0');
        }
        i += n;
        out = v;
        return true;
    }
    // lit consumes c (or, if given, its alternative spelling alt).
    bool lit(char c, char alt = 0)
    {
        if (i < s.size() && (s[i] == c || (alt && s[i] == alt))) {
            i++;
            return true;
        }
        return false;
    }
};

// read_date reads "YYYY-MM-DD" of year 0001..9999 that exists in the calendar.
std::optional<int64_t> read_date(Reader &r)
{
    int y, m, d;
    if (!r.number(4, y) || !r.lit('-') || !r.number(2, m) || !r.lit('-') || !r.number(2, d))
        return std::nullopt;
    if (y < 1 || m < 1 || m > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, m))
        return std::nullopt;
    return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

// ---- text --------------------------------------------------------------------

// utf8_sequence returns the length of the valid UTF-8 sequence at p (shortest
// form, no surrogates, at most U+10FFFF), or 0 if the bytes there are invalid.
std::size_t utf8_sequence(const unsigned char *p, std::size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return k < n && p[k] >= lo && p[k] <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF)
        return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return cont(1, lo, hi) && cont(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

// clean_text makes outside text fit for a log line and a text column: valid
// UTF-8 (invalid bytes become U+FFFD), control characters and runs of
// whitespace become one space, no leading or trailing space, at most
// max_bytes bytes, cut at a character boundary.
std::string clean_text(std::string_view in, std::size_t max_bytes)
{
    static constexpr char kReplacement[] = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(std::min(in.size(), max_bytes));
    bool pending_space = false;
    const auto *p = reinterpret_cast<const unsigned char *>(in.data());
    for (std::size_t i = 0; i < in.size();) {
        std::size_t len = utf8_sequence(p + i, in.size() - i);
        if (len == 1 && (p[i] <= 0x20 || p[i] == 0x7F)) {
            pending_space = !out.empty();
            i++;
            continue;
        }
        std::string_view ch = len ? in.substr(i, len) : std::string_view(kReplacement, 3);
        if (out.size() + pending_space + ch.size() > max_bytes)
            break;
        if (pending_space)
            out.push_back(' ');
        pending_space = false;
        out.append(ch);
        i += len ? len : 1;
    }
    return out;
}

// first_text_line describes a body that is not JSON (an HTML error page, a
// proxy's plain text): its first line that holds text once tags are removed.
std::string first_text_line(std::string_view body, std::size_t max_bytes)
{
    constexpr std::size_t kScanLimit = 16384;  // error pages put their title first
    std::string line;
    bool in_tag = false;
    for (char c : body.substr(0, kScanLimit)) {
        if (in_tag) {
            in_tag = c != '>';
            continue;
        }
        if (c == '<') {
            in_tag = true;
            line.push_back(' ');
        } else if (c == '\n') {
            if (line.find_first_not_of(" \t\r\f\v") != std::string::npos)
                break;
            line.clear();
        } else {
            line.push_back(c);
        }
        if (line.size() > 4 * max_bytes)  // enough for max_bytes after cleaning
            break;
    }
    return clean_text(line, max_bytes);
}

void set_error(std::string *error, std::string message)
{
    if (error)
        *error = std::move(message);
}

// ---- JSON --------------------------------------------------------------------

constexpr int kMaxDepth = 64;

}  // namespace

JsonShape json_shape(std::string_view text, int max_depth, std::size_t max_elements)
{
    // Every array or object, every member and every element after a
    // container's first is announced by '[', '{', ':' or ',': their count
    // bounds the values (and keys) jansson would allocate.
    int depth = 0;
    std::size_t elements = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return JsonShape::TooDeep;
            if (++elements > max_elements)
                return JsonShape::TooManyElements;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' || c == ':') {
            if (++elements > max_elements)
                return JsonShape::TooManyElements;
        }
    }
    return JsonShape::Ok;
}

namespace {

// too_big says why a body is refused before jansson sees it (nesting deeper
// than kMaxDepth: jansson recurses; more than kMaxJsonElements values: each
// costs jansson an allocation of tens of bytes, so a 64 MB body of "[0,0,...]"
// would cost gigabytes), or returns nullopt.
std::optional<std::string> too_big(std::string_view text)
{
    switch (json_shape(text, kMaxDepth, kMaxJsonElements)) {
    case JsonShape::TooDeep:
        return "body is nested deeper than " + std::to_string(kMaxDepth) + " levels";
    case JsonShape::TooManyElements:
        return "body has more than " + std::to_string(kMaxJsonElements) + " JSON values";
    default:
        return std::nullopt;
    }
}

// describe_json_error renders a jansson error without the input: jansson's
// text ends in "near '<token>'", which may quote body content.
std::string describe_json_error(const json_error_t &err)
{
    std::string_view text(err.text);
    text = text.substr(0, text.find(" near "));
    return std::string(text) + " at byte " + std::to_string(err.position);
}

// load_object parses a body that must be a single JSON object.
Json load_object(std::string_view body, std::string *error)
{
    if (auto why = too_big(body)) {
        set_error(error, std::move(*why));
        return {};
    }
    json_error_t err;
    Json doc = Json::adopt(json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES, &err));
    if (!doc) {
        set_error(error, "body is not a JSON object: " + describe_json_error(err));
        return {};
    }
    if (!json_is_object(doc.get())) {
        set_error(error, "body is not a JSON object");
        return {};
    }
    return doc;
}

// dump_compact serializes one value compactly, keys in their original order.
// jansson writes into a reused scratch buffer; the result is then allocated
// once at its exact size (items are ~1-2 KB, 2500 to a page).
std::string dump_compact(const json_t *value)
{
    thread_local std::string scratch;
    scratch.clear();
    auto append = [](const char *buf, size_t size, void *data) -> int {
        try {
            static_cast<std::string *>(data)->append(buf, size);
            return 0;
        } catch (...) {  // never unwind through jansson's C frames
            return -1;
        }
    };
    if (json_dump_callback(value, append, &scratch, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
        throw std::bad_alloc();
    return scratch;
}

// ---- raw item text ---------------------------------------------------------------

// Scanner walks JSON text that jansson has already accepted, to find where
// each value starts and ends. It never decides what is valid JSON; anything
// it does not expect makes it give up (and the caller falls back to dumping).
class Scanner {
public:
    explicit Scanner(std::string_view text) : t_(text) {}

    void skip_space()
    {
        while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r'))
            i_++;
    }
    bool take(char c)
    {
        skip_space();
        if (i_ < t_.size() && t_[i_] == c) {
            i_++;
            return true;
        }
        return false;
    }
    bool at(char c)
    {
        skip_space();
        return i_ < t_.size() && t_[i_] == c;
    }
    // string skips a string; *escaped tells whether it held a backslash.
    bool string(bool *escaped)
    {
        if (!at('"'))
            return false;
        *escaped = false;
        for (i_++; i_ < t_.size(); i_++) {
            if (t_[i_] == '\\') {
                *escaped = true;
                i_++;
            } else if (t_[i_] == '"') {
                i_++;
                return true;
            }
        }
        return false;
    }
    // value skips one value and returns its text.
    std::optional<std::string_view> value()
    {
        skip_space();
        std::size_t start = i_;
        if (i_ >= t_.size())
            return std::nullopt;
        char c = t_[i_];
        bool escaped;
        if (c == '"') {
            if (!string(&escaped))
                return std::nullopt;
        } else if (c == '{' || c == '[') {
            int depth = 0;
            for (; i_ < t_.size(); i_++) {
                char d = t_[i_];
                if (d == '"') {
                    if (!string(&escaped))
                        return std::nullopt;
                    i_--;  // the loop steps past the closing quote
                } else if (d == '{' || d == '[') {
                    depth++;
                } else if (d == '}' || d == ']') {
                    if (--depth == 0) {
                        i_++;
                        break;
                    }
                }
            }
            if (depth != 0)
                return std::nullopt;
        } else {
            while (i_ < t_.size() && std::string_view(",]} \t\n\r").find(t_[i_]) == std::string_view::npos)
                i_++;
            if (i_ == start)
                return std::nullopt;
        }
        return t_.substr(start, i_ - start);
    }
    std::size_t pos() const { return i_; }

private:
    std::string_view t_;
    std::size_t i_ = 0;
};

}  // namespace

std::optional<ItemsLayout> items_layout(std::string_view body)
{
    Scanner s(body);
    ItemsLayout out;
    if (!s.take('{'))
        return std::nullopt;
    if (s.take('}'))
        return out;
    for (;;) {
        std::size_t key_start = s.pos();
        bool escaped;
        if (!s.string(&escaped))
            return std::nullopt;
        std::string_view key = body.substr(key_start, s.pos() - key_start);
        while (!key.empty() && key.front() != '"')
            key.remove_prefix(1);  // the whitespace string() skipped
        if (!s.take(':'))
            return std::nullopt;
        if (escaped)
            return std::nullopt;  // "\u0069tems" would be items too: do not guess
        if (key == "\"items\"" && s.at('[')) {
            std::size_t array_start = s.pos();
            s.take('[');
            if (!s.take(']')) {
                for (;;) {
                    auto v = s.value();
                    if (!v)
                        return std::nullopt;
                    out.items.push_back(*v);
                    if (s.take(']'))
                        break;
                    if (!s.take(','))
                        return std::nullopt;
                }
            }
            out.array = body.substr(array_start, s.pos() - array_start);
            return out;  // jansson refuses a second "items" in what follows
        }
        if (!s.value())
            return std::nullopt;
        if (s.take('}'))
            return out;  // no items
        if (!s.take(','))
            return std::nullopt;
    }
}

namespace {

// The typed readers of one member: absent when missing or of another type.

OptText text_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return std::nullopt;
    return std::string(json_string_value(v), json_string_length(v));
}

bool flag_of(const json_t *obj, const char *key) { return json_is_true(json_object_get(obj, key)); }

std::optional<Micros> instant_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return std::nullopt;
    return parse_rfc3339(std::string_view(json_string_value(v), json_string_length(v)));
}

std::optional<Days> date_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return std::nullopt;
    return parse_date(std::string_view(json_string_value(v), json_string_length(v)));
}

// object_of returns member key if it is an object, else nullptr
// (json_object_get of nullptr is nullptr, so readers chain safely).
const json_t *object_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? v : nullptr;
}

// parse_digits reads a non-empty run of decimal digits that fits int64.
std::optional<int64_t> parse_digits(std::string_view s)
{
    if (s.empty())
        return std::nullopt;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return std::nullopt;
        int d = c - '0';
        if (v > (std::numeric_limits<int64_t>::max() - d) / 10)
            return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

// check_item says what is wrong with an item of a list page (nullptr if
// nothing): it must be an object with a non-empty string "id".
const char *check_item(const json_t *item, const json_t *id)
{
    return !json_is_object(item)        ? " is not an object"
           : !id                        ? ".id is missing"
           : !json_is_string(id)        ? ".id is not a string"
           : json_string_length(id) == 0 ? ".id is empty"
                                         : nullptr;
}

// read_items walks the "items" array of a list page parsed whole: absent
// means none (Google omits it when empty); anything but an array of objects
// with a non-empty string "id" fails the page. fill(item, row, id) fills the
// typed fields; data is jansson's dump of the item.
template <class Row, class Fill>
bool read_items(const json_t *root, std::vector<Row> &rows, std::string *error, Fill fill)
{
    const json_t *items = json_object_get(root, "items");
    if (!items)
        return true;
    if (!json_is_array(items)) {
        set_error(error, "items is not an array");
        return false;
    }
    std::size_t n = json_array_size(items);
    rows.reserve(n);
    for (std::size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(items, i);
        const json_t *id = json_object_get(item, "id");  // nullptr unless item is an object
        if (const char *problem = check_item(item, id)) {
            set_error(error, "items[" + std::to_string(i) + "]" + problem);
            return false;
        }
        Row &row = rows.emplace_back();
        fill(item, row, std::string(json_string_value(id), json_string_length(id)));
        row.data = dump_compact(item);
    }
    return true;
}

// parse_by_item is the fast way through a list page: find each item's text
// (items_layout), parse the envelope without the items and then each item on
// its own, and keep each item's text as its data. Small trees, freed item by
// item, and no dump. Whatever it does not accept (a malformed body, an item
// that is not an object with an id, an unusual layout) makes it return
// nullopt, and the caller parses the body whole, which finds the error and
// says it the same way as always.
template <class Page, class Fill>
std::optional<Page> parse_by_item(std::string_view body, Fill fill, void (*envelope_fields)(const json_t *, Page &))
{
    if (too_big(body))
        return std::nullopt;
    auto layout = items_layout(body);
    if (!layout)
        return std::nullopt;
    std::string envelope;
    std::string_view env = body;
    if (!layout->array.empty()) {
        std::size_t at = static_cast<std::size_t>(layout->array.data() - body.data());
        envelope.reserve(body.size() - layout->array.size() + 2);
        envelope.append(body.substr(0, at)).append("[]").append(body.substr(at + layout->array.size()));
        env = envelope;
    }
    Json doc = load_object(env, nullptr);
    if (!doc)
        return std::nullopt;
    // "items" must be the array the scan found (now "[]"), or absent.
    if (bool(json_object_get(doc.get(), "items")) != !layout->array.empty())
        return std::nullopt;
    Page page;
    page.items.reserve(layout->items.size());
    for (std::string_view text : layout->items) {
        json_error_t err;
        Json item = Json::adopt(
            json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err));
        const json_t *id = json_object_get(item.get(), "id");
        if (!item || check_item(item.get(), id))
            return std::nullopt;
        auto &row = page.items.emplace_back();
        fill(item.get(), row, std::string(json_string_value(id), json_string_length(id)));
        row.data.assign(text);
    }
    envelope_fields(doc.get(), page);
    return page;
}

void list_envelope(const json_t *doc, CalendarListPage &page)
{
    page.next_page_token = text_of(doc, "nextPageToken");
    page.next_sync_token = text_of(doc, "nextSyncToken");
}

void events_envelope(const json_t *doc, EventsPage &page)
{
    page.next_page_token = text_of(doc, "nextPageToken");
    page.next_sync_token = text_of(doc, "nextSyncToken");
    page.time_zone = text_of(doc, "timeZone");
    page.summary = text_of(doc, "summary");
}

void fill_calendar_list_entry(const json_t *item, CalendarListEntry &row, std::string id)
{
    row.calendar_id = std::move(id);
    row.summary = text_of(item, "summary");
    row.summary_override = text_of(item, "summaryOverride");
    row.description = text_of(item, "description");
    row.location = text_of(item, "location");
    row.time_zone = text_of(item, "timeZone");
    row.access_role = text_of(item, "accessRole");
    row.is_primary = flag_of(item, "primary");
    row.hidden = flag_of(item, "hidden");
    row.selected = flag_of(item, "selected");
    row.deleted = flag_of(item, "deleted");
    row.color_id = text_of(item, "colorId");
    row.background_color = text_of(item, "backgroundColor");
    row.foreground_color = text_of(item, "foregroundColor");
}

void fill_event(const json_t *item, EventRow &row, std::string id)
{
    row.event_id = std::move(id);
    // Google's default status; an empty string says no more than a missing one.
    const json_t *status = json_object_get(item, "status");
    if (json_is_string(status) && json_string_length(status) > 0)
        row.status.assign(json_string_value(status), json_string_length(status));
    else
        row.status = "confirmed";
    row.summary = text_of(item, "summary");
    row.description = text_of(item, "description");
    row.location = text_of(item, "location");
    // start/end/originalStartTime: {dateTime, timeZone} for timed events,
    // {date} for all-day ones.
    const json_t *start = object_of(item, "start");
    const json_t *end = object_of(item, "end");
    const json_t *original = object_of(item, "originalStartTime");
    row.start_at = instant_of(start, "dateTime");
    row.start_date = date_of(start, "date");
    row.end_at = instant_of(end, "dateTime");
    row.end_date = date_of(end, "date");
    row.time_zone = text_of(start, "timeZone");
    if (const json_t *rec = json_object_get(item, "recurrence"); json_is_array(rec)) {
        auto &lines = row.recurrence.emplace();
        lines.reserve(json_array_size(rec));
        std::size_t index;
        const json_t *line;
        json_array_foreach(rec, index, line) {
            if (json_is_string(line))
                lines.emplace_back(json_string_value(line), json_string_length(line));
        }
    }
    row.recurring_event_id = text_of(item, "recurringEventId");
    row.original_start_at = instant_of(original, "dateTime");
    row.original_start_date = date_of(original, "date");
    row.ical_uid = text_of(item, "iCalUID");
    if (const json_t *seq = json_object_get(item, "sequence"); json_is_integer(seq)) {
        json_int_t v = json_integer_value(seq);
        if (v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max())
            row.sequence = static_cast<int32_t>(v);
    }
    // Google omits these when they hold their default: store the default, so
    // queries need no COALESCE (a value of another type stays absent).
    auto or_default = [item](const char *key, const char *fallback) -> OptText {
        if (!json_object_get(item, key))
            return std::string(fallback);
        return text_of(item, key);
    };
    row.event_type = or_default("eventType", "default");
    row.transparency = or_default("transparency", "opaque");
    row.visibility = or_default("visibility", "default");
    // The owner's own answer to an invitation: attendees[self=true].responseStatus.
    if (const json_t *attendees = json_object_get(item, "attendees"); json_is_array(attendees)) {
        std::size_t index;
        const json_t *attendee;
        json_array_foreach(attendees, index, attendee) {
            if (json_is_object(attendee) && json_is_true(json_object_get(attendee, "self"))) {
                row.self_response = text_of(attendee, "responseStatus");
                break;
            }
        }
    }
    row.organizer_email = text_of(object_of(item, "organizer"), "email");
    row.creator_email = text_of(object_of(item, "creator"), "email");
    row.html_link = text_of(item, "htmlLink");
    row.created = instant_of(item, "created");
    row.updated = instant_of(item, "updated");
}

// ---- HTTP dates -----------------------------------------------------------------

// month_from_name maps "Jan".."Dec" to 1..12 (case-sensitive, as RFC 9110 says).
int month_from_name(std::string_view s)
{
    static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int m = 0; m < 12; m++)
        if (s == kMonths[m])
            return m + 1;
    return 0;
}

bool is_day_name(std::string_view s, bool long_form)
{
    static constexpr std::string_view kShort[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static constexpr std::string_view kLong[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                                 "Friday", "Saturday", "Sunday"};
    const auto &names = long_form ? kLong : kShort;
    return std::find(std::begin(names), std::end(names), s) != std::end(names);
}

// parse_http_date reads the three HTTP-date forms of RFC 9110 §5.6.7 into Unix
// seconds: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" (what servers send),
// and the obsolete "Sunday, 06-Nov-94 08:49:37 GMT" and "Sun Nov  6 08:49:37 1994"
// that recipients must still accept.
std::optional<int64_t> parse_http_date(std::string_view s, int64_t now_unix_s)
{
    int day = 0, month = 0, year = 0, h, mi, sec;
    auto comma = s.find(',');
    Reader r{s};
    auto clock = [&] {
        return r.number(2, h) && r.lit(':') && r.number(2, mi) && r.lit(':') && r.number(2, sec);
    };
    if (comma == 3 && is_day_name(s.substr(0, 3), false)) {  // IMF-fixdate
        r.i = 4;
        if (!r.lit(' ') || !r.number(2, day) || !r.lit(' ') || r.s.size() < r.i + 4 ||
            !(month = month_from_name(s.substr(r.i, 3))))
            return std::nullopt;
        r.i += 3;
        if (!r.lit(' ') || !r.number(4, year) || !r.lit(' ') || !clock() ||
            s.substr(r.i) != " GMT")
            return std::nullopt;
    } else if (comma != std::string_view::npos && is_day_name(s.substr(0, comma), true)) {
        r.i = comma + 1;  // rfc850-date, two-digit year
        if (!r.lit(' ') || !r.number(2, day) || !r.lit('-') || r.s.size() < r.i + 4 ||
            !(month = month_from_name(s.substr(r.i, 3))))
            return std::nullopt;
        r.i += 3;
        if (!r.lit('-') || !r.number(2, year) || !r.lit(' ') || !clock() ||
            s.substr(r.i) != " GMT")
            return std::nullopt;
        // A two-digit year more than 50 years in the future means the past century.
        int64_t now_year = civil_from_days(now_unix_s / kSecondsPerDay).year;
        int64_t full = now_year - now_year % 100 + year;
        if (full > now_year + 50)
            full -= 100;
        year = static_cast<int>(std::clamp<int64_t>(full, 0, 10000));  // refused below
    } else if (s.size() == 24 && is_day_name(s.substr(0, 3), false)) {  // asctime-date
        r.i = 3;
        if (!r.lit(' ') || !(month = month_from_name(s.substr(4, 3))))
            return std::nullopt;
        r.i = 8;
        if (r.lit(' ')) {
            if (!r.number(1, day))
                return std::nullopt;
        } else if (!r.number(2, day)) {
            return std::nullopt;
        }
        if (!r.lit(' ') || !clock() || !r.lit(' ') || !r.number(4, year) || !r.done())
            return std::nullopt;
    } else {
        return std::nullopt;
    }
    if (year < 1 || year > 9999 || day < 1 ||
        static_cast<unsigned>(day) > days_in_month(year, month) || h > 23 || mi > 59 ||
        sec > 60)  // HTTP dates allow a leap second
        return std::nullopt;
    return days_from_civil(year, month, day) * kSecondsPerDay + h * 3600 + mi * 60 +
           std::min(sec, 59);
}

}  // namespace

// ---- time ----------------------------------------------------------------------------

std::optional<Micros> parse_rfc3339(std::string_view s)
{
    Reader r{s};
    auto days = read_date(r);
    int h, mi, sec;
    if (!days || !r.lit('T', 't') || !r.number(2, h) || !r.lit(':') || !r.number(2, mi) ||
        !r.lit(':') || !r.number(2, sec) || h > 23 || mi > 59 || sec > 59)
        return std::nullopt;
    int64_t micros = 0;
    if (r.lit('.')) {
        if (!r.peek_digit())
            return std::nullopt;
        int kept = 0;
        for (; r.peek_digit(); r.i++)
            if (kept < 6) {
                micros = micros * 10 + (s[r.i] - '0');
                kept++;
            }
        for (; kept < 6; kept++)
            micros *= 10;
    }
    int offset_minutes = 0;
    if (!r.lit('Z', 'z')) {
        bool west = r.lit('-');
        if (!west && !r.lit('+'))
            return std::nullopt;
        int oh, om;
        if (!r.number(2, oh) || !r.lit(':') || !r.number(2, om) || oh > 23 || om > 59)
            return std::nullopt;
        offset_minutes = (oh * 60 + om) * (west ? -1 : 1);
    }
    if (!r.done())
        return std::nullopt;
    int64_t seconds = *days * kSecondsPerDay + h * 3600 + mi * 60 + sec - offset_minutes * 60;
    Micros t = seconds * kMicrosPerSecond + micros;
    if (t < kMinInstant || t > kMaxInstant)
        return std::nullopt;
    return t;
}

std::optional<Days> parse_date(std::string_view s)
{
    Reader r{s};
    auto days = read_date(r);
    if (!days || !r.done())
        return std::nullopt;
    return static_cast<Days>(*days);
}

namespace {

// pacific_dst is whether midnight starting the local date `days` (days since
// 1970-01-01) falls in US daylight saving time: from the second Sunday of March
// to the first Sunday of November (the switches happen at 02:00 local, so the
// midnights of those Sundays still have the old offset).
bool pacific_dst(int64_t days)
{
    Civil c = civil_from_days(days);
    auto nth_sunday = [&](unsigned month, int n) {
        int64_t first = days_from_civil(c.year, month, 1);
        int64_t weekday = ((first + 4) % 7 + 7) % 7;  // 1970-01-01 was a Thursday (4); Sunday = 0
        return first + (7 - weekday) % 7 + 7 * (n - 1);
    };
    return days > nth_sunday(3, 2) && days <= nth_sunday(11, 1);
}

}  // namespace

Micros next_pacific_midnight(Micros now)
{
    // Local date by the offset in force now, then the next midnight with its own offset.
    auto offset = [](int64_t local_days) { return (pacific_dst(local_days) ? -7 : -8) * 3600 * kMicrosPerSecond; };
    int64_t utc_days = now >= 0 ? now / kMicrosPerDay : -((-now + kMicrosPerDay - 1) / kMicrosPerDay);
    for (int64_t d = utc_days - 1; d <= utc_days + 2; d++) {
        Micros midnight = d * kMicrosPerDay - offset(d);
        if (midnight > now)
            return midnight;
    }
    return now + kMicrosPerDay;  // not reached
}

std::string format_rfc3339_utc(Micros t)
{
    // Floor division, so instants before 1970 land on the right day.
    int64_t days = t / kMicrosPerDay, rem = t % kMicrosPerDay;
    if (rem < 0) {
        rem += kMicrosPerDay;
        days--;
    }
    Civil c = civil_from_days(days);
    int64_t secs = rem / kMicrosPerSecond, frac = rem % kMicrosPerSecond;
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d",
                          static_cast<long long>(c.year), c.month, c.day,
                          static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                          static_cast<int>(secs % 60));
    if (frac)
        n += std::snprintf(buf + n, sizeof buf - n, ".%06d", static_cast<int>(frac));
    std::string out(buf, static_cast<std::size_t>(n));
    out.push_back('Z');
    return out;
}

// ---- URLs ------------------------------------------------------------------------------

std::string percent_encode(std::string_view s)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() + s.size() / 2);
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

std::string with_query(std::string url, const std::vector<QueryParam> &params)
{
    char sep = '?';
    for (const auto &p : params) {
        url.push_back(sep);
        url += percent_encode(p.name);
        url.push_back('=');
        url += percent_encode(p.value);
        sep = '&';
    }
    return url;
}

std::vector<QueryParam> calendar_list_params()
{
    return {{"maxResults", "250"}, {"showDeleted", "true"}, {"showHidden", "true"}};
}

std::vector<QueryParam> events_params()
{
    return {{"maxResults", "2500"}, {"showDeleted", "true"}, {"singleEvents", "false"}};
}

std::string params_key(const std::vector<QueryParam> &params)
{
    std::vector<const QueryParam *> sorted;
    sorted.reserve(params.size());
    for (const auto &p : params)
        sorted.push_back(&p);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const QueryParam *a, const QueryParam *b) { return a->name < b->name; });
    std::string key;
    for (const QueryParam *p : sorted) {
        if (!key.empty())
            key.push_back('&');
        key += percent_encode(p->name);
        key.push_back('=');
        key += percent_encode(p->value);
    }
    return key;
}

namespace {

// list_url adds the fixed params, then the page and sync tokens when set.
std::string list_url(std::string url, std::vector<QueryParam> params, std::string_view page_token,
                     std::string_view sync_token)
{
    if (!page_token.empty())
        params.push_back({"pageToken", std::string(page_token)});
    if (!sync_token.empty())
        params.push_back({"syncToken", std::string(sync_token)});
    return with_query(std::move(url), params);
}

}  // namespace

std::string calendar_list_url(std::string_view base, std::string_view page_token,
                              std::string_view sync_token)
{
    return list_url(std::string(base) + "/users/me/calendarList", calendar_list_params(),
                    page_token, sync_token);
}

std::string calendar_url(std::string_view base, std::string_view calendar_id)
{
    return std::string(base) + "/calendars/" + percent_encode(calendar_id);
}

std::string events_url(std::string_view base, std::string_view calendar_id,
                       std::string_view page_token, std::string_view sync_token)
{
    return list_url(calendar_url(base, calendar_id) + "/events", events_params(), page_token,
                    sync_token);
}

std::string token_request_body(std::string_view client_id, std::string_view client_secret,
                               std::string_view refresh_token)
{
    // percent_encode is a valid application/x-www-form-urlencoded encoding
    // (it never relies on '+' for spaces).
    return "client_id=" + percent_encode(client_id) +
           "&client_secret=" + percent_encode(client_secret) +
           "&refresh_token=" + percent_encode(refresh_token) + "&grant_type=refresh_token";
}

// ---- OAuth token responses ------------------------------------------------------------

namespace {

constexpr std::size_t kMaxDescriptionBytes = 200;
constexpr int64_t kMaxExpiresIn = 366 * kSecondsPerDay;  // keeps now + expires_in far from overflow
constexpr std::size_t kMaxAccessTokenBytes = 8192;

// expires_in_of reads "expires_in" as Google (integer) or others (real,
// numeric string) send it; clamped to [0, kMaxExpiresIn].
std::optional<int64_t> expires_in_of(const json_t *obj)
{
    const json_t *v = json_object_get(obj, "expires_in");
    int64_t seconds;
    if (json_is_integer(v)) {
        seconds = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        seconds = d <= 0 ? 0 : d >= static_cast<double>(kMaxExpiresIn) ? kMaxExpiresIn
                                                                         : static_cast<int64_t>(d);
    } else if (json_is_string(v)) {
        auto parsed = parse_digits(std::string_view(json_string_value(v), json_string_length(v)));
        if (!parsed)
            return std::nullopt;
        seconds = *parsed;
    } else {
        return std::nullopt;
    }
    return std::clamp<int64_t>(seconds, 0, kMaxExpiresIn);
}

// usable_access_token: it goes into an Authorization header, so only visible
// ASCII (no CR/LF to smuggle headers, no spaces) and a sane length.
bool usable_access_token(std::string_view t)
{
    return !t.empty() && t.size() <= kMaxAccessTokenBytes &&
           std::all_of(t.begin(), t.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

void read_grant(const json_t *root, TokenResponse &out)
{
    const json_t *token = json_object_get(root, "access_token");
    if (!json_is_string(token)) {
        out.description = token ? "access_token is not a string" : "access_token is missing";
        return;
    }
    std::string_view value(json_string_value(token), json_string_length(token));
    if (!usable_access_token(value)) {
        out.description = "access_token is empty, too long or has invalid characters";
        return;
    }
    auto expires = expires_in_of(root);
    if (!expires) {
        out.description = "expires_in is missing or not a number";
        return;
    }
    out.outcome = TokenOutcome::Granted;
    out.access_token.assign(value);
    out.expires_in = *expires;
    if (auto scope = text_of(root, "scope"))
        out.scope = clean_text(*scope, 1000);
}

}  // namespace

// kWithheld replaces error text that looks like an echo of the request.
constexpr char kWithheld[] = "error text withheld: it looks like an echo of the request's credentials";

bool echoes_credentials(std::string_view text)
{
    // Header and field names of what gcalsync sends, and the shapes of
    // Google's tokens: a proxy's or a misconfigured server's error page that
    // quotes the request holds one of them.
    static constexpr std::string_view kMarkers[] = {"authorization", "bearer", "access_token", "refresh_token",
                                                    "client_secret", "ya29.", "1//"};
    std::string lower(text);
    for (auto &c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto m : kMarkers)
        if (lower.find(m) != std::string::npos)
            return true;
    return false;
}

std::string withhold_echoed_credentials(std::string text)
{
    return echoes_credentials(text) ? std::string(kWithheld) : text;
}

TokenResponse parse_token_response(long http_status, std::string_view body)
{
    TokenResponse out;
    std::string why;
    Json doc = load_object(body, &why);
    const json_t *root = doc.get();
    if (http_status >= 200 && http_status < 300) {
        out.outcome = TokenOutcome::Malformed;
        if (!root)
            out.description = std::move(why);
        else
            read_grant(root, out);
        return out;
    }
    // An error. Its body is never quoted beyond the OAuth fields: a
    // misconfigured token URL might echo the request, secrets included.
    if (auto error = text_of(root, "error"))
        out.error = clean_text(*error, 100);
    if (auto description = text_of(root, "error_description"))
        out.description = clean_text(*description, kMaxDescriptionBytes);
    out.error = withhold_echoed_credentials(std::move(out.error));
    out.description = withhold_echoed_credentials(std::move(out.description));
    if (out.description.empty())
        out.description = "HTTP " + std::to_string(http_status) +
                          (root ? " without error_description" : " with a body that is not JSON");

    if (out.error == "invalid_client" || out.error == "unauthorized_client")
        out.outcome = TokenOutcome::InvalidClient;
    else if (http_status == 400 && out.error == "invalid_grant")
        out.outcome = TokenOutcome::InvalidGrant;
    else if (http_status == 429 || http_status >= 500)
        out.outcome = TokenOutcome::Temporary;
    else
        out.outcome = TokenOutcome::OtherError;
    return out;
}

bool grants_calendar(std::string_view scope)
{
    constexpr std::string_view kCalendar = "https://www.googleapis.com/auth/calendar";
    std::size_t at = 0;
    while (at < scope.size()) {
        std::size_t end = scope.find(' ', at);
        std::string_view one = scope.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
        if (one.substr(0, kCalendar.size()) == kCalendar &&
            (one.size() == kCalendar.size() || one[kCalendar.size()] == '.'))
            return true;
        if (end == std::string_view::npos)
            break;
        at = end + 1;
    }
    return false;
}

// ---- API errors ------------------------------------------------------------------------

ApiError parse_api_error(long http_status, std::string_view body)
{
    ApiError out;
    out.status = http_status;
    Json doc = load_object(body, nullptr);
    const json_t *root = doc.get();
    const json_t *error = json_object_get(root, "error");
    std::string rpc_status;  // google.rpc status, e.g. "RESOURCE_EXHAUSTED"
    if (json_is_object(error)) {
        // {"error":{"code":410,"message":"…","errors":[{"reason":"…",…}],"status":"…"}}
        const json_t *errors = json_object_get(error, "errors");
        if (auto reason = text_of(json_is_array(errors) ? json_array_get(errors, 0) : nullptr,
                                  "reason"))
            out.reason = clean_text(*reason, 100);
        if (auto message = text_of(error, "message"))
            out.message = clean_text(*message, kMaxDescriptionBytes);
        if (auto status = text_of(error, "status"))
            rpc_status = std::move(*status);
    } else if (json_is_string(error)) {
        // OAuth-style {"error":"invalid_token","error_description":"…"}.
        auto description = text_of(root, "error_description");
        out.message = clean_text(description ? *description : json_string_value(error),
                                 kMaxDescriptionBytes);
    }
    if (!root)
        out.message = body.empty() ? "empty body" : first_text_line(body, kMaxDescriptionBytes);
    out.reason = withhold_echoed_credentials(std::move(out.reason));
    out.message = withhold_echoed_credentials(std::move(out.message));
    if (out.message.empty())
        out.message = root ? "error without a message" : "body is not JSON";

    const std::string &r = out.reason;
    out.full_sync_required = http_status == 410;
    out.not_found = http_status == 404;
    out.unauthorized = http_status == 401;
    out.rate_limited =
        http_status == 429 ||
        (http_status == 403 && (!root || r == "rateLimitExceeded" ||
                                r == "userRateLimitExceeded" || r == "quotaExceeded" ||
                                (r.empty() && rpc_status == "RESOURCE_EXHAUSTED")));
    out.retryable = out.rate_limited || (http_status >= 500 && http_status <= 599) ||
                    http_status == 408;
    out.push_not_supported = http_status == 400 && r == "pushNotSupportedForRequestedResource";
    out.owner_wide = http_status == 403 && (r == "insufficientPermissions" || r == "accessNotConfigured");
    out.permanent = out.owner_wide || (http_status == 403 && r == "forbidden");
    out.daily_limit = http_status == 403 && r == "dailyLimitExceeded";
    return out;
}

std::optional<int64_t> parse_retry_after(std::string_view value, int64_t now_unix_s)
{
    constexpr int64_t kMaxWait = kSecondsPerDay;
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (!value.empty() && blank(value.front()))
        value.remove_prefix(1);
    while (!value.empty() && blank(value.back()))
        value.remove_suffix(1);
    if (!value.empty() && value.front() >= '0' && value.front() <= '9') {
        // delta-seconds; a value beyond int64 is still "a long time".
        if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return std::nullopt;
        auto seconds = parse_digits(value);
        return seconds ? std::min(*seconds, kMaxWait) : kMaxWait;
    }
    auto at = parse_http_date(value, now_unix_s);
    if (!at)
        return std::nullopt;
    if (*at <= now_unix_s)
        return 0;
    // *at lies in years 1..9999, so *at - kMaxWait cannot overflow, and the
    // difference is only taken when it is below kMaxWait (any now_unix_s).
    return now_unix_s <= *at - kMaxWait ? kMaxWait : *at - now_unix_s;
}

// ---- resources -------------------------------------------------------------------------

std::optional<CalendarListPage> parse_calendar_list_page(std::string_view body, std::string *error)
{
    if (auto page = parse_by_item<CalendarListPage>(body, fill_calendar_list_entry, list_envelope))
        return page;
    Json doc = load_object(body, error);
    if (!doc)
        return std::nullopt;
    CalendarListPage page;
    if (!read_items(doc.get(), page.items, error, fill_calendar_list_entry))
        return std::nullopt;
    list_envelope(doc.get(), page);
    return page;
}

std::optional<CalendarResource> parse_calendar(std::string_view body, std::string *error)
{
    Json doc = load_object(body, error);
    if (!doc)
        return std::nullopt;
    const json_t *root = doc.get();
    auto id = text_of(root, "id");
    if (!id || id->empty()) {
        set_error(error, json_object_get(root, "id") ? "id is not a non-empty string"
                                                     : "id is missing");
        return std::nullopt;
    }
    CalendarResource cal;
    cal.calendar_id = std::move(*id);
    cal.summary = text_of(root, "summary");
    cal.description = text_of(root, "description");
    cal.location = text_of(root, "location");
    cal.time_zone = text_of(root, "timeZone");
    cal.data = dump_compact(root);
    return cal;
}

std::optional<EventsPage> parse_events_page(std::string_view body, std::string *error)
{
    if (auto page = parse_by_item<EventsPage>(body, fill_event, events_envelope))
        return page;
    Json doc = load_object(body, error);
    if (!doc)
        return std::nullopt;
    EventsPage page;
    if (!read_items(doc.get(), page.items, error, fill_event))
        return std::nullopt;
    events_envelope(doc.get(), page);
    return page;
}

// ---- watch channels --------------------------------------------------------------------

namespace {

// expiration_of reads "expiration", int64 milliseconds since the epoch as a
// string (the schema) or a number (what some servers send), as micros.
std::optional<Micros> expiration_of(const json_t *obj)
{
    constexpr int64_t kMaxMillis = std::numeric_limits<int64_t>::max() / 1000;
    const json_t *v = json_object_get(obj, "expiration");
    std::optional<int64_t> ms;
    if (json_is_string(v)) {
        ms = parse_digits(std::string_view(json_string_value(v), json_string_length(v)));
    } else if (json_is_integer(v)) {
        ms = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d < static_cast<double>(kMaxMillis))
            ms = static_cast<int64_t>(d);
    }
    if (!ms || *ms < 0 || *ms > kMaxMillis)
        return std::nullopt;
    return *ms * 1000;
}

}  // namespace

std::optional<WatchChannel> parse_watch_channel(std::string_view body, std::string *error)
{
    Json doc = load_object(body, error);
    if (!doc)
        return std::nullopt;
    const json_t *root = doc.get();
    auto id = text_of(root, "id");
    auto resource_id = text_of(root, "resourceId");
    if (!id || id->empty() || !resource_id || resource_id->empty()) {
        set_error(error, !id || id->empty() ? "id is missing or not a non-empty string"
                                            : "resourceId is missing or not a non-empty string");
        return std::nullopt;
    }
    WatchChannel ch;
    ch.id = std::move(*id);
    ch.resource_id = std::move(*resource_id);
    ch.token = text_of(root, "token").value_or(std::string());
    ch.expiration = expiration_of(root);
    return ch;
}

}  // namespace gcal::core
