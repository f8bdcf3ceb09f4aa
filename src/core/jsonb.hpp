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
// little-endian assumption broken, nesting deeper than kMaxJsonbDepth, a
// document larger than jsonb_in can build: JsonbLimits) is refused, and the
// caller runs jsonb_in on the writing thread. Only for a database whose
// encoding is UTF8 (\u escapes of non-ASCII characters are decoded that way
// only there): the caller checks that.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace gcal::core {

constexpr int kMaxJsonbDepth = 256;

// ---- The sizes PostgreSQL 15's jsonb_in refuses (jsonb_util.c) ----------
//
// Whatever jsonb_in cannot build, encode_jsonb refuses (the caller then runs
// jsonb_in, which raises its error as for any other row):
//
// - a container's children: the parse state (pushJsonbValue) holds them in an
//   array of JsonbValue (an object's pairs: of JsonbPair, duplicate keys
//   included, as they are removed only at the object's end) that starts
//   with room for 4 and doubles when full (appendElement, appendKey), and
//   repalloc refuses a request above MaxAllocSize; appendElement and
//   appendKey also refuse more than JSONB_MAX_ELEMS and JSONB_MAX_PAIRS
//   (MaxAllocSize / the size of one, at most JB_CMASK). The room that fits
//   is the smaller bound: 2^24 elements, 2^23 pairs. (Checked on PostgreSQL
//   15.20: jsonb_in builds an array of 2^24 nulls and an object of 2^23
//   pairs of one key, and refuses one more with "invalid memory alloc
//   request size 1073741824" and "... 1207959552"; encode_jsonb gives its
//   bytes at the limit, boundary_selftest('jsonb:...'), and refuses past it.)
// - JENTRY_OFFLENMASK (2^28 - 1) bytes: the longest string (checkStringLen),
//   the total of a container's children's data and a container's own size
//   (convertJsonbArray, convertJsonbObject: "total size of jsonb array
//   elements exceeds the maximum of 268435455 bytes").

// MaxAllocSize (utils/memutils.h): the largest palloc or repalloc.
constexpr std::size_t kPgMaxAllocSize = 0x3fffffff;
// sizeof(JsonbValue) and sizeof(JsonbPair) of PostgreSQL 15 on a 64-bit
// build. (A 32-bit build's are smaller, so its jsonb_in holds more children:
// the limits below only refuse more there, which is safe.)
constexpr std::size_t kPgJsonbValueSize = 32, kPgJsonbPairSize = 72;

// jsonb_max_children is the most children jsonb_in can hold in one container
// whose parse state keeps them in items of `item_size` bytes.
constexpr std::size_t jsonb_max_children(std::size_t item_size)
{
    std::size_t room = 4;  // pushJsonbValueScalar: WJB_BEGIN_ARRAY, WJB_BEGIN_OBJECT
    while (2 * room * item_size <= kPgMaxAllocSize)
        room *= 2;
    std::size_t most = kPgMaxAllocSize / item_size;  // JSONB_MAX_ELEMS, JSONB_MAX_PAIRS
    if (most > 0x0FFFFFFF)
        most = 0x0FFFFFFF;  // JB_CMASK
    return room < most ? room : most;
}

constexpr std::size_t kJsonbMaxElements = jsonb_max_children(kPgJsonbValueSize);
constexpr std::size_t kJsonbMaxPairs = jsonb_max_children(kPgJsonbPairSize);
constexpr std::size_t kJsonbMaxOffLen = 0x0FFFFFFF;  // JENTRY_OFFLENMASK
static_assert(kJsonbMaxElements == (std::size_t{1} << 24) && kJsonbMaxPairs == (std::size_t{1} << 23),
              "the room jsonb_util.c's doubling reaches below MaxAllocSize");

// JsonbLimits are the limits encode_jsonb applies: PostgreSQL's by default.
// A test lowers them to reach them with small documents; a value above
// PostgreSQL's counts as PostgreSQL's.
struct JsonbLimits {
    std::size_t max_elements = kJsonbMaxElements;  // of one array
    std::size_t max_pairs = kJsonbMaxPairs;        // of one object, as written (duplicate keys too)
    std::size_t max_offlen = kJsonbMaxOffLen;      // a string's bytes, a container's size
    // The text itself, a bound of the encoder's own (not jsonb_in's): its
    // 32-bit offsets into the text stay valid below it, and no text datum
    // holds more.
    std::size_t max_text = kPgMaxAllocSize - 1;
};

// encode_jsonb sets *out to the jsonb datum of `json` without its 4-byte
// varlena header (the caller puts VARHDRSZ + out->size() there): the root
// container, aligned as if it followed that header. Returns false (and
// leaves *out empty) when it cannot prove the bytes exact, or when jsonb_in
// would refuse the document for its size (`limits`).
bool encode_jsonb(std::string_view json, std::string *out, const JsonbLimits &limits = JsonbLimits{});

}  // namespace gcal::core
