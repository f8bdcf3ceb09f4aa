// GoogleTest suite for core/google: time parsing, URLs, token responses, API
// errors, Retry-After and the typed parsing of every body gcalsync reads.
#include "core/google.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

using namespace gcal::core;

namespace {

constexpr Micros kSecond = 1000000;
constexpr Micros kMinInstant = -62135596800LL * kSecond;               // 0001-01-01T00:00:00Z
constexpr Micros kMaxInstant = 253402300799LL * kSecond + 999999;      // 9999-12-31T23:59:59.999999Z
constexpr Micros k20250325T1300Z = 1742907600LL * kSecond;

// nested returns {"a":[[...[1]...]]} with `depth` levels of objects/arrays in total.
std::string nested(int depth)
{
    std::string s = "{\"a\":";
    for (int i = 1; i < depth; i++)
        s += "[";
    s += "1";
    for (int i = 1; i < depth; i++)
        s += "]";
    return s + "}";
}

std::string events_body(const std::string &items) { return R"({"kind":"calendar#events","items":[)" + items + "]}"; }

}  // namespace

// ---- parse_rfc3339 --------------------------------------------------------------

TEST(Rfc3339, UtcAndOffsets)
{
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00Z"), k20250325T1300Z);
    EXPECT_EQ(parse_rfc3339("2025-03-25t13:00:00z"), k20250325T1300Z);
    EXPECT_EQ(parse_rfc3339("2025-03-25T08:00:00-05:00"), k20250325T1300Z);
    EXPECT_EQ(parse_rfc3339("2025-03-25T18:30:00+05:30"), k20250325T1300Z);
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00+00:00"), k20250325T1300Z);
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00-00:00"), k20250325T1300Z);
    // Offsets cross day, month and year boundaries.
    EXPECT_EQ(parse_rfc3339("2025-03-26T12:59:00+23:59"), k20250325T1300Z);
    EXPECT_EQ(parse_rfc3339("2024-12-31T23:00:00-01:00"), parse_rfc3339("2025-01-01T00:00:00Z"));
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59.5Z"), -kSecond / 2);
}

TEST(Rfc3339, FractionsTruncateToMicroseconds)
{
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00.1Z"), k20250325T1300Z + 100000);
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00.123Z"), k20250325T1300Z + 123000);
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00.123456Z"), k20250325T1300Z + 123456);
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00.1234569Z"), k20250325T1300Z + 123456);
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00.99999999999999999999999Z"), k20250325T1300Z + 999999);
    EXPECT_EQ(parse_rfc3339("2025-03-25T13:00:00.000Z"), k20250325T1300Z);
    EXPECT_EQ(parse_rfc3339("2025-03-25T08:00:00.5-05:00"), k20250325T1300Z + 500000);
    EXPECT_FALSE(parse_rfc3339("2025-03-25T13:00:00.Z"));
    EXPECT_FALSE(parse_rfc3339("2025-03-25T13:00:00,5Z"));
}

TEST(Rfc3339, RangeIsYear1To9999InUtcToo)
{
    EXPECT_EQ(parse_rfc3339("0001-01-01T00:00:00Z"), kMinInstant);
    EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59.999999Z"), kMaxInstant);
    EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59.9999999Z"), kMaxInstant);
    EXPECT_FALSE(parse_rfc3339("0000-12-31T00:00:00Z"));  // Google's "year 0" created
    EXPECT_FALSE(parse_rfc3339("0000-01-01T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("10000-01-01T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("+10000-01-01T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("-0001-01-01T00:00:00Z"));
    // Written in range but the UTC instant is not.
    EXPECT_FALSE(parse_rfc3339("0001-01-01T00:30:00+01:00"));
    EXPECT_FALSE(parse_rfc3339("9999-12-31T23:00:00-05:00"));
    EXPECT_TRUE(parse_rfc3339("0001-01-01T00:30:00-01:00"));
}

TEST(Rfc3339, CalendarDatesAndClockFields)
{
    EXPECT_TRUE(parse_rfc3339("2024-02-29T12:00:00Z"));   // leap year
    EXPECT_TRUE(parse_rfc3339("2000-02-29T12:00:00Z"));   // divisible by 400
    EXPECT_FALSE(parse_rfc3339("2023-02-29T12:00:00Z"));  // not a leap year
    EXPECT_FALSE(parse_rfc3339("1900-02-29T12:00:00Z"));  // divisible by 100
    EXPECT_FALSE(parse_rfc3339("2024-02-30T12:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2025-04-31T12:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2025-00-10T12:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2025-13-10T12:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2025-01-00T12:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2025-01-32T12:00:00Z"));
    EXPECT_TRUE(parse_rfc3339("2025-12-31T23:59:59Z"));
    EXPECT_FALSE(parse_rfc3339("2016-12-31T23:59:60Z"));  // leap second refused
    EXPECT_FALSE(parse_rfc3339("2025-01-01T24:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2025-01-01T12:60:00Z"));
    EXPECT_FALSE(parse_rfc3339("2025-01-01T12:00:61Z"));
}

TEST(Rfc3339, RefusesMalformedText)
{
    for (const char *bad : {
             "", "Z", "garbage", "2025-03-25", "2025-03-25T13:00Z", "2025-03-25T13:00:00",
             "2025-03-25 13:00:00Z", "2025-03-25T13:00:00 Z", " 2025-03-25T13:00:00Z",
             "2025-03-25T13:00:00Z ", "2025-03-25T13:00:00Zjunk", "2025-03-25T13:00:00ZZ",
             "2025-3-25T13:00:00Z", "2025-03-25T1:00:00Z", "20250325T130000Z",
             "2025-03-25T13:00:00+0500", "2025-03-25T13:00:00+05", "2025-03-25T13:00:00+24:00",
             "2025-03-25T13:00:00+05:60", "2025-03-25T13:00:00+05:00:00", "2025-03-25T13:00:00UTC",
             "2025-03-25T13:00:00GMT", "2025-03-25X13:00:00Z", "2025/03/25T13:00:00Z",
             "+025-03-25T13:00:00Z", "2025-03-25T13:00:00.123", "２０２５-03-25T13:00:00Z"}) {
        EXPECT_FALSE(parse_rfc3339(bad)) << bad;
    }
    // An embedded NUL does not end the text.
    EXPECT_FALSE(parse_rfc3339(std::string_view("2025-03-25T13:00:00Z\0", 21)));
}

// ---- parse_date / format_rfc3339_utc ----------------------------------------------

TEST(Date, ParsesRealDatesOnly)
{
    EXPECT_EQ(parse_date("1970-01-01"), 0);
    EXPECT_EQ(parse_date("1969-12-31"), -1);
    EXPECT_EQ(parse_date("2025-03-25"), 20172);
    EXPECT_EQ(parse_date("2024-02-29"), 19782);
    EXPECT_EQ(parse_date("0001-01-01"), -719162);
    EXPECT_EQ(parse_date("9999-12-31"), 2932896);
    for (const char *bad : {"", "2023-02-29", "1900-02-29", "2025-02-30", "2025-13-01", "2025-00-01",
                            "2025-01-00", "0000-01-01", "10000-01-01", "2025-3-25", "2025-03-25T00:00:00Z",
                            "2025-03-25 ", " 2025-03-25", "25-03-2025", "2025-03-2x"}) {
        EXPECT_FALSE(parse_date(bad)) << bad;
    }
}

TEST(Format, RendersUtcWithOptionalMicros)
{
    EXPECT_EQ(format_rfc3339_utc(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339_utc(k20250325T1300Z), "2025-03-25T13:00:00Z");
    EXPECT_EQ(format_rfc3339_utc(k20250325T1300Z + 120), "2025-03-25T13:00:00.000120Z");
    EXPECT_EQ(format_rfc3339_utc(-1), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339_utc(kMinInstant), "0001-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339_utc(kMaxInstant), "9999-12-31T23:59:59.999999Z");
    // Any int64 renders without crashing (out-of-range years are not 4 digits).
    EXPECT_FALSE(format_rfc3339_utc(INT64_MIN).empty());
    EXPECT_FALSE(format_rfc3339_utc(INT64_MAX).empty());
}

TEST(Format, RoundTripsThroughParse)
{
    for (Micros t : {kMinInstant, kMaxInstant, Micros(0), Micros(-1), k20250325T1300Z,
                     parse_rfc3339("2024-02-29T23:59:59.5Z").value(),
                     parse_rfc3339("2000-03-01T00:00:00Z").value()}) {
        EXPECT_EQ(parse_rfc3339(format_rfc3339_utc(t)), t) << t;
    }
    // A deterministic sweep over the whole range.
    uint64_t x = 88172645463325252ULL;
    const auto span = static_cast<uint64_t>(kMaxInstant - kMinInstant);
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Micros t = kMinInstant + static_cast<Micros>(x % span);
        ASSERT_EQ(parse_rfc3339(format_rfc3339_utc(t)), t) << format_rfc3339_utc(t);
    }
}

// ---- URLs ---------------------------------------------------------------------------

TEST(GoogleUrl, PercentEncodesEverythingButUnreserved)
{
    EXPECT_EQ(percent_encode("en.usa#holiday@group.v.calendar.google.com"),
              "en.usa%23holiday%40group.v.calendar.google.com");
    EXPECT_EQ(percent_encode("a/b%c d+e?f&g=h"), "a%2Fb%25c%20d%2Be%3Ff%26g%3Dh");
    EXPECT_EQ(percent_encode("日本"), "%E6%97%A5%E6%9C%AC");
    EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(percent_encode(std::string_view("\0\xff", 2)), "%00%FF");
    EXPECT_EQ(percent_encode(""), "");
}

TEST(GoogleUrl, QueryAndParamsKey)
{
    EXPECT_EQ(with_query("https://x/y", {}), "https://x/y");
    EXPECT_EQ(with_query("https://x/y", {{"a", "1"}, {"b c", "d&e"}}), "https://x/y?a=1&b%20c=d%26e");
    EXPECT_EQ(params_key(calendar_list_params()), "maxResults=250&showDeleted=true&showHidden=true");
    EXPECT_EQ(params_key(events_params()), "maxResults=2500&showDeleted=true&singleEvents=false");
    EXPECT_EQ(params_key({{"z", "1"}, {"a", "x y"}, {"m", "/"}}), "a=x%20y&m=%2F&z=1");
    EXPECT_EQ(params_key({{"b", "2"}, {"a", "1"}}), params_key({{"a", "1"}, {"b", "2"}}));
    EXPECT_EQ(params_key({}), "");
}

TEST(GoogleUrl, ResourceUrls)
{
    const std::string base = "https://www.googleapis.com/calendar/v3";
    EXPECT_EQ(calendar_list_url(base, "", ""),
              base + "/users/me/calendarList?maxResults=250&showDeleted=true&showHidden=true");
    EXPECT_EQ(calendar_list_url(base, "p/1", ""),
              base + "/users/me/calendarList?maxResults=250&showDeleted=true&showHidden=true&pageToken=p%2F1");
    EXPECT_EQ(calendar_list_url(base, "p", "s=="),
              base + "/users/me/calendarList?maxResults=250&showDeleted=true&showHidden=true&pageToken=p&syncToken=s%3D%3D");
    EXPECT_EQ(calendar_url(base, "en.usa#holiday@group.v.calendar.google.com"),
              base + "/calendars/en.usa%23holiday%40group.v.calendar.google.com");
    EXPECT_EQ(calendar_url(base, "a/b%c d日"), base + "/calendars/a%2Fb%25c%20d%E6%97%A5");
    EXPECT_EQ(events_url(base, "me@example.com", "", ""),
              base + "/calendars/me%40example.com/events?maxResults=2500&showDeleted=true&singleEvents=false");
    EXPECT_EQ(events_url(base, "x#y", "", "CPDAlvWDx70CEPDAlvWDx70CGAU="),
              base + "/calendars/x%23y/events?maxResults=2500&showDeleted=true&singleEvents=false"
                     "&syncToken=CPDAlvWDx70CEPDAlvWDx70CGAU%3D");
    EXPECT_EQ(events_url(base, "x", "pg", "st"),
              base + "/calendars/x/events?maxResults=2500&showDeleted=true&singleEvents=false&pageToken=pg&syncToken=st");
}

TEST(GoogleUrl, TokenRequestBody)
{
    EXPECT_EQ(token_request_body("123-abc.apps.googleusercontent.com", "GOCSPX-a+b/c=", "1//0g-x_y"),
              "client_id=123-abc.apps.googleusercontent.com&client_secret=GOCSPX-a%2Bb%2Fc%3D"
              "&refresh_token=1%2F%2F0g-x_y&grant_type=refresh_token");
}

// ---- token responses -------------------------------------------------------------------

TEST(TokenResponse, Granted)
{
    auto r = parse_token_response(200, R"({"access_token":"ya29.a0AfB_byC","expires_in":3599,)"
                                       R"("scope":"https://www.googleapis.com/auth/calendar.readonly","token_type":"Bearer"})");
    EXPECT_EQ(r.outcome, TokenOutcome::Granted);
    EXPECT_EQ(r.access_token, "ya29.a0AfB_byC");
    EXPECT_EQ(r.expires_in, 3599);
    EXPECT_EQ(r.error, "");

    r = parse_token_response(200, R"({"access_token":"t","expires_in":3599.9})");
    EXPECT_EQ(r.outcome, TokenOutcome::Granted);
    EXPECT_EQ(r.expires_in, 3599);
    r = parse_token_response(200, R"({"access_token":"t","expires_in":"3600"})");
    EXPECT_EQ(r.outcome, TokenOutcome::Granted);
    EXPECT_EQ(r.expires_in, 3600);
    r = parse_token_response(200, R"({"access_token":"t","expires_in":-5})");
    EXPECT_EQ(r.outcome, TokenOutcome::Granted);
    EXPECT_EQ(r.expires_in, 0);
    r = parse_token_response(200, R"({"access_token":"t","expires_in":1e300})");
    EXPECT_EQ(r.outcome, TokenOutcome::Granted);
    EXPECT_GT(r.expires_in, 0);
    EXPECT_LT(r.expires_in, 10LL * 366 * 86400);
}

TEST(TokenResponse, MalformedGrantsNeverQuoteTheToken)
{
    for (const char *body : {
             R"({"access_token":"ya29.secret","expires_in":"soon"})", R"({"access_token":"ya29.secret"})",
             R"({"access_token":"ya29.secret","expires_in":null})", R"({"access_token":"ya29.secret","expires_in":"-1"})",
             R"({"access_token":"ya29.secret\r\nX-Evil: 1","expires_in":3599})",
             R"({"access_token":"ya29 secret","expires_in":3599})", R"({"access_token":"","expires_in":3599})",
             R"({"access_token":42,"expires_in":3599})", R"({"expires_in":3599})", R"([])", "",
             "ya29.secret", R"({"access_token":"ya29.secret","expires_in":3599)",
             R"({"access_token":"ya29.secret","access_token":"ya29.secret","expires_in":3599})"}) {
        auto r = parse_token_response(200, body);
        EXPECT_EQ(r.outcome, TokenOutcome::Malformed) << body;
        EXPECT_EQ(r.access_token, "") << body;
        EXPECT_FALSE(r.description.empty()) << body;
        EXPECT_EQ(r.description.find("secret"), std::string::npos) << r.description;
        EXPECT_EQ(r.error.find("secret"), std::string::npos) << r.error;
    }
}

TEST(TokenResponse, DocumentedErrors)
{
    auto r = parse_token_response(400, R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})");
    EXPECT_EQ(r.outcome, TokenOutcome::InvalidGrant);
    EXPECT_EQ(r.error, "invalid_grant");
    EXPECT_EQ(r.description, "Token has been expired or revoked.");
    r = parse_token_response(400, R"({"error":"invalid_grant","error_description":"Bad Request"})");
    EXPECT_EQ(r.outcome, TokenOutcome::InvalidGrant);
    EXPECT_EQ(r.description, "Bad Request");
    r = parse_token_response(401, R"({"error":"invalid_client","error_description":"The OAuth client was not found."})");
    EXPECT_EQ(r.outcome, TokenOutcome::InvalidClient);
    EXPECT_EQ(r.description, "The OAuth client was not found.");
    r = parse_token_response(401, R"({"error":"invalid_client","error_description":"Unauthorized"})");
    EXPECT_EQ(r.outcome, TokenOutcome::InvalidClient);
    EXPECT_EQ(parse_token_response(400, R"({"error":"invalid_client"})").outcome, TokenOutcome::InvalidClient);
    EXPECT_EQ(parse_token_response(400, R"({"error":"unauthorized_client"})").outcome, TokenOutcome::InvalidClient);
}

TEST(TokenResponse, TemporaryAndOtherErrors)
{
    auto r = parse_token_response(429, R"({"error":"rate_limit_exceeded"})");
    EXPECT_EQ(r.outcome, TokenOutcome::Temporary);
    EXPECT_FALSE(r.description.empty());
    r = parse_token_response(503, "<html><body>Service Unavailable</body></html>");
    EXPECT_EQ(r.outcome, TokenOutcome::Temporary);
    EXPECT_NE(r.description.find("503"), std::string::npos);
    EXPECT_EQ(parse_token_response(500, R"({"error":"internal_failure"})").outcome, TokenOutcome::Temporary);
    EXPECT_EQ(parse_token_response(502, "").outcome, TokenOutcome::Temporary);
    // invalid_grant counts only as Google sends it (400).
    EXPECT_EQ(parse_token_response(500, R"({"error":"invalid_grant"})").outcome, TokenOutcome::Temporary);
    EXPECT_EQ(parse_token_response(403, R"({"error":"access_denied"})").outcome, TokenOutcome::OtherError);
    EXPECT_EQ(parse_token_response(400, R"({"error":"unsupported_grant_type"})").outcome, TokenOutcome::OtherError);
    EXPECT_EQ(parse_token_response(404, "Not Found").outcome, TokenOutcome::OtherError);
    EXPECT_EQ(parse_token_response(302, "").outcome, TokenOutcome::OtherError);
}

TEST(TokenResponse, ErrorBodiesAreNeverQuoted)
{
    // A token URL pointing at an echo server must not leak the request.
    auto r = parse_token_response(400, "client_secret=GOCSPX-s3cret&refresh_token=1//r3fresh");
    EXPECT_EQ(r.outcome, TokenOutcome::OtherError);
    EXPECT_EQ(r.description.find("s3cret"), std::string::npos);
    EXPECT_EQ(r.description.find("r3fresh"), std::string::npos);
}

TEST(TokenResponse, DescriptionIsCleanAndBounded)
{
    std::string body = R"({"error":"invalid_grant","error_description":")";
    for (int i = 0; i < 150; i++)
        body += "é";  // 300 bytes
    body += R"("})";
    auto r = parse_token_response(400, body);
    EXPECT_EQ(r.outcome, TokenOutcome::InvalidGrant);
    EXPECT_EQ(r.description.size(), 200u);
    EXPECT_EQ(r.description.substr(0, 4), "éé");

    body = R"({"error":"invalid_grant","error_description":"a)";
    for (int i = 0; i < 150; i++)
        body += "é";
    body += R"("})";
    r = parse_token_response(400, body);
    EXPECT_EQ(r.description.size(), 199u);  // never half a character

    r = parse_token_response(400, R"({"error":"invalid_grant","error_description":"line1\nline2\u0007"})");
    EXPECT_EQ(r.description, "line1 line2");
}

