// limits.hpp — validation of values that callers hand to gcalsync.
//
// The SQL functions and the worker share these rules, so an owner id that the
// SQL API accepts is one the worker, NOTIFY payloads and URLs can carry.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gcal::core {

// Longest owner id, in characters: long enough for any application's user key
// (1 KB ids round-trip), short enough that a NOTIFY payload (8000 bytes) still
// has room for the owner and some ids after JSON escaping.
constexpr std::size_t kMaxOwnerChars = 1024;
// Longest refresh token, in bytes. Google's are a few hundred bytes.
constexpr std::size_t kMaxTokenBytes = 4096;
// Longest OAuth client id or secret, in bytes.
constexpr std::size_t kMaxClientFieldBytes = 1024;

// InputProblem says why a value was refused; the caller maps it to an SQLSTATE.
enum class InputProblem { Empty, TooLong, InvalidEncoding, ControlCharacter };

// InputError is a refused value with a message fit for errmsg/errdetail.
struct InputError {
    InputProblem problem;
    std::string message;  // primary message: lower case, no period
    std::string detail;   // full sentence, may be empty
};

// check_owner validates an owner id (UTF-8 text).
std::optional<InputError> check_owner(std::string_view owner);
// check_secret validates a token, client id or client secret named `what`
// ("refresh token", "client id", ...). The value never appears in messages.
std::optional<InputError> check_secret(std::string_view what, std::string_view value,
                                       std::size_t max_bytes);

// log_safe makes text from outside (an owner id, a calendar id, Google's
// error text, an exception's message holding them) fit for one log line and
// a last_error column: control characters (C0, DEL, C1), the Unicode line and
// paragraph separators and bytes that are not valid UTF-8 become visible
// escapes (\n, \r, \t, \xNN, \u2028), so no value can end a log line
// and forge the next one. A backslash is doubled (\\), so that a literal
// backslash-n in a value cannot pass for an escaped line break. Everything
// else passes unchanged.
std::string log_safe(std::string_view text);

// utf8_length counts the code points of valid UTF-8, or returns nullopt.
std::optional<std::size_t> utf8_length(std::string_view s);

}  // namespace gcal::core
