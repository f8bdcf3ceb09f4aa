// jsonb.cpp — see jsonb.hpp. The constants and every step below follow
// PostgreSQL 15: src/include/utils/jsonb.h (JEntry, container header),
// src/backend/utils/adt/jsonb_util.c (convertJsonbArray/Object/Scalar,
// padBufferToInt, uniqueifyJsonbObject, lengthCompareJsonbPair),
// src/backend/utils/adt/numeric.c (make_result, the short numeric header)
// and src/common/jsonapi.c (the lexer: what is valid JSON, escapes).
#include "core/jsonb.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace gcal::core {

namespace {

// jsonb.h
constexpr uint32_t kOffLenMask = 0x0FFFFFFF;  // JENTRY_OFFLENMASK
constexpr uint32_t kTypeMask = 0x70000000;    // JENTRY_TYPEMASK
constexpr uint32_t kHasOff = 0x80000000;      // JENTRY_HAS_OFF
constexpr uint32_t kIsNumeric = 0x10000000;   // JENTRY_ISNUMERIC (a string is 0)
constexpr uint32_t kIsFalse = 0x20000000;     // JENTRY_ISBOOL_FALSE
constexpr uint32_t kIsTrue = 0x30000000;      // JENTRY_ISBOOL_TRUE
constexpr uint32_t kIsNull = 0x40000000;      // JENTRY_ISNULL
constexpr uint32_t kIsContainer = 0x50000000; // JENTRY_ISCONTAINER
constexpr uint32_t kCountMask = 0x0FFFFFFF;   // JB_CMASK
constexpr uint32_t kObject = 0x20000000;      // JB_FOBJECT
constexpr uint32_t kArray = 0x40000000;       // JB_FARRAY
constexpr uint32_t kStride = 32;              // JB_OFFSET_STRIDE
// numeric.c
constexpr uint16_t kNumericShort = 0x8000;       // NUMERIC_SHORT
constexpr uint16_t kShortSign = 0x2000;          // NUMERIC_SHORT_SIGN_MASK
constexpr uint16_t kShortWeightMask = 0x003F;    // NUMERIC_SHORT_WEIGHT_MASK (also the largest weight)
constexpr std::size_t kMaxDigits = 4 * (kShortWeightMask + 1);  // NBASE 10000: 4 decimal digits each

enum class Kind : uint8_t { Null, False, True, String, Number, Array, Object };

struct Node {
    Kind kind = Kind::Null;
    bool negative = false;
    // String: the decoded bytes in Parser::text; Number: its decimal digits
    // there; Array, Object: the children in Parser::kids (an object's as
    // key, value, key, value, ... sorted and without duplicates).
    uint32_t off = 0, len = 0;
};

// Parser reads strict JSON (RFC 8259, as PostgreSQL's lexer) into nodes;
// false for anything outside the subset it proves exact.
class Parser {
public:
    Parser(std::string_view s, const JsonbLimits &limits)
        : p_(s.data()), end_(s.data() + s.size()), limits_(limits)
    {
    }

    bool parse(uint32_t *root)
    {
        skip_space();
        if (p_ == end_ || (*p_ != '{' && *p_ != '['))
            return false;  // a raw scalar (JB_FSCALAR) is left to jsonb_in
        if (!value(root, 0))
            return false;
        skip_space();
        return p_ == end_;
    }

    std::vector<Node> nodes;
    std::vector<uint32_t> kids;
    std::string text;

private:
    void skip_space()
    {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
            p_++;
    }

    // A number or a literal must end where a token does (jsonapi.c refuses "1x", "truex", "01").
    bool token_ends() const
    {
        if (p_ == end_)
            return true;
        char c = *p_;
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}' || c == ':';
    }

    uint32_t add(Node n)
    {
        nodes.push_back(n);
        return static_cast<uint32_t>(nodes.size() - 1);
    }