// ---- API errors ------------------------------------------------------------------------

TEST(ApiError, FullSyncRequired)
{
    auto e = parse_api_error(410, R"({"error":{"errors":[{"domain":"calendar","reason":"fullSyncRequired","message":"Sync token is no longer valid, a full sync is required.","locationType":"parameter","location":"syncToken"}],"code":410,"message":"Sync token is no longer valid, a full sync is required."}})");
    EXPECT_EQ(e.status, 410);
    EXPECT_EQ(e.reason, "fullSyncRequired");
    EXPECT_EQ(e.message, "Sync token is no longer valid, a full sync is required.");
    EXPECT_TRUE(e.full_sync_required);
    EXPECT_FALSE(e.retryable || e.rate_limited || e.not_found || e.unauthorized || e.push_not_supported);

    for (const char *body : {R"({"error":{"code":410,"message":"Gone"}})", "", "<html>Gone</html>",
                             R"({"error":{"errors":[{"reason":"deleted"}],"code":410}})", R"({"error":{"code":410,)"}) {
        e = parse_api_error(410, body);
        EXPECT_TRUE(e.full_sync_required) << body;
        EXPECT_FALSE(e.retryable) << body;
        EXPECT_FALSE(e.message.empty()) << body;
    }
    EXPECT_EQ(parse_api_error(410, R"({"error":{"code":410,"message":"Gone"}})").reason, "");
}

