#include "core/limits.hpp"

namespace gcal::core {

std::optional<std::size_t> utf8_length(std::string_view s)
{
    std::size_t count = 0;
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t len;
        if (c < 0x80)
            len = 1;
        else if ((c & 0xE0) == 0xC0 && c >= 0xC2)
            len = 2;
        else if ((c & 0xF0) == 0xE0)
            len = 3;
        else if ((c & 0xF8) == 0xF0 && c <= 0xF4)
            len = 4;
        else
            return std::nullopt;
        if (i + len > s.size())
            return std::nullopt;
        for (std::size_t k = 1; k < len; k++)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
                return std::nullopt;
        i += len;
        count++;
    }
    return count;
}

std::optional<InputError> check_owner(std::string_view owner)
{
    if (owner.empty())
        return InputError{InputProblem::Empty, "owner must not be empty", ""};
    auto chars = utf8_length(owner);
    if (!chars)
        return InputError{InputProblem::InvalidEncoding, "owner is not valid UTF-8", ""};
    if (*chars > kMaxOwnerChars)
        return InputError{InputProblem::TooLong, "owner is too long",
                          "An owner is at most " + std::to_string(kMaxOwnerChars) +
                              " characters; this one has " + std::to_string(*chars) + "."};
    return std::nullopt;
}

std::optional<InputError> check_secret(std::string_view what, std::string_view value,
                                       std::size_t max_bytes)
{
    std::string name(what);
    if (value.empty())
        return InputError{InputProblem::Empty, name + " must not be empty", ""};
    if (value.size() > max_bytes)
        return InputError{InputProblem::TooLong, name + " is too long",
                          "A " + name + " is at most " + std::to_string(max_bytes) +
                              " bytes; this one has " + std::to_string(value.size()) + "."};
    // Tokens travel in HTTP form bodies and headers: control characters and
    // spaces there are always a copy-paste accident, never a real token.
    for (unsigned char c : value)
        if (c < 0x21 || c == 0x7F)
            return InputError{InputProblem::ControlCharacter,
                              name + " contains whitespace or control characters",
                              "Google issues " + name +
                                  "s without spaces; check for a stray newline or quote."};
    return std::nullopt;
}

namespace {

// utf8_sequence_length is the length of the valid UTF-8 sequence at the
// start of s (1 to 4), or 0 if it is not one (ASCII bytes count as valid).
std::size_t utf8_sequence_length(std::string_view s)
{
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char c = b(0);
    if (c < 0x80)
        return 1;
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (s.size() < len || b(1) < lo || b(1) > hi)
        return 0;
    for (std::size_t i = 2; i < len; i++)
        if (b(i) < 0x80 || b(i) > 0xBF)
            return 0;
    return len;
}

void append_hex_escape(std::string &out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    out += "\\x";
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
}

}  // namespace

std::string log_safe(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        std::size_t len = utf8_sequence_length(text.substr(i));
        auto c = static_cast<unsigned char>(text[i]);
        if (len == 0) {
            append_hex_escape(out, c);
            i++;
            continue;
        }
        if (len == 1) {
            if (c == '\n')
                out += "\\n";
            else if (c == '\r')
                out += "\\r";
            else if (c == '\t')
                out += "\\t";
            else if (c == '\\')
                out += "\\\\";  // so that a literal "\n" cannot pass for an escaped line break
            else if (c < 0x20 || c == 0x7F)
                append_hex_escape(out, c);
            else
                out.push_back(static_cast<char>(c));
        } else if (len == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
            // C1 control characters (U+0080..U+009F; U+009B is a terminal's CSI)
            out += "\\u00";
            static const char hex[] = "0123456789abcdef";
            out.push_back(hex[static_cast<unsigned char>(text[i + 1]) >> 4]);
            out.push_back(hex[static_cast<unsigned char>(text[i + 1]) & 15]);
        } else if (len == 3 && c == 0xE2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(text[i + 2]) == 0xA8 || static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
            out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
        } else {
            out.append(text.substr(i, len));
        }
        i += len;
    }
    return out;
}

}  // namespace gcal::core
