// fuzz_jsonb.cpp — core::encode_jsonb on arbitrary text (issue 18). Whenever
// it gives bytes, a reader written here from PostgreSQL's jsonb.h (not from
// the encoder) must find one well-formed container in them — padding zero and
// only where alignment needs it, JEntry offsets every 32nd entry and lengths
// otherwise, children filling their container exactly, object keys strictly
// ascending by (length, bytes), numerics as short positive-weight integers
// without leading or trailing zero digits — and its value must be what
// jansson parses from the same text (of duplicate keys the last one wins in
// both). Text jansson refuses is only accepted when it holds an integer
// beyond jansson's 64 bits. Under small JsonbLimits (the limits of jsonb_in's
// sizes, lowered) the same text is refused or gives the same bytes, within
// those limits.
#include "core/jsonb.hpp"
#include "fuzz_check.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kLenMask = 0x0FFFFFFF;

class Reader {
public:
    explicit Reader(const std::string &b) : b_(b) {}
    bool big = false;  // an integer jansson cannot hold was read
    std::size_t most_elements = 0, most_pairs = 0;  // of any array, of any object

    json_t *root()
    {
        json_t *v = container(0, b_.size());
        return v;
    }

private:
    uint32_t u32(std::size_t at) const
    {
        fuzz::require(at + 4 <= b_.size(), "u32 inside the datum");
        uint32_t v;
        std::memcpy(&v, b_.data() + at, 4);
        return v;
    }

    uint16_t u16(std::size_t at) const
    {
        fuzz::require(at + 2 <= b_.size(), "u16 inside the datum");
        uint16_t v;
        std::memcpy(&v, b_.data() + at, 2);
        return v;
    }

    // aligned skips the zero padding up to a multiple of 4 (the datum's
    // 4-byte varlena header keeps offsets congruent modulo 4).
    std::size_t aligned(std::size_t at, std::size_t end) const
    {
        while (at % 4 != 0) {
            fuzz::require(at < end && b_[at] == '\0', "padding is zero bytes");
            at++;
        }
        return at;
    }

