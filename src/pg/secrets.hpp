// secrets.hpp — refresh tokens and the client secret, sealed at rest with
// the key file named by gcalsync.key_file (see core/crypto.hpp).
#pragma once

#include "pg/boundary.hpp"

namespace gcal::pg {

// lock_keys takes the key lock until the end of the transaction: shared by
// every transaction that seals (taken by seal_secret, and earlier, before
// any row lock, by each path that seals), exclusive for gcal_rotate_key. So
// a rotation waits until every transaction that sealed with the old key has
// committed (and then re-seals what they wrote), a transaction that seals
// waits until a rotation has committed (and then seals with the new key),
// and two rotations never rewrite the key file at once. It is an advisory
// lock of no database (pg_locks: locktype advisory, database 0, classid
// kKeyLockClass, objid kKeyLockObject, objsubid 2), so it covers every
// database that shares the key file.
inline constexpr uint32_t kKeyLockClass = 0x67636c73;  // "gcls"
inline constexpr uint32_t kKeyLockObject = 0x6b657973;  // "keys"
void lock_keys(bool exclusive);
// seal_secret encrypts with the current key, creating the key file (mode
// 0600, a fresh random key) when it does not exist yet.
std::string seal_secret(std::string_view plaintext, std::string_view aad);
// open_secret decrypts; nullopt and *error (no secret in it) when it cannot.
std::optional<std::string> open_secret(std::string_view sealed, std::string_view aad, std::string *error);
// add_new_key puts a fresh key in front of the key file's keys (older keys
// stay, so everything sealed so far still opens) and returns its id in hex.
std::string add_new_key();
// key_file_path is gcalsync.key_file resolved against the directory of
// postgresql.conf (or 1.0's place in the data directory, while only that
// one exists); a key file inside the data directory is warned about.
std::string key_file_path();
// key_source names where the keys come from, for messages: the key file
// (quoted) or gcalsync.key_command.
std::string key_source();

}  // namespace gcal::pg