TEST(ApiError, RateLimits)
{
    auto e = parse_api_error(403, R"({"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"code":403,"message":"User Rate Limit Exceeded"}})");
    EXPECT_EQ(e.reason, "userRateLimitExceeded");
    EXPECT_EQ(e.message, "User Rate Limit Exceeded");
    EXPECT_TRUE(e.rate_limited && e.retryable);
    e = parse_api_error(403, R"({"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"code":403,"message":"Rate Limit Exceeded"}})");
    EXPECT_EQ(e.reason, "rateLimitExceeded");
    EXPECT_TRUE(e.rate_limited && e.retryable);
    e = parse_api_error(429, R"({"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"code":429,"message":"Rate Limit Exceeded"}})");
    EXPECT_TRUE(e.rate_limited && e.retryable);
    e = parse_api_error(429, "");
    EXPECT_TRUE(e.rate_limited && e.retryable);
    e = parse_api_error(403, R"({"error":{"errors":[{"domain":"usageLimits","message":"Calendar usage limits exceeded.","reason":"quotaExceeded"}],"code":403,"message":"Calendar usage limits exceeded."}})");
    EXPECT_EQ(e.reason, "quotaExceeded");
    EXPECT_TRUE(e.rate_limited && e.retryable);
    // Today's longer form.
    e = parse_api_error(403, R"({"error":{"code":403,"message":"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'calendar-json.googleapis.com' for consumer 'project_number:1'.","errors":[{"message":"Quota exceeded.","domain":"usageLimits","reason":"rateLimitExceeded"}],"status":"PERMISSION_DENIED"}})");
    EXPECT_TRUE(e.rate_limited && e.retryable);
    EXPECT_EQ(e.message.substr(0, 14), "Quota exceeded");
}

TEST(ApiError, Forbidden403HtmlIsRateLimitButOther403sAreNot)
{
    const char *html =
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <meta name=viewport content=\"initial-scale=1,"
        " minimum-scale=1, width=device-width\">\n  <title>Error 403 (Forbidden)!!1</title>\n  <style>\n"
        "    *{margin:0;padding:0}\n  </style>\n  <p><b>403.</b> <ins>That’s an error.</ins>\n";
    auto e = parse_api_error(403, html);
    EXPECT_TRUE(e.rate_limited && e.retryable);
    EXPECT_EQ(e.reason, "");
    EXPECT_EQ(e.message, "Error 403 (Forbidden)!!1");

    e = parse_api_error(403, R"({"error":{"errors":[{"domain":"global","reason":"forbidden","message":"Forbidden"}],"code":403,"message":"Forbidden"}})");
    EXPECT_EQ(e.reason, "forbidden");
    EXPECT_FALSE(e.rate_limited || e.retryable);
    e = parse_api_error(403, R"({"error":{"errors":[{"reason":"insufficientPermissions"}],"code":403,"message":"Insufficient Permission","status":"PERMISSION_DENIED"}})");
    EXPECT_FALSE(e.rate_limited || e.retryable);
    // A quota error that names itself only through the RPC status.
    e = parse_api_error(403, R"({"error":{"code":403,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}})");
    EXPECT_TRUE(e.rate_limited);
}

TEST(ApiError, ServerErrorsNotFoundUnauthorizedPush)
{
    auto e = parse_api_error(500, R"({"error":{"errors":[{"domain":"global","reason":"backendError","message":"Backend Error"}],"code":500,"message":"Backend Error"}})");
    EXPECT_EQ(e.reason, "backendError");
    EXPECT_TRUE(e.retryable);
    EXPECT_FALSE(e.rate_limited);
    for (long status : {502L, 503L, 504L, 599L, 408L})
        EXPECT_TRUE(parse_api_error(status, "").retryable) << status;
    for (long status : {400L, 401L, 403L, 404L, 409L, 410L, 412L, 600L, 302L})
        EXPECT_FALSE(parse_api_error(status, R"({"error":{"code":1,"message":"x"}})").retryable) << status;

    e = parse_api_error(404, R"({"error":{"errors":[{"domain":"global","reason":"notFound","message":"Not Found"}],"code":404,"message":"Not Found"}})");
    EXPECT_TRUE(e.not_found);
    EXPECT_EQ(e.reason, "notFound");
    EXPECT_FALSE(e.retryable || e.full_sync_required);
    EXPECT_TRUE(parse_api_error(404, "<html><body>404</body></html>").not_found);

    e = parse_api_error(401, R"({"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}})");
    EXPECT_TRUE(e.unauthorized);
    EXPECT_EQ(e.reason, "authError");
    EXPECT_FALSE(e.retryable);
    e = parse_api_error(401, R"({"error":"invalid_token","error_description":"Invalid Value"})");
    EXPECT_TRUE(e.unauthorized);
    EXPECT_EQ(e.message, "Invalid Value");

    e = parse_api_error(400, R"({"error":{"errors":[{"domain":"global","reason":"pushNotSupportedForRequestedResource","message":"Push notifications are not supported by this resource."}],"code":400,"message":"Push notifications are not supported by this resource."}})");
    EXPECT_TRUE(e.push_not_supported);
    EXPECT_FALSE(e.retryable);
    EXPECT_FALSE(parse_api_error(400, R"({"error":{"errors":[{"reason":"invalid"}],"code":400}})").push_not_supported);
}