    bool literal(const char *word, std::size_t n)
    {
        if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0)
            return false;
        p_ += n;
        return token_ends();
    }

    bool hex4(uint32_t *out)
    {
        if (end_ - p_ < 4)
            return false;
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            int h = hex_value(p_[i]);
            if (h < 0)
                return false;
            v = v * 16 + static_cast<uint32_t>(h);
        }
        p_ += 4;
        *out = v;
        return true;
    }

    void put_utf8(uint32_t c)
    {
        if (c < 0x80) {
            text.push_back(static_cast<char>(c));
        } else if (c < 0x800) {
            text.push_back(static_cast<char>(0xC0 | (c >> 6)));
            text.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else if (c < 0x10000) {
            text.push_back(static_cast<char>(0xE0 | (c >> 12)));
            text.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            text.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else {
            text.push_back(static_cast<char>(0xF0 | (c >> 18)));
            text.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
            text.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
            text.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }

    // utf8_length is the length of the well-formed UTF-8 sequence at p_ (RFC 3629:
    // no overlong form, no surrogate, nothing above U+10FFFF), 0 if it is not one.
    std::size_t utf8_length() const
    {
        const auto *s = reinterpret_cast<const unsigned char *>(p_);
        std::size_t avail = static_cast<std::size_t>(end_ - p_);
        unsigned char c = s[0];
        std::size_t n;
        unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
        if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else
            return 0;
        if (avail < n || s[1] < lo || s[1] > hi)
            return 0;
        for (std::size_t i = 2; i < n; i++)
            if (s[i] < 0x80 || s[i] > 0xBF)
                return 0;
        return n;
    }

    // string reads a string token (p_ at its '"') into text.
    bool string(uint32_t *off, uint32_t *len)
    {
        p_++;
        std::size_t start = text.size();
        for (;;) {
            const char *run = p_;
            while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20 &&
                   static_cast<unsigned char>(*p_) < 0x80)
                p_++;
            text.append(run, static_cast<std::size_t>(p_ - run));
            if (p_ == end_)
                return false;
            unsigned char c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                p_++;
                break;
            }
            if (c < 0x20)
                return false;  // must be escaped
            if (c >= 0x80) {
                std::size_t n = utf8_length();
                if (n == 0)
                    return false;
                text.append(p_, n);
                p_ += n;
                continue;
            }
            // a backslash
            p_++;
            if (p_ == end_)
                return false;
            char e = *p_++;
            switch (e) {
            case '"': text.push_back('"'); break;
            case '\\': text.push_back('\\'); break;
            case '/': text.push_back('/'); break;
            case 'b': text.push_back('\b'); break;
            case 'f': text.push_back('\f'); break;
            case 'n': text.push_back('\n'); break;
            case 'r': text.push_back('\r'); break;
            case 't': text.push_back('\t'); break;
            case 'u': {
                uint32_t u;
                if (!hex4(&u) || u == 0)
                    return false;  // \u0000: jsonb_in refuses it
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return false;  // a low surrogate without its high one
                if (u >= 0xD800 && u <= 0xDBFF) {
                    uint32_t lo;
                    if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u')
                        return false;
                    p_ += 2;
                    if (!hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                }
                put_utf8(u);
                break;
            }
            default:
                return false;
            }
        }
        std::size_t n = text.size() - start;
        if (n > limits_.max_offlen)
            return false;  // checkStringLen
        *off = static_cast<uint32_t>(start);
        *len = static_cast<uint32_t>(n);
        return true;
    }

    // number reads an integer; a fraction or an exponent is refused.
    bool number(Node *n)
    {
        if (*p_ == '-') {
            n->negative = true;
            p_++;
        }
        const char *start = p_;
        if (p_ < end_ && *p_ == '0') {
            p_++;
        } else {
            if (p_ == end_ || *p_ < '1' || *p_ > '9')
                return false;
            while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
                p_++;
        }
        std::size_t digits = static_cast<std::size_t>(p_ - start);
        if (digits > kMaxDigits || !token_ends())
            return false;
        n->off = static_cast<uint32_t>(text.size());
        n->len = static_cast<uint32_t>(digits);
        text.append(start, digits);
        return true;
    }

    bool value(uint32_t *id, int depth)
    {
        if (p_ == end_)
            return false;
        Node n;
        switch (*p_) {
        case '{':
        case '[': {
            if (depth >= kMaxJsonbDepth)
                return false;
            bool object = *p_ == '{';
            char close = object ? '}' : ']';
            p_++;
            std::size_t base = stack_.size();
            skip_space();
            if (p_ < end_ && *p_ == close) {
                p_++;
            } else {
                for (;;) {
                    skip_space();
                    if (object) {
                        if ((stack_.size() - base) / 2 >= limits_.max_pairs)
                            return false;  // appendKey: one pair more than jsonb_in holds
                        if (p_ == end_ || *p_ != '"')
                            return false;
                        Node key;
                        key.kind = Kind::String;
                        if (!string(&key.off, &key.len))
                            return false;
                        stack_.push_back(add(key));
                        skip_space();
                        if (p_ == end_ || *p_ != ':')
                            return false;
                        p_++;
                        skip_space();
                    }
                    if (!object && stack_.size() - base >= limits_.max_elements)
                        return false;  // appendElement: one element more than jsonb_in holds
                    uint32_t child;
                    if (!value(&child, depth + 1))
                        return false;
                    stack_.push_back(child);
                    skip_space();
                    if (p_ == end_)
                        return false;
                    if (*p_ == ',') {
                        p_++;
                        continue;
                    }
                    if (*p_ != close)
                        return false;
                    p_++;
                    break;
                }
            }
            n.kind = object ? Kind::Object : Kind::Array;
            n.off = static_cast<uint32_t>(kids.size());
            if (object)
                append_pairs(base);
            else
                kids.insert(kids.end(), stack_.begin() + static_cast<std::ptrdiff_t>(base), stack_.end());
            n.len = static_cast<uint32_t>(kids.size() - n.off);
            stack_.resize(base);
            break;
        }
        case '"':
            n.kind = Kind::String;
            if (!string(&n.off, &n.len))
                return false;
            break;
        case 't':
            n.kind = Kind::True;
            if (!literal("true", 4))
                return false;
            break;
        case 'f':
            n.kind = Kind::False;
            if (!literal("false", 5))
                return false;
            break;
        case 'n':
            n.kind = Kind::Null;
            if (!literal("null", 4))
                return false;
            break;
        default:
            n.kind = Kind::Number;
            if (!number(&n))
                return false;
            break;
        }
        *id = add(n);
        return true;
    }

    // key_compare is lengthCompareJsonbString: by length, then bytewise.
    int key_compare(uint32_t a, uint32_t b) const
    {
        const Node &x = nodes[a], &y = nodes[b];
        if (x.len != y.len)
            return x.len < y.len ? -1 : 1;
        return std::memcmp(text.data() + x.off, text.data() + y.off, x.len);
    }

    // append_pairs moves the object's pairs (stack_ from base: key, value, ...)
    // to kids as uniqueifyJsonbObject leaves them: sorted by key, and of equal
    // keys the last one in the text kept.
    void append_pairs(std::size_t base)
    {
        std::size_t pairs = (stack_.size() - base) / 2;
        std::vector<uint32_t> order(pairs);
        for (std::size_t i = 0; i < pairs; i++)
            order[i] = static_cast<uint32_t>(i);
        const uint32_t *kv = stack_.data() + base;
        std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
            int c = key_compare(kv[2 * a], kv[2 * b]);
            return c != 0 ? c < 0 : a > b;  // equal keys: the later one first
        });
        for (std::size_t i = 0; i < pairs; i++) {
            uint32_t at = order[i];
            if (i > 0 && key_compare(kv[2 * order[i - 1]], kv[2 * at]) == 0)
                continue;  // an earlier duplicate
            kids.push_back(kv[2 * at]);
            kids.push_back(kv[2 * at + 1]);
        }
    }

    const char *p_, *end_;
    const JsonbLimits &limits_;
    std::vector<uint32_t> stack_;  // the children of the containers being read
};

