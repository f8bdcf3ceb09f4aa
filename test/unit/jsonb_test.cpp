// GoogleTest suite for core/jsonb: PostgreSQL 15's jsonb bytes of small
// documents, worked out by hand from jsonb_util.c and numeric.c (the same
// documents are checked against jsonb_in itself by test/sql/04_boundary.sql),
// and every kind of text the encoder must leave to jsonb_in.
#include "core/jsonb.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace gcal::core;

namespace {

std::string bytes(std::vector<int> v)
{
    std::string s;
    for (int b : v)
        s.push_back(static_cast<char>(b));
    return s;
}

std::string encoded(const std::string &json)
{
    std::string out;
    EXPECT_TRUE(encode_jsonb(json, &out)) << json;
    return out;
}

bool refused(const std::string &json)
{
    std::string out = "x";
    bool ok = encode_jsonb(json, &out);
    return !ok && out.empty();
}

}  // namespace

TEST(Jsonb, EmptyContainers)
{
    EXPECT_EQ(encoded("{}"), bytes({0x00, 0x00, 0x00, 0x20}));  // JB_FOBJECT, 0 pairs
    EXPECT_EQ(encoded(" [ ] "), bytes({0x00, 0x00, 0x00, 0x40}));  // JB_FARRAY, 0 elements
}

TEST(Jsonb, ObjectWithAnInteger)
{
    // header, key JEntry (offset 1), value JEntry (numeric, 3 bytes of padding
    // + 8), "a", padding to 4, numeric: varlena 8 << 2, NUMERIC_SHORT weight 0, digit 1.
    EXPECT_EQ(encoded(R"({"a":1})"), bytes({0x01, 0x00, 0x00, 0x20, 0x01, 0x00, 0x00, 0x80, 0x0B, 0x00, 0x00, 0x10,
                                           'a', 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00}));
}

TEST(Jsonb, KeysSortedByLengthThenBytesLastDuplicateWins)
{
    // {"b":true,"a":null,"b":false} -> a:null, b:false
    EXPECT_EQ(encoded(R"({"b":true,"a":null,"b":false})"),
              bytes({0x02, 0x00, 0x00, 0x20, 0x01, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,
                     0x00, 0x00, 0x00, 0x20, 'a', 'b'}));
    // A shorter key sorts first whatever its bytes: "zz" < "aaa".
    std::string out = encoded(R"({"aaa":1,"zz":2})");
    ASSERT_GE(out.size(), 24u);
    EXPECT_EQ(out.substr(20, 5), "zzaaa");
}

TEST(Jsonb, ArrayWithStringContainerAndNegativeInteger)
{
    // ["x",[],-12345]: "x" (offset 1), [] padded from 17 to 20 (length 3 + 4),
    // -12345 at 24: varlena 10 << 2, NUMERIC_SHORT | sign | weight 1, digits 1 and 2345.
    EXPECT_EQ(encoded(R"(["x", [], -12345])"),
              bytes({0x03, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x80, 0x07, 0x00, 0x00, 0x50, 0x0A, 0x00, 0x00, 0x10,
                     'x', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x28, 0x00, 0x00, 0x00, 0x01, 0xA0, 0x01, 0x00,
                     0x29, 0x09}));
}

TEST(Jsonb, Numerics)
{
    // [0], [-0]: zero is positive, weight 0, no digit (varlena 6 << 2).
    const std::string zero = bytes({0x01, 0x00, 0x00, 0x40, 0x06, 0x00, 0x00, 0x90, 0x18, 0x00, 0x00, 0x00, 0x00, 0x80});
    EXPECT_EQ(encoded("[0]"), zero);
    EXPECT_EQ(encoded("[-0]"), zero);
    // [10000]: digits 1, 0000 -> the trailing zero digit is dropped, weight 1.
    EXPECT_EQ(encoded("[10000]"), bytes({0x01, 0x00, 0x00, 0x40, 0x08, 0x00, 0x00, 0x90, 0x20, 0x00, 0x00, 0x00,
                                        0x01, 0x80, 0x01, 0x00}));
    // [123456789]: digits 1, 2345, 6789, weight 2.
    EXPECT_EQ(encoded("[123456789]"), bytes({0x01, 0x00, 0x00, 0x40, 0x0C, 0x00, 0x00, 0x90, 0x30, 0x00, 0x00, 0x00,
                                            0x02, 0x80, 0x01, 0x00, 0x29, 0x09, 0x85, 0x1A}));
    // 256 digits still fit a short numeric (weight 63); 257 do not.
    EXPECT_FALSE(encoded("[1" + std::string(255, '0') + "]").empty());
    EXPECT_TRUE(refused("[1" + std::string(256, '0') + "]"));
}