TEST(ApiError, NonJsonBodiesGiveAShortCleanMessage)
{
    EXPECT_EQ(parse_api_error(502, "").message, "empty body");
    EXPECT_EQ(parse_api_error(502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>x</body></html>").message,
              "502 Bad Gateway");
    EXPECT_EQ(parse_api_error(503, "upstream connect error\nreset reason: overflow").message, "upstream connect error");
    EXPECT_EQ(parse_api_error(503, "\n\n   \n  Service   Unavailable  \n").message, "Service Unavailable");
    EXPECT_EQ(parse_api_error(500, R"({"error":{"code":500,)").message, R"({"error":{"code":500,)");
    EXPECT_EQ(parse_api_error(500, "bad \xff\xfe byte").message, "bad \xEF\xBF\xBD\xEF\xBF\xBD byte");
    EXPECT_EQ(parse_api_error(500, "<html><body></body></html>").message, "body is not JSON");

    std::string long_line(5000, 'x');
    EXPECT_EQ(parse_api_error(500, long_line).message.size(), 200u);
    std::string utf8;
    for (int i = 0; i < 300; i++)
        utf8 += "日";
    auto m = parse_api_error(500, utf8).message;
    EXPECT_EQ(m.size(), 198u);  // 66 whole characters of 3 bytes
    std::string json_msg = R"({"error":{"code":500,"message":")" + utf8 + R"("}})";
    EXPECT_EQ(parse_api_error(500, json_msg).message.size(), 198u);
    EXPECT_EQ(parse_api_error(500, R"({"error":{"code":500}})").message, "error without a message");
}

// ---- Retry-After ---------------------------------------------------------------------------

TEST(RetryAfter, DeltaSeconds)
{
    const int64_t now = 1445412000;
    EXPECT_EQ(parse_retry_after("120", now), 120);
    EXPECT_EQ(parse_retry_after(" 7\t", now), 7);
    EXPECT_EQ(parse_retry_after("0", now), 0);
    EXPECT_EQ(parse_retry_after("86400", now), 86400);
    EXPECT_EQ(parse_retry_after("99999999", now), 86400);
    EXPECT_EQ(parse_retry_after("99999999999999999999999999", now), 86400);
    for (const char *bad : {"", " ", "-1", "+5", "1.5", "12s", "1 2", "soon", "0x10"})
        EXPECT_FALSE(parse_retry_after(bad, now)) << bad;
}

TEST(RetryAfter, HttpDates)
{
    const int64_t at = 1445412480;  // Wed, 21 Oct 2015 07:28:00 GMT
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at - 90), 90);
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at), 0);
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at + 3600), 0);  // past
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at - 10 * 86400), 86400);
    EXPECT_EQ(parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", at - 5), 5);
    EXPECT_EQ(parse_retry_after("Wed Oct 21 07:28:00 2015", at - 5), 5);
    EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", 784111777 - 1), 1);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 2), 2);
    // Any clock value is safe (no overflow).
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", INT64_MIN), 86400);
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", INT64_MAX), 0);
    EXPECT_EQ(parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", INT64_MAX), std::nullopt);
    for (const char *bad : {"Wed, 21 Oct 2015 07:28:00", "Wed, 21 Oct 2015 07:28:00 UTC", "Wed, 21 Okt 2015 07:28:00 GMT",
                            "Xyz, 21 Oct 2015 07:28:00 GMT", "Wed, 31 Feb 2015 07:28:00 GMT", "Wed, 21 Oct 2015 25:28:00 GMT",
                            "Wed, 1 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 15 07:28:00 GMT", "2015-10-21T07:28:00Z",
                            "Wed, 21 Oct 2015 07:28:00 GMT x", "Wed Oct 21 07:28:00 2015x", "Wed,"}) {
        EXPECT_FALSE(parse_retry_after(bad, at - 5)) << bad;
    }
}

// ---- calendar list -----------------------------------------------------------------------------

TEST(CalendarListPage, ParsesEntriesAndEnvelope)
{
    std::string error;
    auto page = parse_calendar_list_page(R"({"kind":"calendar#calendarList","etag":"\"p33k\"","nextPageToken":"np","items":[)"
                                         R"({"kind":"calendar#calendarListEntry","id":"me@example.com","summary":"Me","timeZone":"Europe/Berlin",)"
                                         R"("colorId":"14","backgroundColor":"#9fe1e7","foregroundColor":"#000000","selected":true,)"
                                         R"("accessRole":"owner","primary":true,"description":"<b>mine</b>","location":"Berlin"},)"
                                         R"({"id":"en.usa#holiday@group.v.calendar.google.com","summary":"Holidays","summaryOverride":"US",)"
                                         R"("hidden":true,"accessRole":"reader"},)"
                                         R"({"id":"gone@group.calendar.google.com","deleted":true}]})",
                                         &error);
    ASSERT_TRUE(page) << error;
    EXPECT_EQ(page->next_page_token, "np");
    EXPECT_FALSE(page->next_sync_token);
    ASSERT_EQ(page->items.size(), 3u);
    const auto &me = page->items[0];
    EXPECT_EQ(me.calendar_id, "me@example.com");
    EXPECT_EQ(me.summary, "Me");
    EXPECT_FALSE(me.summary_override);
    EXPECT_EQ(me.description, "<b>mine</b>");
    EXPECT_EQ(me.location, "Berlin");
    EXPECT_EQ(me.time_zone, "Europe/Berlin");
    EXPECT_EQ(me.access_role, "owner");
    EXPECT_TRUE(me.is_primary && me.selected);
    EXPECT_FALSE(me.hidden || me.deleted);
    EXPECT_EQ(me.color_id, "14");
    EXPECT_EQ(me.background_color, "#9fe1e7");
    EXPECT_EQ(me.foreground_color, "#000000");
    EXPECT_EQ(me.data.substr(0, 45), R"({"kind":"calendar#calendarListEntry","id":"me)");
    EXPECT_EQ(page->items[1].summary_override, "US");
    EXPECT_TRUE(page->items[1].hidden);
    EXPECT_FALSE(page->items[1].is_primary || page->items[1].selected);
    EXPECT_TRUE(page->items[2].deleted);
    EXPECT_EQ(page->items[2].data, R"({"id":"gone@group.calendar.google.com","deleted":true})");
}

TEST(CalendarListPage, WrongTypesAreAbsentAndMissingItemsIsEmpty)
{
    std::string error;
    auto page = parse_calendar_list_page(
        R"({"items":[{"id":"c","summary":1,"summaryOverride":[],"description":{},"location":true,"timeZone":null,)"
        R"("accessRole":2,"primary":"true","hidden":1,"selected":null,"deleted":"yes","colorId":3,)"
        R"("backgroundColor":false,"foregroundColor":[1]}],"nextSyncToken":5,"nextPageToken":null})",
        &error);
    ASSERT_TRUE(page) << error;
    const auto &c = page->items.at(0);
    EXPECT_FALSE(c.summary || c.summary_override || c.description || c.location || c.time_zone || c.access_role);
    EXPECT_FALSE(c.is_primary || c.hidden || c.selected || c.deleted);
    EXPECT_FALSE(c.color_id || c.background_color || c.foreground_color);
    EXPECT_FALSE(page->next_sync_token || page->next_page_token);

    page = parse_calendar_list_page(R"({"kind":"calendar#calendarList","nextSyncToken":"CPDA="})", &error);
    ASSERT_TRUE(page) << error;
    EXPECT_TRUE(page->items.empty());
    EXPECT_EQ(page->next_sync_token, "CPDA=");
}

TEST(CalendarListPage, ShapeErrorsFailThePage)
{
    struct Case {
        const char *body, *error;
    } cases[] = {
        {R"({"items":{}})", "items is not an array"},
        {R"({"items":null})", "items is not an array"},
        {R"({"items":[{"id":"a"},{"summary":"no id"}]})", "items[1].id is missing"},
        {R"({"items":[{"id":7}]})", "items[0].id is not a string"},
        {R"({"items":[{"id":""}]})", "items[0].id is empty"},
        {R"({"items":[{"id":"a"},"b"]})", "items[1] is not an object"},
    };
    for (const auto &c : cases) {
        std::string error;
        EXPECT_FALSE(parse_calendar_list_page(c.body, &error)) << c.body;
        EXPECT_EQ(error, c.error) << c.body;
    }
    EXPECT_FALSE(parse_calendar_list_page(R"({"items":5})", nullptr));  // null error pointer is fine
}

// ---- calendar ------------------------------------------------------------------------------------

TEST(Calendar, ParsesResource)
{
    std::string error;
    auto cal = parse_calendar(R"({"kind":"calendar#calendar","etag":"\"x\"","id":"me@example.com","summary":"Me",)"
                              R"("description":"d","location":"l","timeZone":"America/Chicago","conferenceProperties":{"allowedConferenceSolutionTypes":["hangoutsMeet"]}})",
                              &error);
    ASSERT_TRUE(cal) << error;
    EXPECT_EQ(cal->calendar_id, "me@example.com");
    EXPECT_EQ(cal->summary, "Me");
    EXPECT_EQ(cal->description, "d");
    EXPECT_EQ(cal->location, "l");
    EXPECT_EQ(cal->time_zone, "America/Chicago");
    EXPECT_EQ(cal->data, R"({"kind":"calendar#calendar","etag":"\"x\"","id":"me@example.com","summary":"Me",)"
                         R"("description":"d","location":"l","timeZone":"America/Chicago","conferenceProperties":{"allowedConferenceSolutionTypes":["hangoutsMeet"]}})");

    cal = parse_calendar(R"({"id":"x","summary":[],"description":1,"location":null,"timeZone":{}})", &error);
    ASSERT_TRUE(cal) << error;
    EXPECT_FALSE(cal->summary || cal->description || cal->location || cal->time_zone);

    EXPECT_FALSE(parse_calendar(R"({"summary":"x"})", &error));
    EXPECT_EQ(error, "id is missing");
    EXPECT_FALSE(parse_calendar(R"({"id":1})", &error));
    EXPECT_FALSE(parse_calendar(R"([{"id":"x"}])", &error));
    EXPECT_EQ(error, "body is not a JSON object");
}

// ---- events ------------------------------------------------------------------------------------------

TEST(EventsPage, TimedEventWithEverything)
{
    std::string error;
    auto page = parse_events_page(
        R"({"kind":"calendar#events","etag":"\"e\"","summary":"me@example.com","updated":"2025-03-25T13:00:00.000Z",)"
        R"("timeZone":"America/Chicago","accessRole":"owner","defaultReminders":[],"nextSyncToken":"CPDAlvWDx70CEPDAlvWDx70CGAU=",)"
        R"("items":[{"kind":"calendar#event","etag":"\"3485815948352798\"","id":"abc123","status":"tentative",)"
        R"("htmlLink":"https://www.google.com/calendar/event?eid=YWJj","created":"2025-03-01T10:00:00.000Z",)"
        R"("updated":"2025-03-02T10:00:00.123Z","summary":"Standup","description":"<p>Agenda &amp; notes</p>",)"
        R"("location":"Room 1","creator":{"email":"boss@example.com","self":true},)"
        R"("organizer":{"email":"team@group.calendar.google.com","displayName":"Team"},)"
        R"("start":{"dateTime":"2025-03-25T08:00:00-05:00","timeZone":"America/Chicago"},)"
        R"("end":{"dateTime":"2025-03-25T08:30:00-05:00","timeZone":"America/Chicago"},)"
        R"("iCalUID":"abc123@google.com","sequence":3,"eventType":"default","transparency":"transparent",)"
        R"("visibility":"private","attendees":[{"email":"a@example.com","responseStatus":"accepted"}]}]})",
        &error);
    ASSERT_TRUE(page) << error;
    EXPECT_EQ(page->time_zone, "America/Chicago");
    EXPECT_EQ(page->next_sync_token, "CPDAlvWDx70CEPDAlvWDx70CGAU=");
    EXPECT_FALSE(page->next_page_token);
    ASSERT_EQ(page->items.size(), 1u);
    const EventRow &e = page->items[0];
    EXPECT_EQ(e.event_id, "abc123");
    EXPECT_EQ(e.status, "tentative");
    EXPECT_EQ(e.summary, "Standup");
    EXPECT_EQ(e.description, "<p>Agenda &amp; notes</p>");
    EXPECT_EQ(e.location, "Room 1");
    EXPECT_EQ(e.start_at, k20250325T1300Z);
    EXPECT_EQ(e.end_at, k20250325T1300Z + 30 * 60 * kSecond);
    EXPECT_FALSE(e.start_date || e.end_date);
    EXPECT_EQ(e.time_zone, "America/Chicago");
    EXPECT_FALSE(e.recurrence);
    EXPECT_FALSE(e.recurring_event_id || e.original_start_at || e.original_start_date);
    EXPECT_EQ(e.ical_uid, "abc123@google.com");
    EXPECT_EQ(e.sequence, 3);
    EXPECT_EQ(e.event_type, "default");
    EXPECT_EQ(e.transparency, "transparent");
    EXPECT_EQ(e.visibility, "private");
    EXPECT_EQ(e.organizer_email, "team@group.calendar.google.com");
    EXPECT_EQ(e.creator_email, "boss@example.com");
    EXPECT_EQ(e.html_link, "https://www.google.com/calendar/event?eid=YWJj");
    EXPECT_EQ(e.created, parse_rfc3339("2025-03-01T10:00:00Z"));
    EXPECT_EQ(e.updated, parse_rfc3339("2025-03-02T10:00:00.123Z"));
    EXPECT_EQ(e.data.front(), '{');
    EXPECT_NE(e.data.find(R"("attendees":[{"email":"a@example.com","responseStatus":"accepted"}])"), std::string::npos);
}

TEST(EventsPage, CancelledStubsFromTheReference)
{
    std::string error;
    const std::string exception =
        R"({"kind":"calendar#event","etag":"\"3485815948352798\"","id":"5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z",)"
        R"("status":"cancelled","recurringEventId":"5hni4sj3ql1669otmjg7sn1mok",)"
        R"("originalStartTime":{"dateTime":"2025-03-25T08:00:00-05:00","timeZone":"America/Chicago"}})";
    const std::string deleted = R"({"kind":"calendar#event","etag":"\"1\"","id":"6pbua6vjeic3e73gvponeo1qp6","status":"cancelled"})";
    auto page = parse_events_page(events_body(exception + "," + deleted), &error);
    ASSERT_TRUE(page) << error;
    ASSERT_EQ(page->items.size(), 2u);
    const EventRow &x = page->items[0];
    EXPECT_EQ(x.event_id, "5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z");
    EXPECT_EQ(x.status, "cancelled");
    EXPECT_EQ(x.recurring_event_id, "5hni4sj3ql1669otmjg7sn1mok");
    EXPECT_EQ(x.original_start_at, k20250325T1300Z);
    EXPECT_FALSE(x.original_start_date);
    EXPECT_FALSE(x.start_at || x.end_at || x.start_date || x.end_date || x.time_zone || x.summary);
    EXPECT_EQ(x.data, exception);
    const EventRow &d = page->items[1];
    EXPECT_EQ(d.event_id, "6pbua6vjeic3e73gvponeo1qp6");
    EXPECT_EQ(d.status, "cancelled");
    EXPECT_FALSE(d.sequence || d.recurrence || d.created || d.updated || d.organizer_email);
    EXPECT_EQ(d.data, deleted);
}

TEST(EventsPage, AllDayEventsAndStatusDefault)
{
    std::string error;
    auto page = parse_events_page(
        events_body(R"({"id":"allday","start":{"date":"2025-03-25"},"end":{"date":"2025-03-26"}},)"
                    R"({"id":"zero","start":{"date":"2025-03-25"},"end":{"date":"2025-03-25"}},)"
                    R"({"id":"inst_20250325","status":"confirmed","recurringEventId":"inst","originalStartTime":{"date":"2025-03-25"},)"
                    R"("start":{"date":"2025-03-27"},"end":{"date":"2025-03-28"}},)"
                    R"({"id":"bad","status":"","start":{"date":"2025-02-30"},"end":{"date":"0000-01-01"}})"),
        &error);
    ASSERT_TRUE(page) << error;
    ASSERT_EQ(page->items.size(), 4u);
    const EventRow &a = page->items[0];
    EXPECT_EQ(a.status, "confirmed");
    EXPECT_EQ(a.start_date, 20172);
    EXPECT_EQ(a.end_date, 20173);  // exclusive, as Google sends it
    EXPECT_FALSE(a.start_at || a.end_at || a.time_zone);
    EXPECT_EQ(page->items[1].start_date, 20172);
    EXPECT_EQ(page->items[1].end_date, 20172);  // start == end is kept as sent
    EXPECT_EQ(page->items[2].original_start_date, 20172);
    EXPECT_FALSE(page->items[2].original_start_at);
    EXPECT_FALSE(page->items[3].start_date || page->items[3].end_date);
    EXPECT_EQ(page->items[3].status, "confirmed");  // empty = absent
}

TEST(EventsPage, YearZeroCreatedIsAbsentButKeptInData)
{
    std::string error;
    auto page = parse_events_page(
        events_body(R"({"id":"bday","created":"0000-12-31T00:00:00Z","updated":"2025-01-01T00:00:00Z","eventType":"birthday"})"),
        &error);
    ASSERT_TRUE(page) << error;
    const EventRow &e = page->items.at(0);
    EXPECT_FALSE(e.created);
    EXPECT_EQ(e.updated, parse_rfc3339("2025-01-01T00:00:00Z"));
    EXPECT_EQ(e.event_type, "birthday");
    EXPECT_NE(e.data.find(R"("created":"0000-12-31T00:00:00Z")"), std::string::npos);
}

TEST(EventsPage, WrongTypesInEveryFieldNeverFail)
{
    std::string error;
    auto page = parse_events_page(
        events_body(R"({"id":"w","status":5,"summary":1,"description":[],"location":{},"start":"2025-01-01",)"
                    R"("end":{"dateTime":5,"date":true,"timeZone":3},"recurrence":"RRULE:FREQ=DAILY","recurringEventId":1,)"
                    R"("originalStartTime":[],"iCalUID":false,"sequence":"3","eventType":1,"transparency":null,)"
                    R"("visibility":2,"organizer":"a@b","creator":{"email":7},"htmlLink":[],"created":1,"updated":"yesterday"},)"
                    R"({"id":"w2","start":{"dateTime":"2025-03-25T08:00:00","timeZone":["x"]},"end":null,"sequence":1.5,)"
                    R"("recurrence":[1,null,{}],"originalStartTime":{"dateTime":"soon","date":20250325}},)"
                    R"({"id":"w3","sequence":2147483648},{"id":"w4","sequence":-2147483648},{"id":"w5","sequence":-2147483649})"),
        &error);
    ASSERT_TRUE(page) << error;
    ASSERT_EQ(page->items.size(), 5u);
    for (int i = 0; i < 2; i++) {
        const EventRow &e = page->items[i];
        EXPECT_EQ(e.status, "confirmed");
        EXPECT_FALSE(e.summary || e.description || e.location || e.start_at || e.end_at || e.start_date ||
                     e.end_date || e.time_zone || e.recurring_event_id || e.original_start_at ||
                     e.original_start_date || e.ical_uid || e.sequence || e.organizer_email ||
                     e.creator_email || e.html_link || e.created || e.updated || e.self_response)
            << e.data;
    }
    // Present with another type: absent. Left out by Google: its default.
    EXPECT_FALSE(page->items[0].event_type || page->items[0].transparency || page->items[0].visibility);
    EXPECT_EQ(page->items[1].event_type, OptText("default"));
    EXPECT_EQ(page->items[1].transparency, OptText("opaque"));
    EXPECT_EQ(page->items[1].visibility, OptText("default"));
    EXPECT_FALSE(page->items[0].recurrence);
    ASSERT_TRUE(page->items[1].recurrence);  // an array: non-strings skipped
    EXPECT_TRUE(page->items[1].recurrence->empty());
    EXPECT_FALSE(page->items[2].sequence);
    EXPECT_EQ(page->items[3].sequence, INT32_MIN);
    EXPECT_FALSE(page->items[4].sequence);
}

TEST(EventsPage, RecurringMaster)
{
    std::string error;
    auto page = parse_events_page(
        events_body(R"({"id":"5hni4sj3ql1669otmjg7sn1mok","status":"confirmed","summary":"Weekly",)"
                    R"("start":{"dateTime":"2025-03-04T08:00:00-06:00","timeZone":"America/Chicago"},)"
                    R"("end":{"dateTime":"2025-03-04T09:00:00-06:00","timeZone":"America/Chicago"},)"
                    R"("recurrence":["EXDATE;TZID=America/Chicago:20250318T080000","RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=10",7]})"),
        &error);
    ASSERT_TRUE(page) << error;
    const EventRow &m = page->items.at(0);
    ASSERT_TRUE(m.recurrence);
    EXPECT_EQ(*m.recurrence, (std::vector<std::string>{"EXDATE;TZID=America/Chicago:20250318T080000",
                                                       "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=10"}));
    EXPECT_EQ(m.start_at, parse_rfc3339("2025-03-04T14:00:00Z"));
    EXPECT_EQ(m.time_zone, "America/Chicago");
    EXPECT_FALSE(m.recurring_event_id);
}

TEST(EventsPage, UnicodeAndHtmlAreKeptVerbatim)
{
    std::string error;
    const std::string item =
        R"({"id":"u","summary":"Café ☕ 日本 😀","description":"<a href=\"https://x/?a=1&b=2\">link</a><br>\n\t\"q\" \\ </script>",)"
        R"("location":"Zürich","extendedProperties":{"private":{"k":"v"}},"n":1.5,"big":9007199254740993})";
    auto page = parse_events_page(events_body(item), &error);
    ASSERT_TRUE(page) << error;
    const EventRow &e = page->items.at(0);
    EXPECT_EQ(e.summary, "Café ☕ 日本 😀");
    EXPECT_EQ(e.description, "<a href=\"https://x/?a=1&b=2\">link</a><br>\n\t\"q\" \\ </script>");
    EXPECT_EQ(e.location, "Zürich");
    EXPECT_EQ(e.data, item);  // the item's own text, byte for byte
    // Typed fields decode escapes; data keeps the text as sent (jsonb decodes it).
    page = parse_events_page(events_body(R"({"id":"e","summary":"caf\u00e9 \ud83d\ude00 \/"})"), &error);
    ASSERT_TRUE(page) << error;
    EXPECT_EQ(page->items.at(0).summary, "café 😀 /");
    EXPECT_EQ(page->items.at(0).data, R"({"id":"e","summary":"caf\u00e9 \ud83d\ude00 \/"})");
}

TEST(EventsPage, DataIsEachItemsTextAsSent)
{
    std::string error;
    auto page = parse_events_page(
        "{\n  \"kind\": \"calendar#events\", \"x\": {\"items\": [0]},\n  \"items\": [\n"
        "    { \"id\" : \"a\", \"x\" : [ 1 , 2 ], \"s\": \"]}\\\"[{\" }\n ,\n"
        "    {\"id\":\"b\",\"n\":-1.5e3}  ]\n}\n",
        &error);
    ASSERT_TRUE(page) << error;
    ASSERT_EQ(page->items.size(), 2u);
    EXPECT_EQ(page->items[0].data, "{ \"id\" : \"a\", \"x\" : [ 1 , 2 ], \"s\": \"]}\\\"[{\" }");
    EXPECT_EQ(page->items[1].data, R"({"id":"b","n":-1.5e3})");
}

TEST(EventsPage, DataFallsBackToDumpWhenTheLayoutIsNotRead)
{
    std::string error;
    // An escaped key could spell "items": the scanner does not guess, jansson's dump is used.
    auto page = parse_events_page(R"({"\u006bind":"x","items":[ {"id" : "a"} ]})", &error);
    ASSERT_TRUE(page) << error;
    EXPECT_EQ(page->items.at(0).data, R"({"id":"a"})");
}

TEST(ItemsLayout, FindsTheArrayAndEveryElementOrGivesUp)
{
    const std::string body = R"({"a":{"items":[1]},"items":[{"id":"x"},"s",[1,[2]],3,true,null],"b":"items"})";
    auto t = items_layout(body);
    ASSERT_TRUE(t);
    std::vector<std::string_view> want = {R"({"id":"x"})", R"("s")", "[1,[2]]", "3", "true", "null"};
    EXPECT_EQ(t->items, want);
    EXPECT_EQ(t->array, R"([{"id":"x"},"s",[1,[2]],3,true,null])");
    EXPECT_EQ(t->array.data(), body.data() + body.find("[{"));
    EXPECT_EQ(items_layout(R"({"kind":"x"})")->items.size(), 0u);
    EXPECT_TRUE(items_layout(R"({"kind":"x"})")->array.empty());
    EXPECT_EQ(items_layout(R"({})")->items.size(), 0u);
    EXPECT_EQ(items_layout(R"({"items":[]})")->array, "[]");
    EXPECT_EQ(items_layout(R"( { "items" : [ ] } )")->array, "[ ]");
    for (const char *bad : {"", "[]", "{", R"({"items":[1,)", R"({"items":[{"a":"]})", R"({"it\u0065ms":[1]})",
                            R"({"items":[1 2]})", R"({"a" 1})"})
        EXPECT_FALSE(items_layout(bad)) << bad;
}

