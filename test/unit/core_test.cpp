// GoogleTest suite for src/core: pure C++, no PostgreSQL.
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/notify.hpp"
#include "core/url.hpp"

#include <gtest/gtest.h>

using namespace gcal::core;

// ---- limits ---------------------------------------------------------------

TEST(Limits, OwnerAcceptsOrdinaryUnicodeAndMaximumLength)
{
    EXPECT_FALSE(check_owner("alice"));
    EXPECT_FALSE(check_owner("o'brien \"\\\" %#/ 日本"));
    std::string longest;
    for (std::size_t i = 0; i < kMaxOwnerChars; i++)
        longest += "ö";  // two bytes each: the limit counts characters
    EXPECT_FALSE(check_owner(longest));
}

TEST(Limits, OwnerRefusesEmptyTooLongAndBrokenUtf8)
{
    auto empty = check_owner("");
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->problem, InputProblem::Empty);

    auto longer = check_owner(std::string(kMaxOwnerChars + 1, 'x'));
    ASSERT_TRUE(longer);
    EXPECT_EQ(longer->problem, InputProblem::TooLong);
    EXPECT_NE(longer->detail.find("1025"), std::string::npos);

    for (const char *bad : {"\xC3", "\xC0\xAF", "a\xFF", "\xED\xA0", "\xF5\x80\x80\x80"}) {
        auto r = check_owner(bad);
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->problem, InputProblem::InvalidEncoding);
    }
}

TEST(Limits, Utf8LengthCountsCodePoints)
{
    EXPECT_EQ(utf8_length(""), 0u);
    EXPECT_EQ(utf8_length("abc"), 3u);
    EXPECT_EQ(utf8_length("日本"), 2u);
    EXPECT_EQ(utf8_length("\xF0\x9F\x98\x80"), 1u);  // emoji, 4 bytes
    EXPECT_FALSE(utf8_length("\xF0\x9F\x98"));      // cut short
}

TEST(Limits, SecretRulesAndNoValueInMessages)
{
    EXPECT_FALSE(check_secret("refresh token", "1//0gAbC-dEf_123", kMaxTokenBytes));
    auto empty = check_secret("refresh token", "", kMaxTokenBytes);
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->problem, InputProblem::Empty);
    auto spaced = check_secret("refresh token", "secret-value\n", kMaxTokenBytes);
    ASSERT_TRUE(spaced);
    EXPECT_EQ(spaced->problem, InputProblem::ControlCharacter);
    EXPECT_EQ(spaced->message.find("secret-value"), std::string::npos);
    EXPECT_EQ(spaced->detail.find("secret-value"), std::string::npos);
    auto longer = check_secret("client secret", std::string(kMaxClientFieldBytes + 1, 's'),
                               kMaxClientFieldBytes);
    ASSERT_TRUE(longer);
    EXPECT_EQ(longer->problem, InputProblem::TooLong);
    EXPECT_EQ(longer->detail.find("sss"), std::string::npos);
}

// ---- url ------------------------------------------------------------------

TEST(Url, LoopbackHosts)
{
    for (const char *h : {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1"})
        EXPECT_TRUE(is_loopback_host(h)) << h;
    for (const char *h : {"example.com", "10.0.0.1", "128.0.0.1", "127.0.0", "127.0.0.1.example.com",
                          "localhost.example.com", "::2", "1270.0.0.1", "127.0.0.256"})
        EXPECT_FALSE(is_loopback_host(h)) << h;
}

TEST(Url, AcceptsHttpsAnywhereAndHttpToLoopback)
{
    for (const char *u : {"https://www.googleapis.com/calendar/v3", "https://oauth2.googleapis.com/token",
                          "http://127.0.0.1:8080/calendar/v3", "http://localhost/token",
                          "http://[::1]:9000/token", "HTTPS://Example.COM", "https://example.com:443/"})
        EXPECT_FALSE(check_endpoint_url(u, false)) << u;
    EXPECT_FALSE(check_endpoint_url("", true));
}

TEST(Url, RefusesWithReasonAndHint)
{
    struct Case {
        const char *url;
        const char *reason;
    } cases[] = {
        {"", "must not be empty"},
        {"http://example.com/v3", "only to a loopback host"},
        {"http://10.0.0.1/token", "only to a loopback host"},
        {"http://127.0.0.1.nip.io/token", "only to a loopback host"},
        {"ftp://example.com/", "not supported"},
        {"example.com/v3", "no scheme"},
        {"https://user:pw@example.com/", "credentials"},
        {"https://example.com/v3?key=1", "query or fragment"},
        {"https://example.com/v3#frag", "query or fragment"},
        {"https://example.com:0/", "invalid port"},
        {"https://example.com:99999/", "invalid port"},
        {"https://example.com:/", "invalid port"},
        {"https://example.com:8a/", "invalid port"},
        {"https:///path", "no host"},
        {"https://[::1/path", "unterminated"},
        {"https://exa mple.com/", "spaces"},
    };
    for (const auto &c : cases) {
        auto err = check_endpoint_url(c.url, false);
        ASSERT_TRUE(err) << c.url;
        EXPECT_NE(err->message.find(c.reason), std::string::npos) << c.url << ": " << err->message;
        EXPECT_FALSE(err->hint.empty()) << c.url;
    }
}

TEST(Url, ParsesParts)
{
    UrlError why;
    auto u = parse_endpoint_url("http://[::1]:8080/calendar/v3", &why);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->scheme, "http");
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 8080);
    EXPECT_EQ(u->path, "/calendar/v3");
    EXPECT_TRUE(u->loopback);
}