// Writer lays the nodes out as convertJsonbValue does.
class Writer {
public:
    Writer(const Parser &p, std::string *out, const JsonbLimits &limits) : p_(p), out_(*out), limits_(limits) {}

    bool root(uint32_t id)
    {
        uint32_t entry;
        return container(p_.nodes[id], &entry);
    }

private:
    // pad is padBufferToInt: the datum's 4-byte header keeps out_'s
    // size congruent to the buffer's length modulo 4.
    std::size_t pad()
    {
        std::size_t n = (4 - out_.size() % 4) % 4;
        out_.append(n, '\0');
        return n;
    }

    template <typename T>
    void put(T v)
    {
        char b[sizeof(T)];
        std::memcpy(b, &v, sizeof(T));
        out_.append(b, sizeof(T));
    }

    void set_entry(std::size_t at, uint32_t v) { std::memcpy(&out_[at], &v, sizeof v); }

    bool value(const Node &n, uint32_t *entry)
    {
        switch (n.kind) {
        case Kind::Null: *entry = kIsNull; return true;
        case Kind::False: *entry = kIsFalse; return true;
        case Kind::True: *entry = kIsTrue; return true;
        case Kind::String:
            out_.append(p_.text, n.off, n.len);
            *entry = n.len;  // JENTRY_ISSTRING is 0
            return true;
        case Kind::Number: return numeric(n, entry);
        case Kind::Array:
        case Kind::Object: return container(n, entry);
        }
        return false;
    }