TEST(EventsPage, FastAndWholeParsesAgree)
{
    // The same page through the fast path (item by item) and, with an escaped
    // key that makes the scan give up, through the whole-body parse.
    const std::string items =
        R"([{"id":"a","status":"confirmed","start":{"dateTime":"2025-03-25T08:00:00-05:00"},"recurrence":["RRULE:FREQ=DAILY"]},)"
        R"({"id":"b","status":"cancelled"}])";
    std::string error;
    auto fast = parse_events_page(R"({"timeZone":"UTC","nextSyncToken":"s","items":)" + items + "}", &error);
    ASSERT_TRUE(fast) << error;
    auto whole = parse_events_page(R"({"\u0074imeZone":"UTC","nextSyncToken":"s","items":)" + items + "}", &error);
    ASSERT_TRUE(whole) << error;
    ASSERT_EQ(fast->items.size(), 2u);
    ASSERT_EQ(whole->items.size(), 2u);
    EXPECT_EQ(fast->time_zone, "UTC");
    EXPECT_EQ(whole->time_zone, "UTC");
    EXPECT_EQ(fast->next_sync_token, whole->next_sync_token);
    for (std::size_t i = 0; i < 2; i++) {
        EXPECT_EQ(fast->items[i].event_id, whole->items[i].event_id);
        EXPECT_EQ(fast->items[i].status, whole->items[i].status);
        EXPECT_EQ(fast->items[i].start_at, whole->items[i].start_at);
        EXPECT_EQ(fast->items[i].recurrence, whole->items[i].recurrence);
        EXPECT_EQ(fast->items[i].data, whole->items[i].data);  // both compact here
    }
}