// ---- json -----------------------------------------------------------------

TEST(Json, ParseDumpAndErrors)
{
    std::string err;
    Json v = parse_json(R"({"b":1,"a":[true,null,"x"]})", &err);
    ASSERT_TRUE(v) << err;
    EXPECT_EQ(dump_json(v), R"({"b":1,"a":[true,null,"x"]})");
    Json copy = v;  // shares the value: one more reference, freed by scope
    EXPECT_EQ(copy.get(), v.get());

    EXPECT_FALSE(parse_json("{\"a\":", &err));
    EXPECT_NE(err.find("line 1"), std::string::npos);
    EXPECT_FALSE(parse_json(R"({"a":1,"a":2})", &err));  // duplicate keys are ambiguous
    EXPECT_FALSE(parse_json("\"\xFF\"", &err));           // invalid UTF-8
}

TEST(Json, StringEscapingMatchesJansson)
{
    for (std::string s : {std::string("plain"), std::string("quote\" back\\slash"),
                          std::string("ctl\x01\x1f\n\t\r\b\f"), std::string("日本 ö")}) {
        std::string mine;
        append_json_string(mine, s);
        EXPECT_EQ(mine.size(), json_string_size(s));
        Json parsed = parse_json("[" + mine + "]");
        ASSERT_TRUE(parsed) << mine;
        json_t *str = json_array_get(parsed.get(), 0);
        EXPECT_EQ(std::string(json_string_value(str), json_string_length(str)), s);
    }
}

// ---- notify ---------------------------------------------------------------

TEST(Notify, RendersFields)
{
    ChangeNotice n{"alice", "event", "primary", "upsert", "", {"e1", "e\"2"}};
    EXPECT_EQ(notify_payload(n),
              R"({"owner":"alice","table":"event","calendar_id":"primary","op":"upsert","ids":["e1","e\"2"]})");
    ChangeNotice s{"bob", "account", "", "state", "revoked", {}};
    EXPECT_EQ(notify_payload(s), R"({"owner":"bob","table":"account","op":"state","state":"revoked","ids":[]})");
}

