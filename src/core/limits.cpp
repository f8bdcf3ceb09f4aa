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

}  // namespace gcal::core
