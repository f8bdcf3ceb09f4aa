// secrets.hpp — refresh tokens and the client secret, sealed at rest with
// the key file named by gcalsync.key_file (see core/crypto.hpp).
#pragma once

#include "pg/boundary.hpp"

namespace gcal::pg {

// seal_secret encrypts with the current key, creating the key file (mode
// 0600, a fresh random key) when it does not exist yet.
std::string seal_secret(std::string_view plaintext, std::string_view aad);
// open_secret decrypts; nullopt and *error (no secret in it) when it cannot.
std::optional<std::string> open_secret(std::string_view sealed, std::string_view aad, std::string *error);
// add_new_key puts a fresh key in front of the key file's keys (older keys
// stay, so everything sealed so far still opens) and returns its id in hex.
std::string add_new_key();
// key_file_path is gcalsync.key_file resolved against the data directory.
std::string key_file_path();

}  // namespace gcal::pg
