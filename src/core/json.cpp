#include "core/json.hpp"

namespace gcal::core {

Json parse_json(std::string_view text, std::string *error)
{
    json_error_t err;
    // JSON_REJECT_DUPLICATES: an object with two values for one key is
    // ambiguous; refuse it instead of silently picking one.
    json_t *v = json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &err);
    if (!v && error)
        *error = std::string(err.text) + " at line " + std::to_string(err.line) + ", column " +
                 std::to_string(err.column);
    return Json::adopt(v);
}

std::string dump_json(const Json &value)
{
    if (!value)
        return "null";
    char *s = json_dumps(value.get(), JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!s)
        throw std::bad_alloc();
    std::string out(s);
    free(s);
    return out;
}

namespace {

// escape_of returns the escape sequence for byte c, or nullptr if c passes through.
const char *escape_of(unsigned char c, char buf[8])
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
        if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            buf[0] = '\\'; buf[1] = 'u'; buf[2] = '0'; buf[3] = '0';
            buf[4] = hex[c >> 4]; buf[5] = hex[c & 15]; buf[6] = 0;
            return buf;
        }
        return nullptr;
    }
}

}  // namespace

void append_json_string(std::string &out, std::string_view s)
{
    out.push_back('"');
    char buf[8];
    for (char ch : s) {
        if (const char *e = escape_of(static_cast<unsigned char>(ch), buf))
            out.append(e);
        else
            out.push_back(ch);
    }
    out.push_back('"');
}

std::size_t json_string_size(std::string_view s)
{
    std::size_t n = 2;
    char buf[8];
    for (char ch : s) {
        const char *e = escape_of(static_cast<unsigned char>(ch), buf);
        n += e ? std::char_traits<char>::length(e) : 1;
    }
    return n;
}

}  // namespace gcal::core