TEST(LogSafe, EscapesWhatCouldForgeALogLine)
{
    EXPECT_EQ(log_safe("plain 'text' \"ok\" é 😀"), "plain 'text' \"ok\" é 😀");
    EXPECT_EQ(log_safe("a\nb\rc\td"), "a\\nb\\rc\\td");
    EXPECT_EQ(log_safe("x\x1b[31my\x7f"), "x\\x1b[31my\\x7f");
    EXPECT_EQ(log_safe(std::string("nul\0z", 5)), "nul\\x00z");
    EXPECT_EQ(log_safe("c1\xc2\x85 csi\xc2\x9b"), "c1\\u0085 csi\\u009b");
    EXPECT_EQ(log_safe("ls\xe2\x80\xa8ps\xe2\x80\xa9"), "ls\\u2028ps\\u2029");
    EXPECT_EQ(log_safe("bad\xff\xc3("), "bad\\xff\\xc3(");
    EXPECT_EQ(log_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate is not UTF-8
    EXPECT_EQ(log_safe(""), "");
    // A backslash is escaped too: a literal "\n" in an owner id is not a line break.
    EXPECT_EQ(log_safe("a\\nb"), "a\\\\nb");
    EXPECT_NE(log_safe("a\\nb"), log_safe("a\nb"));
    EXPECT_EQ(log_safe("C:\\x1b"), "C:\\\\x1b");
}

TEST(Notify, MinimalPayloadHasNoIds)
{
    ChangeNotice n{"alice", "event", "alice@example.com", "upsert", "", {"e1", "e2"}};
    EXPECT_EQ(minimal_notify_payload(n, 42), R"({"table":"event","op":"upsert","seq":42})");
    ChangeNotice s{"bob\n", "account", "", "state", "revoked", {}};
    std::string p = minimal_notify_payload(s, 9007199254740993LL);
    EXPECT_EQ(p, R"({"table":"account","op":"state","seq":9007199254740993})");
    EXPECT_EQ(p.find("bob"), std::string::npos);
}

TEST(Notify, TruncatesIdsToFitAndSaysSo)
{
    ChangeNotice n{"alice", "event", "primary", "upsert", "", {}};
    for (int i = 0; i < 2000; i++)
        n.ids.push_back("event-" + std::to_string(i));
    for (std::size_t limit : {kMaxNotifyPayload, std::size_t(200), std::size_t(120)}) {
        std::string p = notify_payload(n, limit);
        EXPECT_LE(p.size(), limit);
        Json parsed = parse_json(p);
        ASSERT_TRUE(parsed) << p;
        EXPECT_TRUE(json_is_true(json_object_get(parsed.get(), "truncated")));
        json_t *ids = json_object_get(parsed.get(), "ids");
        ASSERT_TRUE(json_is_array(ids));
        std::size_t kept = json_array_size(ids);
        EXPECT_LT(kept, n.ids.size());
        for (std::size_t i = 0; i < kept; i++)
            EXPECT_EQ(json_string_value(json_array_get(ids, i)), n.ids[i]);  // a prefix, in order
        // Nothing more would have fitted: one more id would exceed the limit.
        ChangeNotice more = n;
        more.ids.resize(kept + 1);
        std::string bigger = R"({"owner":"alice","table":"event","calendar_id":"primary","op":"upsert","ids":[)";
        for (std::size_t i = 0; i <= kept; i++)
            bigger += (i ? ",\"" : "\"") + n.ids[i] + "\"";
        bigger += R"(],"truncated":true})";
        EXPECT_GT(bigger.size(), limit);
    }
}

TEST(Notify, ExactFitIsNotTruncated)
{
    ChangeNotice n{"o", "event", "c", "delete", "", {std::string(30, 'a'), "b"}};
    std::string full = notify_payload(n);
    EXPECT_EQ(full.find("truncated"), std::string::npos);
    EXPECT_EQ(notify_payload(n, full.size()), full);
    std::string cut = notify_payload(n, full.size() - 1);
    EXPECT_LE(cut.size(), full.size() - 1);
    EXPECT_NE(cut.find("\"ids\":[],\"truncated\":true"), std::string::npos) << cut;
}

TEST(Notify, OverlongCalendarIdIsCutNotFatal)
{
    // Google does not bound calendar ids; a page of such a calendar must
    // still commit: the payload names owner and table, and says it was cut.
    ChangeNotice n{std::string(kMaxOwnerChars, 'o'), "event", std::string(8000, 'c'), "upsert", "", {"e1"}};
    std::string p = notify_payload(n);
    EXPECT_LE(p.size(), kMaxNotifyPayload);
    EXPECT_EQ(p.find("calendar_id"), std::string::npos);
    EXPECT_NE(p.find("\"ids\":[],\"truncated\":true"), std::string::npos);
    Json parsed = parse_json(p);
    EXPECT_TRUE(parsed);
}

TEST(Notify, LongestOwnerAlwaysFits)
{
    // The worst owner: the maximum length, every character escaped to 6 bytes.
    ChangeNotice n{std::string(kMaxOwnerChars, '\x01'), "account", "", "unlink", "", {}};
    std::string p = notify_payload(n);
    EXPECT_LE(p.size(), kMaxNotifyPayload);
    EXPECT_THROW(notify_payload(n, 100), std::length_error);
}

TEST(Pure, HexValue)
{
    static_assert(hex_value('0') == 0 && hex_value('9') == 9 && hex_value('a') == 10 && hex_value('F') == 15);
    for (char c : std::string("gG/:@`\x01 \xff"))
        EXPECT_EQ(hex_value(c), -1) << static_cast<int>(c);
    for (int i = 0; i < 16; i++) {
        EXPECT_EQ(hex_value("0123456789abcdef"[i]), i);
        EXPECT_EQ(hex_value("0123456789ABCDEF"[i]), i);
    }
}