TEST(Jsonb, StringEscapesDecoded)
{
    // {"k":"\u00e9\n\ud83d\ude00\/"}: é (C3 A9), newline, U+1F600 (F0 9F 98 80), '/'.
    EXPECT_EQ(encoded(R"({"k":"\u00e9\n\ud83d\ude00\/"})"),
              bytes({0x01, 0x00, 0x00, 0x20, 0x01, 0x00, 0x00, 0x80, 0x08, 0x00, 0x00, 0x00, 'k', 0xC3, 0xA9, 0x0A,
                     0xF0, 0x9F, 0x98, 0x80, '/'}));
    // Raw UTF-8 is kept as it is.
    EXPECT_EQ(encoded("[\"\xC3\xA9\"]"), bytes({0x01, 0x00, 0x00, 0x40, 0x02, 0x00, 0x00, 0x80, 0xC3, 0xA9}));
}

TEST(Jsonb, OffsetEveryThirtySecondEntry)
{
    std::string json = "[";
    for (int i = 0; i < 33; i++)
        json += i ? ",\"a\"" : "\"a\"";
    json += "]";
    std::string out = encoded(json);
    ASSERT_EQ(out.size(), 4u + 33 * 4 + 33);
    auto entry = [&](int i) {
        uint32_t v;
        memcpy(&v, out.data() + 4 + 4 * i, 4);
        return v;
    };
    EXPECT_EQ(entry(0), 0x80000001u);   // offset 1
    EXPECT_EQ(entry(1), 0x00000001u);   // length 1
    EXPECT_EQ(entry(31), 0x00000001u);
    EXPECT_EQ(entry(32), 0x80000021u);  // offset 33
}

TEST(Jsonb, NestedObjectValueOffsets)
{
    // {"a":{"b":"c"}}: the inner object starts at 13, is padded to 16 and is 3 + 14 bytes long.
    EXPECT_EQ(encoded(R"({"a":{"b":"c"}})"),
              bytes({0x01, 0x00, 0x00, 0x20, 0x01, 0x00, 0x00, 0x80, 0x11, 0x00, 0x00, 0x50, 'a', 0x00, 0x00, 0x00,
                     0x01, 0x00, 0x00, 0x20, 0x01, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 'b', 'c'}));
}

TEST(Jsonb, LeftToJsonbIn)
{
    for (const char *json :
         {"", "1", "\"a\"", "true", "null", "[1.5]", "[1e3]", "[1E3]", "[-]", "[01]", "[-01]", "[1x]", "[truex]",
          "[nul]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "[1] x", "[1]]",
          "[\"\\u0000\"]", "[\"\\ud800\"]", "[\"\\ud800x\"]", "[\"\\ud800\\u0041\"]", "[\"\\udc00\"]",
          "[\"\\x\"]", "[\"\\u12\"]", "[\"\\u12g4\"]", "[\"a\tb\"]", "[\"\x01\"]", "[\"\xff\"]", "[\"\xC0\xAF\"]",
          "[\"\xED\xA0\x80\"]", "[\"\xF4\x90\x80\x80\"]", "[\"\xC3\"]", "[\"abc", "[", "{", "[1 2]", "[+1]",
          "\xEF\xBB\xBF[]"})
        EXPECT_TRUE(refused(json)) << json;
    std::string deep(kMaxJsonbDepth + 1, '[');
    deep += std::string(kMaxJsonbDepth + 1, ']');
    EXPECT_TRUE(refused(deep));
    std::string ok(kMaxJsonbDepth, '[');
    ok += std::string(kMaxJsonbDepth, ']');
    EXPECT_FALSE(encoded(ok).empty());
}

// ---- What jsonb_in refuses for its size (JsonbLimits) ----------------------
//
// PostgreSQL's own limits need hundreds of megabytes of text to reach; the
// tests lower them (JsonbLimits) and check each one at the limit and one past
// it.

namespace {

bool refused_with(const std::string &json, const JsonbLimits &limits)
{
    std::string out = "x";
    bool ok = encode_jsonb(json, &out, limits);
    return !ok && out.empty();
}

std::string encoded_with(const std::string &json, const JsonbLimits &limits)
{
    std::string out;
    EXPECT_TRUE(encode_jsonb(json, &out, limits)) << json;
    return out;
}

}  // namespace

TEST(JsonbLimits, PostgreSQLs)
{
    // jsonb_util.c: the parse state's array doubles from 4 JsonbValues (32
    // bytes) or JsonbPairs (72 bytes); the next doubling after 2^24 values
    // (2^30 bytes) or 2^23 pairs (1,207,959,552 bytes) is above MaxAllocSize,
    // below JSONB_MAX_ELEMS (33,554,431) and JSONB_MAX_PAIRS (14,913,080).
    EXPECT_EQ(kJsonbMaxElements, 16777216u);
    EXPECT_EQ(kJsonbMaxPairs, 8388608u);
    EXPECT_EQ(kJsonbMaxOffLen, 0x0FFFFFFFu);
    EXPECT_EQ(jsonb_max_children(1), 0x0FFFFFFFu);  // JB_CMASK is the bound for items that small
    const JsonbLimits d;
    EXPECT_EQ(d.max_elements, kJsonbMaxElements);
    EXPECT_EQ(d.max_pairs, kJsonbMaxPairs);
    EXPECT_EQ(d.max_offlen, kJsonbMaxOffLen);
    EXPECT_EQ(d.max_text, kPgMaxAllocSize - 1);
}