    json_t *container(std::size_t start, std::size_t end)
    {
        std::size_t at = aligned(start, end);
        uint32_t header = u32(at);
        uint32_t kind = header & 0xF0000000u;
        fuzz::require(kind == 0x20000000u || kind == 0x40000000u, "container is an object or an array, no scalar");
        bool object = kind == 0x20000000u;
        std::size_t count = header & kLenMask, entries = object ? 2 * count : count;
        std::size_t &most = object ? most_pairs : most_elements;
        if (count > most)
            most = count;
        std::size_t data = at + 4 + 4 * entries;
        fuzz::require(data <= end, "JEntries inside the container");
        json_t *out = object ? json_object() : json_array();
        std::size_t prev = 0;
        std::string last_key;
        bool have_key = false;
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < entries; i++) {
            uint32_t e = u32(at + 4 + 4 * i);
            bool has_off = (e & 0x80000000u) != 0;
            fuzz::require(has_off == (i % 32 == 0), "an offset every 32nd JEntry, lengths between");
            std::size_t stop = has_off ? (e & kLenMask) : prev + (e & kLenMask);
            fuzz::require(stop >= prev && data + stop <= end, "child inside the container");
            json_t *child = scalar_or_container(e & 0x70000000u, data + prev, data + stop);
            if (object && i < count) {
                fuzz::require(json_is_string(child), "object keys are strings");
                std::string key(json_string_value(child), json_string_length(child));
                if (have_key)
                    fuzz::require(key.size() > last_key.size() ||
                                      (key.size() == last_key.size() && key.compare(last_key) > 0),
                                  "keys strictly ascending by length, then bytes");
                last_key = key;
                have_key = true;
                keys.push_back(key);
                json_decref(child);
            } else if (object) {
                const std::string &key = keys[i - count];
                json_object_setn_new(out, key.data(), key.size(), child);
            } else {
                json_array_append_new(out, child);
            }
            prev = stop;
        }
        fuzz::require(data + prev == end, "children fill their container");
        return out;
    }

    json_t *scalar_or_container(uint32_t type, std::size_t start, std::size_t end)
    {
        switch (type) {
        case 0x00000000u: {
            json_t *s = json_stringn(b_.data() + start, end - start);
            fuzz::require(s != nullptr, "strings are valid UTF-8 without NUL");
            fuzz::require(std::memchr(b_.data() + start, 0, end - start) == nullptr, "no NUL in a string");
            return s;
        }
        case 0x10000000u: return numeric(start, end);
        case 0x20000000u:
        case 0x30000000u:
        case 0x40000000u:
            fuzz::require(start == end, "true, false and null have no data");
            return type == 0x20000000u ? json_false() : type == 0x30000000u ? json_true() : json_null();
        case 0x50000000u: return container(start, end);
        default: fuzz::require(false, "known JEntry type"); return nullptr;
        }
    }

    json_t *numeric(std::size_t start, std::size_t end)
    {
        std::size_t at = aligned(start, end);
        uint32_t varlena = u32(at);
        fuzz::require((varlena & 3) == 0, "numeric has a 4-byte varlena header");
        std::size_t size = varlena >> 2;
        fuzz::require(size >= 6 && size % 2 == 0 && at + size == end, "numeric fills its JEntry");
        uint16_t h = u16(at + 4);
        fuzz::require((h & 0xC000) == 0x8000, "a short numeric");
        fuzz::require((h & 0x1F80) == 0, "dscale 0 (an integer)");
        fuzz::require((h & 0x0040) == 0, "weight not negative");
        bool negative = (h & 0x2000) != 0;
        int weight = h & 0x003F;
        std::size_t n = (size - 6) / 2;
        fuzz::require(n == 0 || n <= static_cast<std::size_t>(weight) + 1, "no fraction digit");
        if (n == 0)
            fuzz::require(h == 0x8000, "zero is positive with weight 0");
        std::string text = negative ? "-" : "";
        for (std::size_t i = 0; i < n; i++) {
            int16_t d = static_cast<int16_t>(u16(at + 6 + 2 * i));
            fuzz::require(d >= 0 && d < 10000, "digits are base 10000");
            fuzz::require(d != 0 || (i != 0 && i != n - 1), "no leading or trailing zero digit");
            char buf[8];
            std::snprintf(buf, sizeof buf, i == 0 ? "%d" : "%04d", d);
            text += buf;
        }
        if (n == 0)
            text = "0";
        else
            for (int i = static_cast<int>(n); i <= weight; i++)
                text += "0000";
        errno = 0;
        char *stop = nullptr;
        long long v = std::strtoll(text.c_str(), &stop, 10);
        if (errno == ERANGE) {
            big = true;
            return json_null();
        }
        return json_integer(v);
    }

    const std::string &b_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string out = "junk";
    // The same text under limits small enough to be reached (JsonbLimits):
    // refused, or the same bytes, within them.
    gcal::core::JsonbLimits small;
    small.max_elements = 4;
    small.max_pairs = 3;
    small.max_offlen = 96;
    std::string limited = "junk";
    const bool limited_ok = gcal::core::encode_jsonb(fuzz::as_text(data, size), &limited, small);
    fuzz::require(limited_ok || limited.empty(), "no bytes when refused under small limits");
    if (!gcal::core::encode_jsonb(fuzz::as_text(data, size), &out)) {
        fuzz::require(out.empty(), "no bytes when refused");
        fuzz::require(!limited_ok, "lower limits accept nothing more");
        return 0;
    }
    fuzz::require(out.size() <= kLenMask, "a datum jsonb can hold");
    fuzz::require(!limited_ok || limited == out, "lower limits change no byte");
    Reader reader(out);
    json_t *got = reader.root();
    if (limited_ok)
        fuzz::require(out.size() <= small.max_offlen && reader.most_elements <= small.max_elements &&
                          reader.most_pairs <= small.max_pairs,
                      "bytes under small limits are within them");
    json_error_t err;
    json_t *want = json_loadb(reinterpret_cast<const char *>(data), size, 0, &err);
    if (!want) {
        fuzz::require(std::strstr(err.text, "too big") != nullptr, "only text jansson reads is encoded");
    } else if (!reader.big) {
        fuzz::require(json_equal(got, want), "the bytes hold the value jansson reads");
    }
    json_decref(got);
    json_decref(want);
    return 0;
}
