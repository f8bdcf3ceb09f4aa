// secrets.cpp — the keys: from the key file (found, checked, cached, created,
// rotated) or from gcalsync.key_command; the key lock.
#include "pg/secrets.hpp"

#include "pg/module.hpp"

#include "pg/spi.hpp"
#include "pg/statements.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/pmsignal.h"
#include "utils/guc.h"
}

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

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
    uint64_t generation = 0;  // key_generation() when it was parsed
} cache;

// key_generation is the count of key rotations since the server started
// (shared memory; 0 when the library is not preloaded: then there is no
// other process of it to follow).
uint64_t key_generation()
{
    return shared ? pg_atomic_read_u64(&shared->key_generation) : 0;
}

// key_rotated tells every process that the keys changed (after the new key
// is in place) and returns the new generation.
uint64_t key_rotated()
{
    return shared ? pg_atomic_add_fetch_u64(&shared->key_generation, 1) : 0;
}

[[noreturn]] void key_error(const std::string &message, const std::string &detail = {},
                            const std::string &hint = {})
{
    throw UserError(ERRCODE_CONFIG_FILE_ERROR, message, detail, hint);
}

const char *const kHint =
    "gcalsync.key_file names a file outside the data directory (an absolute path, or one relative to "
    "the directory of postgresql.conf) holding 64 hexadecimal digits per key, readable only by the "
    "server's user.";

// The keys gcalsync.key_command printed. It runs again when a secret names
// a key it did not print (the key store got a new key): once for each such
// key id, and for an id already asked about at most every kCommandRetry.
struct CommandCache {
    std::string command;
    std::optional<core::Keyring> ring;
    std::chrono::steady_clock::time_point loaded_at;
    uint64_t generation = 0;  // key_generation() when it ran
    std::vector<core::KeyId> asked;  // unknown ids it was run again for (bounded)
} command_cache;

constexpr std::size_t kMaxCommandOutput = 64 * 1024;
constexpr auto kCommandTimeout = std::chrono::seconds(30);
constexpr auto kCommandRetry = std::chrono::seconds(60);

// should_ask_again says whether an unknown key id is worth running the
// command again for, and remembers it.
bool should_ask_again(const core::KeyId &id)
{
    auto &asked = command_cache.asked;
    bool known = std::find(asked.begin(), asked.end(), id) != asked.end();
    if (known && std::chrono::steady_clock::now() - command_cache.loaded_at < kCommandRetry)
        return false;
    if (!known) {
        if (asked.size() >= 64)
            asked.erase(asked.begin());
        asked.push_back(id);
    }
    return true;
}

bool using_command() { return key_command && *key_command; }

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

std::string real_path_of(const char *path)
{
    char *r = realpath(path, nullptr);
    if (!r)
        return {};
    std::string out(r);
    free(r);
    return out;
}

// warn_inside_data_directory: base backups, file-level backups and
// replicas of the data directory carry a key file kept there next to the
// secrets it seals (the directory is resolved, links and ".." included).
// That is said loudly, once per process and place, but the key is used: a
// cluster whose postgresql.conf lives in its data directory (initdb's
// layout) keeps working with the default, and so does an updated 1.0 whose
// key is in the data directory, until the administrator moves it.
void warn_inside_data_directory(const std::string &path)
{
    static std::string warned;
    if (warned == path)
        return;
    std::string dir = real_path_of(directory_of(path).c_str());
    std::string data = real_path_of(DataDir);
    if (data.empty())
        data = DataDir;
    if (dir.empty() || !(dir == data || dir.compare(0, data.size() + 1, data + "/") == 0))
        return;
    warned = path;
    pg_guard([&]() {
        ereport(WARNING,
                (errcode(ERRCODE_CONFIG_FILE_ERROR),
                 errmsg("gcalsync key file \"%s\" is inside the data directory", path.c_str()),
                 errdetail("Backups and replicas of the data directory carry the key next to the secrets it seals."),
                 errhint("Move the key file out of the data directory and set gcalsync.key_file to its new place "
                         "(an absolute path), or fetch the key with gcalsync.key_command."),
                 errhidestmt(true)));
    });
}