TEST(EventsPage, ErrorsAreTheSameWhateverThePath)
{
    std::string error;
    EXPECT_FALSE(parse_events_page(R"({"items":[{"id":"a"},{"summary":"no id"}]})", &error));
    EXPECT_EQ(error, "items[1].id is missing");
    EXPECT_FALSE(parse_events_page(R"({"items":[{"id":"a"}, 5]})", &error));
    EXPECT_EQ(error, "items[1] is not an object");
    EXPECT_FALSE(parse_events_page(R"({"items":5})", &error));
    EXPECT_EQ(error, "items is not an array");
    EXPECT_FALSE(parse_events_page(R"({"items":[{"id":"a","id":"b"}]})", &error));
    EXPECT_NE(error.find("body is not a JSON object"), std::string::npos) << error;
    EXPECT_FALSE(parse_events_page(R"({"items":[{"id":"a"}],"items":[]})", &error));
    EXPECT_NE(error.find("body is not a JSON object"), std::string::npos) << error;
    EXPECT_FALSE(parse_events_page(R"({"items":[{"id":"a"}]} trailing)", &error));
    EXPECT_NE(error.find("body is not a JSON object"), std::string::npos) << error;
}

TEST(EventsPage, EnvelopeFieldsOnlyWhenStrings)
{
    std::string error;
    auto page = parse_events_page(R"({"nextPageToken":"p","timeZone":"UTC"})", &error);
    ASSERT_TRUE(page) << error;
    EXPECT_TRUE(page->items.empty());
    EXPECT_EQ(page->next_page_token, "p");
    EXPECT_FALSE(page->next_sync_token);
    EXPECT_EQ(page->time_zone, "UTC");
    page = parse_events_page(R"({"nextPageToken":1,"nextSyncToken":[],"timeZone":{},"items":[]})", &error);
    ASSERT_TRUE(page) << error;
    EXPECT_FALSE(page->next_page_token || page->next_sync_token || page->time_zone);
}

