// GoogleTest: sealing secrets at rest (AES-256-GCM) and the key file format.
#include "core/crypto.hpp"
#include "core/push.hpp"

#include <gtest/gtest.h>

using namespace gcal::core;

namespace {
Keyring ring(const std::string &text)
{
    std::string err;
    auto r = Keyring::parse(text, &err);
    EXPECT_TRUE(r) << err;
    return *r;
}
}  // namespace

TEST(Crypto, SealOpenRoundTripAndFreshNonces)
{
    Keyring k = ring(new_key_line() + "\n");
    std::string a = seal(k.current(), "1//0g-secret-token", refresh_token_aad("alice"));
    std::string b = seal(k.current(), "1//0g-secret-token", refresh_token_aad("alice"));
    EXPECT_NE(a, b);  // random nonce per seal
    EXPECT_EQ(a.find("secret-token"), std::string::npos);
    std::string err;
    EXPECT_EQ(open(k, a, refresh_token_aad("alice"), &err).value_or("?"), "1//0g-secret-token");
    EXPECT_EQ(open(k, seal(k.current(), "", "x"), "x", &err).value_or("?"), "");
}

TEST(Crypto, BoundToItsRowAndTamperEvident)
{
    Keyring k = ring(new_key_line());
    std::string sealed = seal(k.current(), "token", refresh_token_aad("alice"));
    std::string err;
    EXPECT_FALSE(open(k, sealed, refresh_token_aad("bob"), &err));  // moved to another owner
    EXPECT_NE(err.find("does not authenticate"), std::string::npos);
    EXPECT_FALSE(open(k, sealed, channel_stop_aad("alice"), &err));  // moved to another kind of row
    for (std::size_t i = 9; i < sealed.size(); i++) {
        std::string t = sealed;
        t[i] ^= 0x01;
        EXPECT_FALSE(open(k, t, refresh_token_aad("alice"), &err)) << i;
    }
    EXPECT_FALSE(open(k, sealed.substr(0, 20), refresh_token_aad("alice"), &err));
    EXPECT_FALSE(open(k, "plain text token", refresh_token_aad("alice"), &err));
    EXPECT_NE(err.find("not in gcalsync's sealed format"), std::string::npos);
}

TEST(Crypto, KeyringRotationAndUnknownKeys)
{
    std::string old_line = new_key_line(), new_line = new_key_line();
    Keyring old_ring = ring(old_line);
    std::string sealed = seal(old_ring.current(), "token", "aad");
    Keyring both = ring("# comment\n\n" + new_line + "\n" + old_line + "\n");
    ASSERT_EQ(both.keys().size(), 2u);
    EXPECT_EQ(hex(both.current().bytes.data(), 32), new_line);  // the first key seals
    std::string err;
    EXPECT_EQ(open(both, sealed, "aad", &err).value_or("?"), "token");  // older keys still open
    Keyring only_new = ring(new_line);
    EXPECT_FALSE(open(only_new, sealed, "aad", &err));
    EXPECT_NE(err.find("not in the key file"), std::string::npos);
    EXPECT_EQ(sealed_key_id(sealed), old_ring.current().id);
}

TEST(Crypto, KeyFileErrors)
{
    std::string err;
    EXPECT_FALSE(Keyring::parse("", &err));
    EXPECT_NE(err.find("no key"), std::string::npos);
    EXPECT_FALSE(Keyring::parse("# only a comment\n", &err));
    EXPECT_FALSE(Keyring::parse(std::string(63, 'a'), &err));
    EXPECT_NE(err.find("line 1"), std::string::npos);
    EXPECT_FALSE(Keyring::parse(std::string(64, 'g'), &err));
    EXPECT_TRUE(Keyring::parse(std::string(64, 'A') + "\r\n", &err));  // CRLF and upper case are fine
}

TEST(Push, ChannelIdsTokensAndRenewal)
{
    std::string id = new_channel_id(), token = new_channel_token();
    EXPECT_LE(id.size(), 64u);
    EXPECT_EQ(id.rfind("gcalsync-", 0), 0u);
    EXPECT_EQ(token.size(), 64u);
    EXPECT_NE(new_channel_token(), token);
    EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(id.substr(9).find_first_not_of("0123456789abcdef"), std::string::npos);
    // What gcalsync.channel.token stores: SHA-256 in hex (FIPS 180-2 example "abc").
    EXPECT_EQ(channel_token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(channel_token_hash(token).size(), 64u);
    EXPECT_NE(channel_token_hash(token), token);
    EXPECT_TRUE(tokens_equal("abc", "abc"));
    EXPECT_FALSE(tokens_equal("abc", "abd"));
    EXPECT_FALSE(tokens_equal("abc", "abcd"));
    EXPECT_FALSE(tokens_equal("", "a"));
    EXPECT_TRUE(needs_renewal(100 * kSecond, 0, 60 * kSecond));   // 100 s left < 2 x 60 s
    EXPECT_FALSE(needs_renewal(200 * kSecond, 0, 60 * kSecond));
    EXPECT_EQ(watch_request_body("id\"1", "https://h/x", "t"),
              "{\"id\":\"id\\\"1\",\"type\":\"web_hook\",\"address\":\"https://h/x\",\"token\":\"t\"}");
    EXPECT_EQ(events_watch_url("https://g/v3", "en.usa#holiday@group"),
              "https://g/v3/calendars/en.usa%23holiday%40group/events/watch");
}
