// push.hpp — Google watch channels (push notifications): the requests that
// open and stop them, and the rules for when to renew one.
//
// A channel cannot be extended: before it expires a new one is opened, and
// only then the old one stopped, so notifications never lapse.
#pragma once
#include "core/pure.hpp"

#include "core/pacing.hpp"

#include <string>
#include <string_view>

namespace gcal::core {

// new_channel_id makes a random channel id ("gcalsync-" + 32 hex digits;
// Google allows up to 64 characters of [A-Za-z0-9-_+/=]). Ids and tokens
// come from OpenSSL's RAND_bytes, like the keys.
std::string new_channel_id();
// new_channel_token makes the secret Google echoes in X-Goog-Channel-Token,
// by which gcal_push recognises genuine notifications (64 hex digits).
std::string new_channel_token();
// channel_token_hash is what gcalsync.channel.token stores instead of the
// token: SHA-256 in 64 lower-case hex digits (the same as SQL's
// encode(sha256(convert_to(token, 'UTF8')), 'hex')), so that a dump or a
// reader of the table cannot forge notifications.
std::string channel_token_hash(std::string_view token);

std::string calendar_list_watch_url(std::string_view base);
std::string events_watch_url(std::string_view base, std::string_view calendar_id);
std::string channels_stop_url(std::string_view base);

// watch_request_body is the JSON body of events.watch / calendarList.watch.
std::string watch_request_body(std::string_view channel_id, std::string_view address,
                               std::string_view token);
// stop_request_body is the JSON body of channels.stop.
std::string stop_request_body(std::string_view channel_id, std::string_view resource_id);

// needs_renewal: a channel expiring within two poll intervals (the longest a
// round can be away, with jitter) is replaced now.
bool needs_renewal(Micros expires_at, Micros now, Micros poll_interval);

// tokens_equal compares secrets in constant time (no early exit on the first
// difference that would time how much of a guess was right).
bool tokens_equal(std::string_view a, std::string_view b);

}  // namespace gcal::core
