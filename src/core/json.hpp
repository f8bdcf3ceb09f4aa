// json.hpp — owning handles for jansson values, and JSON text helpers.
//
// jansson counts references by hand; Json makes the count follow C++ scope so
// no path (early return, exception) leaks or double-frees a value.
#pragma once
#include "core/pure.hpp"

#include "core/json_text.hpp"

#include <jansson.h>

#include <optional>
#include <string>
#include <string_view>

namespace gcal::core {

// Json owns one reference to a jansson value (or nothing).
class Json {
public:
    Json() = default;
    // adopt takes over a reference the caller owns (a "new reference" in jansson's terms).
    static Json adopt(json_t *v) { return Json(v); }
    // borrow adds a reference to a value owned elsewhere ("borrowed reference").
    static Json borrow(json_t *v) { return Json(json_incref(v)); }
    Json(const Json &o) : v_(json_incref(o.v_)) {}
    Json(Json &&o) noexcept : v_(o.v_) { o.v_ = nullptr; }
    Json &operator=(Json o) noexcept { std::swap(v_, o.v_); return *this; }
    ~Json() { json_decref(v_); }

    json_t *get() const { return v_; }
    explicit operator bool() const { return v_ != nullptr; }
    // release hands the reference to the caller.
    json_t *release() { json_t *v = v_; v_ = nullptr; return v; }

private:
    explicit Json(json_t *v) : v_(v) {}
    json_t *v_ = nullptr;
};

// parse_json parses a whole document. On failure returns an empty Json and,
// if `error` is set, a one-line reason with the position (never the input).
Json parse_json(std::string_view text, std::string *error = nullptr);

// dump_json serializes compactly (no spaces, keys in insertion order).
std::string dump_json(const Json &value);

}  // namespace gcal::core