TEST(EventsPage, MalformedBodiesFail)
{
    struct Case {
        std::string body;
        const char *error_start;
    } cases[] = {
        {"", "body is not a JSON object: "},
        {"[]", "body is not a JSON object"},
        {"\"items\"", "body is not a JSON object: "},
        {"null", "body is not a JSON object: "},
        {"<html><body>Error</body></html>", "body is not a JSON object: "},
        {R"({"items":[{"id":"a"}])", "body is not a JSON object: "},  // truncated
        {R"({"items":[{"id":"a"}]} x)", "body is not a JSON object: "},
        {R"({"items":[],"items":[]})", "body is not a JSON object: duplicate object key"},
        {R"({"items":[{"id":"a","id":"b"}]})", "body is not a JSON object: duplicate object key"},
        {"{\"items\":[{\"id\":\"a\",\"summary\":\"\xff\"}]}", "body is not a JSON object: "},
        {"{\"items\":[{\"id\":\"a\",\"summary\":\"\xED\xA0\x80\"}]}", "body is not a JSON object: "},
        {R"({"items":[{"id":"a","summary":"\u0000"}]})", "body is not a JSON object: "},
        {R"({"items":"x"})", "items is not an array"},
        {R"({"items":[{"status":"cancelled"}]})", "items[0].id is missing"},
        {R"({"items":[{"id":null}]})", "items[0].id is not a string"},
        {R"({"items":[[]]})", "items[0] is not an object"},
        {nested(65), "body is nested deeper than 64 levels"},
        {nested(100000), "body is nested deeper than 64 levels"},
    };
    for (const auto &c : cases) {
        std::string error;
        EXPECT_FALSE(parse_events_page(c.body, &error)) << c.body.substr(0, 80);
        EXPECT_EQ(error.rfind(c.error_start, 0), 0u) << error;
    }
}

TEST(EventsPage, DepthLimitIsExactlySixtyFour)
{
    std::string error;
    EXPECT_TRUE(parse_events_page(nested(64), &error)) << error;
    EXPECT_FALSE(parse_events_page(nested(65), &error));
    // Brackets inside strings do not count, escaped quotes do not end a string.
    std::string body = R"({"items":[{"id":"a","summary":"\"[[[[)" + std::string(200, '[') + R"("}]})";
    EXPECT_TRUE(parse_events_page(body, &error)) << error;
}

TEST(EventsPage, ErrorsNeverQuoteTheBody)
{
    std::string error;
    EXPECT_FALSE(parse_events_page(R"({"items":[{"id":"a","token":ya29_secret_value}]})", &error));
    EXPECT_EQ(error.find("ya29"), std::string::npos) << error;
    EXPECT_NE(error.find("at byte"), std::string::npos) << error;
    EXPECT_FALSE(parse_events_page(R"({"items":[{"id":"a","ya29_secret":1,"ya29_secret":2}]})", &error));
    EXPECT_EQ(error.find("ya29"), std::string::npos) << error;
}

TEST(EventsPage, LargePage)
{
    std::string body = R"({"kind":"calendar#events","items":[)";
    for (int i = 0; i < 2500; i++) {
        if (i)
            body += ",";
        body += R"({"kind":"calendar#event","id":"ev)" + std::to_string(i) +
                R"(","status":"confirmed","summary":"Meeting","start":{"dateTime":"2025-03-25T08:00:00-05:00","timeZone":"America/Chicago"},)"
                R"("end":{"dateTime":"2025-03-25T09:00:00-05:00","timeZone":"America/Chicago"},"sequence":)" +
                std::to_string(i) + "}";
    }
    body += R"(],"nextPageToken":"next"})";
    std::string error;
    auto page = parse_events_page(body, &error);
    ASSERT_TRUE(page) << error;
    ASSERT_EQ(page->items.size(), 2500u);
    EXPECT_EQ(page->items[2499].event_id, "ev2499");
    EXPECT_EQ(page->items[2499].sequence, 2499);
    EXPECT_EQ(page->items[7].start_at, k20250325T1300Z);
}

// ---- watch channels ----------------------------------------------------------------------------------

TEST(WatchChannel, ExpirationAsStringOrNumber)
{
    std::string error;
    auto ch = parse_watch_channel(R"({"kind":"api#channel","id":"01234567-89ab-cdef-0123-456789abcdef","resourceId":"o3hgv1538sdjfh",)"
                                  R"("resourceUri":"https://www.googleapis.com/calendar/v3/calendars/x/events","token":"tok","expiration":"1426325213000"})",
                                  &error);
    ASSERT_TRUE(ch) << error;
    EXPECT_EQ(ch->id, "01234567-89ab-cdef-0123-456789abcdef");
    EXPECT_EQ(ch->resource_id, "o3hgv1538sdjfh");
    EXPECT_EQ(ch->token, "tok");
    EXPECT_EQ(ch->expiration, 1426325213000LL * 1000);

    ch = parse_watch_channel(R"({"id":"c","resourceId":"r","expiration":1426325213000})", &error);
    ASSERT_TRUE(ch) << error;
    EXPECT_EQ(ch->token, "");
    EXPECT_EQ(ch->expiration, 1426325213000LL * 1000);

    for (const char *bad_expiration : {R"("soon")", R"("-1")", "-1", R"("")", "null", "[]", R"("99999999999999999999")",
                                       "9223372036854775807", R"("1426325213000.5")"}) {
        std::string body = std::string(R"({"id":"c","resourceId":"r","expiration":)") + bad_expiration + "}";
        ch = parse_watch_channel(body, &error);
        ASSERT_TRUE(ch) << error;
        EXPECT_FALSE(ch->expiration) << body;
    }
    ch = parse_watch_channel(R"({"id":"c","resourceId":"r","token":5})", &error);
    ASSERT_TRUE(ch) << error;
    EXPECT_FALSE(ch->expiration);
    EXPECT_EQ(ch->token, "");
}