// sealed_secrets_exist: whether this database stores a secret sealed with
// some key (then a new key must not be made: it would open none of them).
bool sealed_secrets_exist()
{
    Spi spi;
    spi.run(sql::kSealedSecretsExist);
    return spi.get_bool(0, 0).value_or(true);
}

// run_key_command runs gcalsync.key_command without a shell (its words are
// the program, an absolute path, and its arguments; nothing is substituted)
// and returns what it printed: at most kMaxCommandOutput bytes, within
// kCommandTimeout. Neither its output nor any part of it is ever logged.
std::string run_key_command(const std::string &command)
{
    std::vector<std::string> words;
    for (std::size_t i = 0; i < command.size();) {
        std::size_t j = command.find_first_of(" \t", i);
        if (j == std::string::npos)
            j = command.size();
        if (j > i)
            words.push_back(command.substr(i, j - i));
        i = j + 1;
    }
    if (words.empty() || words[0].front() != '/')
        key_error("gcalsync.key_command must start with the absolute path of a program",
                  "It is run without a shell: its words are the program and its arguments.");
    std::vector<char *> argv;
    for (auto &w : words)
        argv.push_back(w.data());
    argv.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        key_error(std::string("could not run gcalsync.key_command: ") + strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        key_error(std::string("could not run gcalsync.key_command: ") + strerror(err));
    }
    if (pid == 0) {
        // The child: async-signal-safe calls only (the worker has a thread).
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        signal(SIGPIPE, SIG_DFL);
        (void) setpgid(0, 0);  // a group of its own: a kill reaches what it started too
        int in = ::open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(fds[1], 1) < 0)
            _exit(126);
        closefrom(3);  // nothing of the server (client socket, files) reaches the command
        execv(argv[0], argv.data());
        _exit(127);
    }
    (void) setpgid(pid, pid);  // (either call wins; then the group exists before any kill)
    ::close(fds[1]);
    std::string out;
    const char *problem = nullptr;
    auto deadline = std::chrono::steady_clock::now() + kCommandTimeout;
    char buf[4096];
    int status = 0;
    pid_t w = 0;
    // kill_and_reap ends the command (and its process group) and waits for
    // it: SIGKILL cannot be ignored, so this wait is short.
    auto kill_and_reap = [&]() {
        if (kill(-pid, SIGKILL) != 0)
            kill(pid, SIGKILL);
        do
            w = waitpid(pid, &status, 0);
        while (w < 0 && errno == EINTR);
    };
    // stop_for_server: a cancel, a termination or the postmaster's death
    // ends the wait at once, the command killed and reaped first (a
    // CHECK_FOR_INTERRUPTS may not come back).
    auto stop_for_server = [&]() {
        bool interrupted = InterruptPending && (QueryCancelPending || ProcDiePending);
        bool orphaned = !interrupted && !PostmasterIsAlive();
        if (!interrupted && !orphaned)
            return;
        OPENSSL_cleanse(buf, sizeof buf);
        OPENSSL_cleanse(out.data(), out.size());
        ::close(fds[0]);
        kill_and_reap();
        if (interrupted)
            pg_guard([]() { CHECK_FOR_INTERRUPTS(); });
        key_error(orphaned ? "gcalsync.key_command was stopped: the postmaster is gone"
                           : "gcalsync.key_command was stopped by an interrupt");
    };
    // Waits are cut into slices so that interrupts are seen while it runs.
    constexpr long kSliceMs = 100;
    for (;;) {
        stop_for_server();
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            problem = "did not finish within 30 seconds";
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int r = poll(&p, 1, static_cast<int>(std::min<long>(left.count(), kSliceMs)));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;  // the deadline decides
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out.size() + static_cast<std::size_t>(n) > kMaxCommandOutput) {
            problem = "printed more than 64 kB";
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    OPENSSL_cleanse(buf, sizeof buf);
    // Its output ended (it closed it): it must also exit, by the same deadline.
    while (!problem) {
        w = waitpid(pid, &status, WNOHANG);
        if (w < 0 && errno == EINTR)
            continue;
        if (w != 0)
            break;  // exited (w == pid), or cannot be waited for (w < 0)
        stop_for_server();
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            problem = "closed its output but did not exit within 30 seconds";
            break;
        }
        poll(nullptr, 0, static_cast<int>(std::min<long>(left.count(), 10)));
    }
    ::close(fds[0]);
    if (problem)
        kill_and_reap();
    std::string why;
    if (problem)
        why = problem;
    else if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0)
        why = "exited with status " + std::to_string(WEXITSTATUS(status)) +
              (WEXITSTATUS(status) == 127 ? " (could it be run?)" : "");
    else if (w == pid && WIFSIGNALED(status))
        why = "was terminated by signal " + std::to_string(WTERMSIG(status));
    if (!why.empty()) {
        OPENSSL_cleanse(out.data(), out.size());
        key_error("gcalsync.key_command failed: it " + why,
                  "Refresh tokens cannot be decrypted or sealed without the keys it prints.",
                  "It must print the keys, 64 hexadecimal digits per line, the current key first.");
    }
    return out;
}