TEST(JsonbLimits, ElementsOfAnArray)
{
    JsonbLimits l;
    l.max_elements = 3;
    EXPECT_EQ(encoded_with("[1,2,3]", l), encoded("[1,2,3]"));
    EXPECT_TRUE(refused_with("[1,2,3,4]", l));
    EXPECT_EQ(encoded_with("[[1,2,3],[4,5,6],{\"a\":[7,8,9]}]", l), encoded("[[1,2,3],[4,5,6],{\"a\":[7,8,9]}]"));
    EXPECT_TRUE(refused_with("[[1,2,3,4]]", l));                // nested
    EXPECT_TRUE(refused_with("{\"a\":[null,null,null,null]}", l));  // an object's value
    EXPECT_TRUE(refused_with("[[],[],[],[]]", l));
    // An object's pairs are not elements.
    EXPECT_FALSE(encoded_with("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", l).empty());
    l.max_elements = 0;
    EXPECT_FALSE(encoded_with("[]", l).empty());
    EXPECT_TRUE(refused_with("[1]", l));
}

TEST(JsonbLimits, PairsOfAnObjectAsWritten)
{
    JsonbLimits l;
    l.max_pairs = 2;
    EXPECT_EQ(encoded_with("{\"a\":1,\"b\":2}", l), encoded("{\"a\":1,\"b\":2}"));
    EXPECT_TRUE(refused_with("{\"a\":1,\"b\":2,\"c\":3}", l));
    // jsonb_in counts the pairs before it removes duplicate keys (at the
    // object's end): three pairs of one key are three.
    EXPECT_EQ(encoded_with("{\"a\":1,\"a\":2}", l), encoded("{\"a\":2}"));
    EXPECT_TRUE(refused_with("{\"a\":1,\"a\":2,\"a\":3}", l));
    EXPECT_TRUE(refused_with("[{\"x\":{\"a\":1,\"b\":2,\"c\":3}}]", l));  // nested
    // An array's elements are not pairs.
    EXPECT_FALSE(encoded_with("[1,2,3,4]", l).empty());
}

TEST(JsonbLimits, SizeOfAContainer)
{
    JsonbLimits l;
    // ["xxxx"]: header 4, one JEntry 4, 4 bytes of data.
    l.max_offlen = 12;
    EXPECT_EQ(encoded_with("[\"xxxx\"]", l), encoded("[\"xxxx\"]"));
    l.max_offlen = 11;
    EXPECT_TRUE(refused_with("[\"xxxx\"]", l));
    // ["x",1]: header 4, two JEntries 8, "x" at 12, padding to 16, numeric 8:
    // the padding counts.
    l.max_offlen = 24;
    EXPECT_EQ(encoded_with("[\"x\",1]", l), encoded("[\"x\",1]"));
    l.max_offlen = 23;
    EXPECT_TRUE(refused_with("[\"x\",1]", l));
    // {"k":["v"]}: the object's header and JEntries (12), "k" (13), the inner
    // array padded from 13 to 16 (4 + 4 + "v" 1, 12 with its padding): 25.
    // Each container's own check: the root's size, not the total of its
    // children's data (13) nor the inner array's (12), is past 24.
    EXPECT_EQ(encoded("{\"k\":[\"v\"]}").size(), 25u);
    l.max_offlen = 25;
    EXPECT_FALSE(encoded_with("{\"k\":[\"v\"]}", l).empty());
    l.max_offlen = 24;
    EXPECT_TRUE(refused_with("{\"k\":[\"v\"]}", l));
    // A string longer than the limit, as a value or a key.
    l.max_offlen = 4;
    EXPECT_TRUE(refused_with("[\"xxxxx\"]", l));
    EXPECT_TRUE(refused_with("{\"xxxxx\":1}", l));
}

TEST(JsonbLimits, Text)
{
    JsonbLimits l;
    l.max_text = 7;
    EXPECT_EQ(encoded_with("[1,2,3]", l), encoded("[1,2,3]"));
    EXPECT_TRUE(refused_with("[1,2,3] ", l));
}

TEST(JsonbLimits, HigherThanPostgreSQLsCountAsPostgreSQLs)
{
    JsonbLimits l;
    l.max_elements = l.max_pairs = l.max_offlen = l.max_text = SIZE_MAX;
    EXPECT_EQ(encoded_with("{\"a\":[1,\"b\"]}", l), encoded("{\"a\":[1,\"b\"]}"));
}
