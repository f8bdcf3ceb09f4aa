// fuzz_watch_channel.cpp — parse_watch_channel on arbitrary bodies.
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string error;
    auto ch = gcal::core::parse_watch_channel(fuzz::as_text(data, size), &error);
    if (!ch) {
        fuzz::require(!error.empty(), "a failure says why");
        return 0;
    }
    fuzz::require(!ch->id.empty() && !ch->resource_id.empty(), "id and resourceId are set");
    if (ch->expiration)
        fuzz::require(*ch->expiration >= 0 && *ch->expiration % 1000 == 0, "expiration is whole ms, >= 0");
    return 0;
}