// command_keyring returns the keys gcalsync.key_command prints (run once per
// process and command, again when `reload`, and again after a rotation in
// any process).
const core::Keyring &command_keyring(bool reload)
{
    std::string command = key_command;
    uint64_t generation = key_generation();  // read before it runs: a rotation meanwhile runs it again
    if (!reload && command_cache.ring && command_cache.command == command && command_cache.generation == generation)
        return *command_cache.ring;
    std::string text = run_key_command(command);
    std::string why;
    auto ring = core::Keyring::parse(text, &why);
    OPENSSL_cleanse(text.data(), text.size());
    if (!ring)
        key_error("invalid output of gcalsync.key_command: " + why, {},
                  "It must print the keys, 64 hexadecimal digits per line, the current key first.");
    command_cache.command = command;
    command_cache.ring = std::move(ring);
    command_cache.loaded_at = std::chrono::steady_clock::now();
    command_cache.generation = generation;
    return *command_cache.ring;
}

// keyring loads the keys: gcalsync.key_command's when it is set, otherwise
// the key file's (cached while unchanged), creating the file first if
// allowed and missing — never while this database stores sealed secrets.
const core::Keyring &keyring(bool create)
{
    if (using_command())
        return command_keyring(false);
    std::string path = key_file_path();
    warn_inside_data_directory(path);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {  // lstat: a link in its place is seen (and refused by read_file)
        if (errno != ENOENT || !create)
            key_error("could not open key file \"" + path + "\": " + strerror(errno),
                      "Refresh tokens cannot be decrypted without the key they were sealed with.", kHint);
        if (sealed_secrets_exist()) {
            std::string old_place = std::string(DataDir) + "/gcalsync.key";
            struct stat old_st;
            bool old_exists = ::lstat(old_place.c_str(), &old_st) == 0;
            key_error("key file \"" + path + "\" does not exist, but this database stores secrets sealed with a key",
                      std::string("A new key would open none of them: every link would be lost.") +
                          (old_exists ? " The data directory holds \"gcalsync.key\", the key file's default "
                                        "place before gcalsync 1.1."
                                      : ""),
                      "Put the key file that sealed them at \"" + path +
                          "\" (or point gcalsync.key_file or gcalsync.key_command at it), mode 0600.");
        }
        std::string line = core::new_key_line();
        if (write_file_atomically(path, "# gcalsync key file: the first key seals, every key opens.\n" + line + "\n",
                                  true))
            // errhidestmt: the statement that got here may hold a token.
            pg_guard([&]() {
                ereport(LOG, (errmsg("gcalsync created key file \"%s\"", path.c_str()), errhidestmt(true)));
            });
    } else if (cache.ring && cache.path == path && cache.size == st.st_size && cache.inode == st.st_ino &&
               cache.mtime.tv_sec == st.st_mtim.tv_sec && cache.mtime.tv_nsec == st.st_mtim.tv_nsec &&
               cache.generation == key_generation()) {
        return *cache.ring;
    }
    uint64_t generation = key_generation();
    struct stat read_st;
    std::string text = read_file(path, &read_st);
    std::string why;
    auto ring = core::Keyring::parse(text, &why);
    OPENSSL_cleanse(text.data(), text.size());  // the keys stay in the parsed ring alone
    if (!ring)
        key_error("invalid key file \"" + path + "\": " + why, {}, kHint);
    cache.path = path;
    cache.size = read_st.st_size;
    cache.inode = read_st.st_ino;
    cache.mtime = read_st.st_mtim;
    cache.generation = generation;
    cache.ring = std::move(ring);
    return *cache.ring;
}

}  // namespace