TEST(WatchChannel, RequiresIdAndResourceId)
{
    std::string error;
    EXPECT_FALSE(parse_watch_channel(R"({"resourceId":"r"})", &error));
    EXPECT_NE(error.find("id"), std::string::npos);
    EXPECT_FALSE(parse_watch_channel(R"({"id":"c"})", &error));
    EXPECT_NE(error.find("resourceId"), std::string::npos);
    EXPECT_FALSE(parse_watch_channel(R"({"id":"c","resourceId":7})", &error));
    EXPECT_FALSE(parse_watch_channel(R"({"id":"","resourceId":"r"})", &error));
    EXPECT_FALSE(parse_watch_channel("", &error));
    EXPECT_FALSE(parse_watch_channel(R"({"id":"c","id":"d","resourceId":"r"})", &error));
}

// ---- echoed credentials -------------------------------------------------------

TEST(EchoedCredentials, ErrorTextQuotingTheRequestIsWithheld)
{
    // A proxy's error page quoting the request (not JSON: its first line is kept).
    auto e = parse_api_error(502, "Authorization: Bearer ya29.a0AfB_leaked\nVia: proxy\n");
    EXPECT_EQ(e.message.find("ya29"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("withheld"), std::string::npos) << e.message;
    EXPECT_TRUE(e.retryable);
    // A JSON error whose message quotes the token.
    e = parse_api_error(400, R"({"error":{"code":400,"message":"bad header: bearer ya29.x"}})");
    EXPECT_EQ(e.message.find("ya29"), std::string::npos) << e.message;
    auto t = parse_token_response(400, R"({"error":"invalid_request","error_description":"refresh_token=1//0g-leak is bad"})");
    EXPECT_EQ(t.description.find("1//0g"), std::string::npos) << t.description;
    EXPECT_EQ(t.error, "invalid_request");
    t = parse_token_response(502, "client_secret=GOCSPX-x&refresh_token=1//0g");
    EXPECT_EQ(t.description, "HTTP 502 with a body that is not JSON");
    // Google's own errors pass unchanged.
    e = parse_api_error(401, R"({"error":{"code":401,"message":"Request had invalid authentication credentials."}})");
    EXPECT_EQ(e.message, "Request had invalid authentication credentials.");
    EXPECT_FALSE(echoes_credentials("Rate Limit Exceeded"));
    EXPECT_TRUE(echoes_credentials("AUTHORIZATION: x"));
}

// Issue 13, item 8: the 403s that retrying does not cure, and the daily quota.
TEST(ApiError, PermanentAndDailyLimit)
{
    auto e = parse_api_error(403, R"({"error":{"code":403,"message":"Request had insufficient authentication scopes.","errors":[{"message":"Insufficient Permission","domain":"global","reason":"insufficientPermissions"}],"status":"PERMISSION_DENIED"}})");
    EXPECT_TRUE(e.permanent && e.owner_wide);
    EXPECT_FALSE(e.retryable || e.rate_limited || e.daily_limit);
    e = parse_api_error(403, R"({"error":{"errors":[{"domain":"usageLimits","reason":"accessNotConfigured","message":"Access Not Configured."}],"code":403,"message":"Access Not Configured."}})");
    EXPECT_TRUE(e.permanent && e.owner_wide);
    e = parse_api_error(403, R"({"error":{"errors":[{"domain":"global","reason":"forbidden","message":"Forbidden"}],"code":403,"message":"Forbidden"}})");
    EXPECT_TRUE(e.permanent);
    EXPECT_FALSE(e.owner_wide || e.retryable);
    e = parse_api_error(403, R"({"error":{"errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded","message":"Daily Limit Exceeded"}],"code":403,"message":"Daily Limit Exceeded"}})");
    EXPECT_TRUE(e.daily_limit);
    EXPECT_FALSE(e.permanent || e.retryable || e.rate_limited);
    // Rate limits stay temporary; an HTML 403 is no permanent error.
    e = parse_api_error(403, R"({"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"x"}],"code":403,"message":"x"}})");
    EXPECT_FALSE(e.permanent || e.daily_limit);
    e = parse_api_error(403, "<html>403</html>");
    EXPECT_FALSE(e.permanent || e.daily_limit);
}

TEST(TokenResponse, ScopeAndGrantsCalendar)
{
    auto t = parse_token_response(200, R"({"access_token":"ya29.a","expires_in":3599,"scope":"openid https://www.googleapis.com/auth/userinfo.email","token_type":"Bearer"})");
    ASSERT_EQ(t.outcome, TokenOutcome::Granted);
    ASSERT_TRUE(t.scope.has_value());
    EXPECT_FALSE(grants_calendar(*t.scope));
    t = parse_token_response(200, R"({"access_token":"ya29.a","expires_in":3599,"token_type":"Bearer"})");
    EXPECT_FALSE(t.scope.has_value());
    EXPECT_TRUE(grants_calendar("https://www.googleapis.com/auth/calendar.readonly"));
    EXPECT_TRUE(grants_calendar("openid https://www.googleapis.com/auth/calendar"));
    EXPECT_TRUE(grants_calendar("https://www.googleapis.com/auth/calendar.events.readonly email"));
    EXPECT_FALSE(grants_calendar("https://www.googleapis.com/auth/calendarx"));
    EXPECT_FALSE(grants_calendar(""));
}

TEST(PacificMidnight, StandardAndDaylightTime)
{
    // 2025-01-15T12:00:00Z (PST, UTC-8): next midnight 2025-01-16T08:00:00Z.
    EXPECT_EQ(next_pacific_midnight(1736942400LL * kSecond), 1737014400LL * kSecond);
    // 2025-07-15T12:00:00Z (PDT, UTC-7): next midnight 2025-07-16T07:00:00Z.
    EXPECT_EQ(next_pacific_midnight(1752580800LL * kSecond), 1752649200LL * kSecond);
    // 2025-07-16T06:59:59Z is still the 15th in Los Angeles.
    EXPECT_EQ(next_pacific_midnight(1752649199LL * kSecond), 1752649200LL * kSecond);
    EXPECT_EQ(next_pacific_midnight(1752649200LL * kSecond), 1752649200LL * kSecond + 86400 * kSecond);
    // 2025-03-08 (PST) -> midnight of Sunday 2025-03-09 is still PST: 08:00Z.
    EXPECT_EQ(next_pacific_midnight(1741464000LL * kSecond), 1741507200LL * kSecond);
    // The midnight after the switch (2025-03-10) is PDT: 07:00Z.
    EXPECT_EQ(next_pacific_midnight(1741507200LL * kSecond), 1741590000LL * kSecond);
    // 2025-11-02 (first Sunday of November): its midnight is still PDT (07:00Z), the next one PST.
    EXPECT_EQ(next_pacific_midnight(1762041600LL * kSecond), 1762066800LL * kSecond);
    EXPECT_EQ(next_pacific_midnight(1762066800LL * kSecond), 1762156800LL * kSecond);
}

// Issue 13, items 11 and 12: Google's omitted defaults, the owner's own
// response, and the calendar's summary in the events envelope.
TEST(EventsPage, DefaultsSelfResponseAndEnvelopeSummary)
{
    std::string error;
    auto page = parse_events_page(R"({"kind":"calendar#events","summary":"Team","timeZone":"Asia/Tokyo","nextSyncToken":"s","items":[
        {"id":"a1"},
        {"id":"a2","transparency":"transparent","visibility":"private","eventType":"focusTime",
         "attendees":[{"email":"x@example.com","responseStatus":"accepted"},{"email":"me@example.com","self":true,"responseStatus":"declined"}]},
        {"id":"a3","transparency":17,"attendees":[{"self":false,"responseStatus":"accepted"},{"self":true}]},
        {"id":"a4","attendees":"nope"}]})", &error);
    ASSERT_TRUE(page) << error;
    ASSERT_EQ(page->items.size(), 4u);
    EXPECT_EQ(page->summary, OptText("Team"));
    EXPECT_EQ(page->time_zone, OptText("Asia/Tokyo"));
    const auto &a1 = page->items[0];
    EXPECT_EQ(a1.transparency, OptText("opaque"));
    EXPECT_EQ(a1.visibility, OptText("default"));
    EXPECT_EQ(a1.event_type, OptText("default"));
    EXPECT_FALSE(a1.self_response);
    const auto &a2 = page->items[1];
    EXPECT_EQ(a2.transparency, OptText("transparent"));
    EXPECT_EQ(a2.visibility, OptText("private"));
    EXPECT_EQ(a2.event_type, OptText("focusTime"));
    EXPECT_EQ(a2.self_response, OptText("declined"));
    const auto &a3 = page->items[2];
    EXPECT_FALSE(a3.transparency);  // present with another type: absent, not the default
    EXPECT_FALSE(a3.self_response);
    EXPECT_FALSE(page->items[3].self_response);
}
