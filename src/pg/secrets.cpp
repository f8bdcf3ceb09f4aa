// secrets.cpp — the key file: found, checked, cached, created and rotated.
#include "pg/secrets.hpp"

#include "pg/module.hpp"

extern "C" {
#include "storage/lock.h"
}

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cerrno>

namespace gcal::pg {

namespace {

// The parsed key file and what it was parsed from (re-read when it changes).
struct Cache {
    std::string path;
    struct timespec mtime {};
    off_t size = -1;
    ino_t inode = 0;
    std::optional<core::Keyring> ring;
} cache;

[[noreturn]] void key_error(const std::string &message, const std::string &detail = {},
                            const std::string &hint = {})
{
    throw UserError(ERRCODE_CONFIG_FILE_ERROR, message, detail, hint);
}

const char *const kHint =
    "gcalsync.key_file names a file of the server's data directory (or an absolute path) "
    "holding 64 hexadecimal digits per key, readable only by the server's user.";

// read_file reads a key file after checking that it is a regular file (not
// a symbolic link) of the server's user that only its owner can read.
std::string read_file(const std::string &path, struct stat *st)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP)
        key_error("key file \"" + path + "\" is a symbolic link", {},
                  "Point gcalsync.key_file at the file itself.");
    if (fd < 0)
        key_error("could not open key file \"" + path + "\": " + strerror(errno), {}, kHint);
    std::string text;
    bool ok = fstat(fd, st) == 0;
    if (ok && !S_ISREG(st->st_mode)) {
        ::close(fd);
        key_error("key file \"" + path + "\" is not a regular file", {}, kHint);
    }
    if (ok && st->st_uid != geteuid()) {
        ::close(fd);
        key_error("key file \"" + path + "\" is not owned by the server's user",
                  "The key opens every stored refresh token.", "Give it to the user the server runs as, mode 0600.");
    }
    if (ok && (st->st_mode & (S_IRWXG | S_IRWXO))) {
        ::close(fd);
        key_error("key file \"" + path + "\" has group or world access",
                  "The key opens every stored refresh token.", "Run: chmod 600 " + path);
    }
    char buf[4096];
    ssize_t n;
    while (ok && (n = ::read(fd, buf, sizeof buf)) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    OPENSSL_cleanse(buf, sizeof buf);
    ::close(fd);
    return text;
}

std::string directory_of(const std::string &path)
{
    auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : slash == 0 ? std::string("/") : path.substr(0, slash);
}

// write_file_atomically replaces (or creates, if `exclusive`, only when
// absent) a key file durably: a temporary file of its own (O_EXCL, so no
// other file, O_NOFOLLOW, so no link, is written through), mode 0600,
// fsynced, renamed (or linked) into place, and the directory fsynced, so a
// crash leaves the old file or the new one, never a torn or lost one.
bool write_file_atomically(const std::string &path, const std::string &text, bool exclusive)
{
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::open(tmp.c_str(), flags, 0600);
    if (fd < 0 && errno == EEXIST && ::unlink(tmp.c_str()) == 0)  // left by a crashed process of this pid
        fd = ::open(tmp.c_str(), flags, 0600);
    if (fd < 0)
        key_error("could not create key file \"" + tmp + "\": " + strerror(errno));
    bool ok = fchmod(fd, 0600) == 0;
    for (std::size_t done = 0; ok && done < text.size();) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        ok = n > 0;
        if (ok)
            done += static_cast<std::size_t>(n);
    }
    ok = ok && fsync(fd) == 0;
    int err = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
        ::unlink(tmp.c_str());
        key_error("could not write key file \"" + tmp + "\": " + strerror(err ? err : errno));
    }
    bool created = true;
    if (exclusive) {
        // link() fails if another process created the file meanwhile: then use theirs.
        created = ::link(tmp.c_str(), path.c_str()) == 0;
        err = errno;
        ::unlink(tmp.c_str());
        if (!created && err != EEXIST)
            key_error("could not create key file \"" + path + "\": " + strerror(err));
    } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
        err = errno;
        ::unlink(tmp.c_str());
        key_error("could not replace key file \"" + path + "\": " + strerror(err));
    }
    std::string dir = directory_of(path);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        err = errno;
        if (dfd >= 0)
            ::close(dfd);
        key_error("could not fsync directory \"" + dir + "\" of the key file: " + strerror(err));
    }
    ::close(dfd);
    return created;
}

// keyring loads the key file (cached while unchanged); creates it first if
// allowed and missing.
const core::Keyring &keyring(bool create)
{
    std::string path = key_file_path();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {  // lstat: a link in its place is seen (and refused by read_file)
        if (errno != ENOENT || !create)
            key_error("could not open key file \"" + path + "\": " + strerror(errno),
                      "Refresh tokens cannot be decrypted without the key they were sealed with.", kHint);
        std::string line = core::new_key_line();
        if (write_file_atomically(path, "# gcalsync key file: the first key seals, every key opens.\n" + line + "\n",
                                  true))
            // errhidestmt: the statement that got here may hold a token.
            pg_guard([&]() {
                ereport(LOG, (errmsg("gcalsync created key file \"%s\"", path.c_str()), errhidestmt(true)));
            });
    } else if (cache.ring && cache.path == path && cache.size == st.st_size && cache.inode == st.st_ino &&
               cache.mtime.tv_sec == st.st_mtim.tv_sec && cache.mtime.tv_nsec == st.st_mtim.tv_nsec) {
        return *cache.ring;
    }
    struct stat read_st;
    std::string text = read_file(path, &read_st);
    std::string why;
    auto ring = core::Keyring::parse(text, &why);
    if (!ring)
        key_error("invalid key file \"" + path + "\": " + why, {}, kHint);
    cache.path = path;
    cache.size = read_st.st_size;
    cache.inode = read_st.st_ino;
    cache.mtime = read_st.st_mtim;
    cache.ring = std::move(ring);
    return *cache.ring;
}

}  // namespace

std::string key_file_path()
{
    std::string name = key_file && *key_file ? key_file : "gcalsync.key";
    if (name.front() == '/')
        return name;
    return std::string(DataDir) + "/" + name;
}

void lock_keys(bool exclusive)
{
    pg_guard([&]() {
        LOCKTAG tag;
        SET_LOCKTAG_ADVISORY(tag, InvalidOid, kKeyLockClass, kKeyLockObject, 2);
        (void) LockAcquire(&tag, exclusive ? ExclusiveLock : ShareLock, false, false);
    });
}

std::string seal_secret(std::string_view plaintext, std::string_view aad)
{
    lock_keys(false);
    return core::seal(keyring(true).current(), plaintext, aad);
}

std::optional<std::string> open_secret(std::string_view sealed, std::string_view aad, std::string *error)
{
    try {
        return core::open(keyring(false), sealed, aad, error);
    } catch (const UserError &e) {
        if (error)
            *error = e.message;
        return std::nullopt;
    }
}

std::string add_new_key()
{
    lock_keys(true);  // after sealers commit; one rotation at a time
    cache.ring.reset();
    const core::Keyring &ring = keyring(true);
    std::string path = key_file_path();
    std::string line = core::new_key_line();
    std::string text = "# gcalsync key file: the first key seals, every key opens.\n" + line + "\n";
    for (const auto &k : ring.keys())
        text += core::hex(k.bytes.data(), k.bytes.size()) + "\n";
    write_file_atomically(path, text, false);
    cache.ring.reset();
    const core::Keyring &fresh = keyring(false);
    return core::hex(fresh.current().id.data(), fresh.current().id.size());
}

}  // namespace gcal::pg