std::string key_file_path()
{
    std::string name = key_file && *key_file ? key_file : "gcalsync.key";
    if (name.front() == '/')
        return name;
    // Next to postgresql.conf (e.g. /etc/postgresql/15/main on Debian), not
    // in the data directory; but a key already in the data directory (1.0's
    // default place) is used while none is next to postgresql.conf, so an
    // update loses no link (warn_inside_data_directory says to move it).
    std::string config = ConfigFileName && *ConfigFileName ? ConfigFileName : std::string(DataDir) + "/postgresql.conf";
    std::string path = directory_of(config) + "/" + name;
    std::string legacy = std::string(DataDir) + "/" + name;
    struct stat st;
    if (path != legacy && ::lstat(path.c_str(), &st) != 0 && errno == ENOENT && ::lstat(legacy.c_str(), &st) == 0)
        return legacy;
    return path;
}

std::string key_source()
{
    if (using_command())
        return "what gcalsync.key_command prints";
    return "\"" + key_file_path() + "\"";
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
        const core::Keyring *ring = &keyring(false);
        // A key that gcalsync.key_command did not print when it last ran:
        // the key store may have a new one (a rotation elsewhere).
        auto id = core::sealed_key_id(sealed);
        if (using_command() && id && !ring->find(*id) && should_ask_again(*id))
            ring = &command_keyring(true);
        return core::open(*ring, sealed, aad, error);
    } catch (const UserError &e) {
        if (error)
            *error = e.message;
        return std::nullopt;
    }
}

std::string add_new_key()
{
    lock_keys(true);  // after sealers commit; one rotation at a time
    if (using_command()) {
        // The key store holds the keys: the new one is what the command now
        // prints first.
        const core::Keyring &ring = command_keyring(true);
        command_cache.generation = key_rotated();  // the other processes run it again
        return core::hex(ring.current().id.data(), ring.current().id.size());
    }
    cache.ring.reset();
    const core::Keyring &ring = keyring(true);
    std::string path = key_file_path();
    std::string line = core::new_key_line();
    std::string text = "# gcalsync key file: the first key seals, every key opens.\n" + line + "\n";
    for (const auto &k : ring.keys())
        text += core::hex(k.bytes.data(), k.bytes.size()) + "\n";
    write_file_atomically(path, text, false);
    OPENSSL_cleanse(text.data(), text.size());
    key_rotated();  // the other processes read it again, whatever its mtime says
    cache.ring.reset();
    const core::Keyring &fresh = keyring(false);
    return core::hex(fresh.current().id.data(), fresh.current().id.size());
}

}  // namespace gcal::pg
