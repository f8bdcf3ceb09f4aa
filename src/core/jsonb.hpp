// jsonb.hpp — PostgreSQL 15's on-disk jsonb, made from JSON text in plain C++
// (issue 18): the helper thread encodes an item's `data` so that the writing
// thread only copies bytes where it ran jsonb_in.
//
// The bytes must be exactly what jsonb_in makes of the same text
// (jsonb_util.c: convertToJsonb, uniqueifyJsonbObject; numeric.c:
// make_result). The encoder therefore only takes what it can prove: objects,
// arrays, strings (escapes decoded; \u0000 and unpaired surrogates refused),
// true, false, null and integers (-?(0|[1-9][0-9]*), at most 256 digits,
// stored as short numerics). Anything else (a fraction, an exponent, a raw
// scalar at the top, text that is not strict JSON or not valid UTF-8, a
// little-endian assumption broken, nesting deeper than kMaxJsonbDepth) is
// refused, and the caller runs jsonb_in on the writing thread. Only for a
// database whose encoding is UTF8 (\u escapes of non-ASCII characters are
// decoded that way only there): the caller checks that.
#pragma once
#include "core/pure.hpp"

#include <string>
#include <string_view>

namespace gcal::core {

constexpr int kMaxJsonbDepth = 256;

// encode_jsonb sets *out to the jsonb datum of `json` without its 4-byte
// varlena header (the caller puts VARHDRSZ + out->size() there): the root
// container, aligned as if it followed that header. Returns false (and
// leaves *out empty) when it cannot prove the bytes exact.
bool encode_jsonb(std::string_view json, std::string *out);

}  // namespace gcal::core