    // numeric appends the datum numeric_in makes of an integer (make_result:
    // base-10000 digits without leading or trailing zero digits, dscale 0,
    // zero positive with weight 0), with its 4-byte varlena header.
    bool numeric(const Node &n, uint32_t *entry)
    {
        const char *d = p_.text.data() + n.off;
        std::size_t len = n.len;
        uint16_t digits[kMaxDigits / 4];
        std::size_t ndigits = 0;
        int weight = 0;
        bool zero = len == 1 && d[0] == '0';
        if (!zero) {
            std::size_t groups = (len + 3) / 4, first = len - 4 * (groups - 1), at = 0;
            for (std::size_t g = 0; g < groups; g++) {
                std::size_t take = g == 0 ? first : 4;
                uint16_t v = 0;
                for (std::size_t i = 0; i < take; i++)
                    v = static_cast<uint16_t>(v * 10 + (d[at++] - '0'));
                digits[ndigits++] = v;
            }
            weight = static_cast<int>(groups) - 1;
            while (ndigits > 0 && digits[ndigits - 1] == 0)
                ndigits--;
        }
        if (weight > kShortWeightMask)
            return false;
        uint16_t header = static_cast<uint16_t>(kNumericShort | (n.negative && !zero ? kShortSign : 0) |
                                                (static_cast<uint16_t>(weight) & kShortWeightMask));
        uint32_t size = static_cast<uint32_t>(4 + 2 + 2 * ndigits);  // NUMERIC_HDRSZ_SHORT + digits
        std::size_t padding = pad();
        put<uint32_t>(size << 2);  // SET_VARSIZE (4-byte header, little-endian)
        put<uint16_t>(header);
        for (std::size_t i = 0; i < ndigits; i++)
            put<int16_t>(static_cast<int16_t>(digits[i]));
        *entry = kIsNumeric | static_cast<uint32_t>(padding + size);
        return true;
    }

    bool container(const Node &n, uint32_t *entry)
    {
        const bool object = n.kind == Kind::Object;
        const std::size_t base = out_.size();
        pad();
        const uint32_t count = object ? n.len / 2 : n.len;
        if (count > kCountMask)
            return false;
        put<uint32_t>(count | (object ? kObject : kArray));
        std::size_t at = out_.size();
        out_.append(static_cast<std::size_t>(n.len) * 4, '\0');
        uint64_t total = 0;
        // An object's keys come first, then its values (in key order).
        for (uint32_t i = 0; i < n.len; i++) {
            uint32_t k = object ? (i < count ? 2 * i : 2 * (i - count) + 1) : i;
            uint32_t meta;
            if (!value(p_.nodes[p_.kids[n.off + k]], &meta))
                return false;
            total += meta & kOffLenMask;
            if (total > limits_.max_offlen)
                return false;  // "total size of jsonb array elements exceeds the maximum of ..."
            if (i % kStride == 0)
                meta = (meta & kTypeMask) | static_cast<uint32_t>(total) | kHasOff;
            set_entry(at, meta);
            at += 4;
            if (out_.size() - base > limits_.max_offlen)
                return false;  // (refused at its end anyway: a container's size only grows)
        }
        std::size_t size = out_.size() - base;
        if (size > limits_.max_offlen)
            return false;  // the same, the container's header and JEntries counted
        *entry = kIsContainer | static_cast<uint32_t>(size);
        return true;
    }

    const Parser &p_;
    std::string &out_;
    const JsonbLimits &limits_;
};

}  // namespace

bool encode_jsonb(std::string_view json, std::string *out, const JsonbLimits &asked)
{
    out->clear();
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    (void) json;
    (void) asked;
    return false;  // the varlena headers below are written little-endian
#else
    // A limit above PostgreSQL's counts as PostgreSQL's.
    const JsonbLimits defaults;
    JsonbLimits limits;
    limits.max_elements = std::min(asked.max_elements, defaults.max_elements);
    limits.max_pairs = std::min(asked.max_pairs, defaults.max_pairs);
    limits.max_offlen = std::min(asked.max_offlen, defaults.max_offlen);
    limits.max_text = std::min(asked.max_text, defaults.max_text);
    if (json.size() > limits.max_text)
        return false;
    Parser parser(json, limits);
    uint32_t root;
    if (!parser.parse(&root))
        return false;
    out->reserve(json.size() + json.size() / 4 + 64);
    Writer writer(parser, out, limits);
    if (!writer.root(root)) {
        std::string().swap(*out);
        return false;
    }
    if (out->capacity() > out->size() + out->size() / 8 + 64)
        out->shrink_to_fit();  // pages of these wait in memory: no slack kept
    return true;
#endif
}

}  // namespace gcal::core
