// json_text.hpp — writing JSON string literals by hand, without jansson
// (usable from src/pg, where jansson's json_object() clashes with PostgreSQL).
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace gcal::core {

// append_json_string appends `s` as a JSON string literal (with quotes).
// UTF-8 passes through; quotes, backslashes and control characters are escaped.
void append_json_string(std::string &out, std::string_view s);

// json_string_size is the length append_json_string would add.
std::size_t json_string_size(std::string_view s);

}  // namespace gcal::core
