// settings.cpp — the GUCs (README: Configuration) and their validation.
#include <cctype>

#include "pg/module.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace gcal::pg {

char *database_name = nullptr;
char *google_api_url = nullptr;
char *google_token_url = nullptr;
int poll_interval_s = 120;
int max_connections = 32;
int http_timeout_ms = 30000;
int lock_timeout_ms = 1000;
double notify_queue_limit = 0.5;
int requests_per_minute = 6000;
int user_requests_per_minute = 300;
char *webhook_url = nullptr;
int change_retention_s = 7 * 24 * 3600;
char *ca_file = nullptr;
char *key_file = nullptr;
char *key_command = nullptr;
char *proxy = nullptr;
int notify_payload = kNotifyFull;

namespace {

// check_url is the GUC check hook of every URL setting: https anywhere, http
// only to loopback; extra says whether the empty string is allowed. It runs in
// the postmaster too, so it must not throw or raise.
bool check_url(char **newval, bool allow_empty) noexcept
{
    try {
        auto problem = core::check_endpoint_url(*newval ? *newval : "", allow_empty);
        if (!problem)
            return true;
        std::string detail = problem->message;  // a sentence: capitalized, with a period
        detail[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(detail[0])));
        GUC_check_errdetail("%s.", detail.c_str());
        GUC_check_errhint("%s", problem->hint.c_str());
        return false;
    } catch (...) {
        GUC_check_errdetail("Out of memory while checking the URL.");
        return false;
    }
}

bool check_required_url(char **newval, void **extra, GucSource source)
{
    return check_url(newval, false);
}

bool check_optional_url(char **newval, void **extra, GucSource source)
{
    return check_url(newval, true);
}

// check_proxy: empty (no proxy), or a proxy URL libcurl understands. Its own
// messages never quote the value (it may hold a password), but PostgreSQL
// itself logs a rejected value ("invalid value for parameter ...") and, on
// reload, the accepted one ("parameter ... changed to ..."): README and
// SECURITY.md say to keep credentials out of this setting.
bool check_proxy(char **newval, void **extra, GucSource source)
{
    static const char *const kSchemes[] = {"http://", "https://", "socks4://", "socks4a://", "socks5://", "socks5h://"};
    const char *v = *newval ? *newval : "";
    if (*v == '\0')
        return true;
    for (const char *s : kSchemes)
        if (pg_strncasecmp(v, s, strlen(s)) == 0 && v[strlen(s)] != '\0') {
            for (const char *c = v; *c; c++)
                if (static_cast<unsigned char>(*c) <= 0x20 || *c == 0x7f) {
                    GUC_check_errdetail("The proxy URL contains a space or a control character.");
                    return false;
                }
            return true;
        }
    GUC_check_errdetail("The proxy must be empty or a URL starting with http://, https://, socks4://, socks4a://, socks5:// or socks5h://.");
    return false;
}

const struct config_enum_entry kNotifyPayloadOptions[] = {
    {"full", kNotifyFull, false},
    {"minimal", kNotifyMinimal, false},
    {nullptr, 0, false},
};

}  // namespace

void define_settings()
{
    DefineCustomStringVariable(
        "gcalsync.database_name", "Database whose gcalsync schema the background worker serves.",
        nullptr, &database_name, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "gcalsync.google_api_url", "Base URL of the Google Calendar API v3.",
        "Plain http is accepted only for loopback hosts (the bundled emulator).",
        &google_api_url, "https://www.googleapis.com/calendar/v3", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
        check_required_url, nullptr, nullptr);
    DefineCustomStringVariable(
        "gcalsync.google_token_url", "URL of Google's OAuth 2.0 token endpoint.",
        "Plain http is accepted only for loopback hosts (the bundled emulator).",
        &google_token_url, "https://oauth2.googleapis.com/token", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
        check_required_url, nullptr, nullptr);
    DefineCustomIntVariable(
        "gcalsync.poll_interval", "How often each calendar is checked when no push notification arrives.",
        "Checks are spread by +/-25% so they do not align.", &poll_interval_s, 120, 1, 7 * 24 * 3600,
        PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "gcalsync.max_connections", "Maximum number of concurrent HTTP transfers of the worker.",
        nullptr, &max_connections, 32, 1, 1024, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "gcalsync.http_timeout", "Timeout of one HTTP request to Google.", nullptr, &http_timeout_ms,
        30000, 100, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "gcalsync.lock_timeout", "Longest wait of the worker for a row lock another session holds.",
        "An owner whose rows stay locked longer (an application transaction left idle) is paused and tried "
        "again a few seconds later; the other owners go on.",
        &lock_timeout_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomRealVariable(
        "gcalsync.notify_queue_limit",
        "Fraction of the server's NOTIFY queue above which gcalsync sends no NOTIFY.",
        "Changes are then recorded in the change feed only, so that a listener that stopped reading cannot "
        "fill the queue and make every commit fail.",
        &notify_queue_limit, 0.5, 0.0, 1.0, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "gcalsync.requests_per_minute", "Client-side ceiling of requests per minute for the whole project.",
        "Google allows 10,000 per minute per project.", &requests_per_minute, 6000, 1, 1000000,
        PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "gcalsync.user_requests_per_minute", "Client-side ceiling of requests per minute for one linked owner.",
        "Google allows 600 per minute per user per project.", &user_requests_per_minute, 300, 1,
        1000000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "gcalsync.webhook_url", "If set, HTTPS address that Google watch channels post notifications to.",
        "Empty disables push channels; calendars are then polled.", &webhook_url, "", PGC_SIGHUP,
        GUC_SUPERUSER_ONLY, check_optional_url, nullptr, nullptr);

    DefineCustomIntVariable(
        "gcalsync.change_retention", "How long entries of the change feed are kept.",
        "The worker prunes older entries; a consumer must read the feed more often than this.",
        &change_retention_s, 7 * 24 * 3600, 60, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "gcalsync.key_file", "File holding the keys that seal refresh tokens and the client secret at rest.",
        "Relative to the directory of postgresql.conf unless absolute; warned about inside the data directory; "
        "created with a random key on first use (never while sealed secrets are stored); mode 0600. "
        "Keep it out of backups of the database, and with them.",
        &key_file, "gcalsync.key", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "gcalsync.key_command", "If set, command whose output gives the keys instead of gcalsync.key_file (e.g. from a KMS).",
        "An absolute program path and its arguments, run without a shell; it prints 64 hexadecimal digits per key, "
        "the current key first. Its output is never logged.",
        &key_command, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "gcalsync.ca_file", "File of CA certificates to trust for Google's URLs instead of the system's store (e.g. a private CA).",
        "Empty uses the system's CA store. Certificate verification is never turned off.", &ca_file, "",
        PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "gcalsync.proxy", "Proxy for every request to Google (e.g. http://proxy.internal:3128).",
        "Empty (the default) means no proxy: the environment's http_proxy, https_proxy, ALL_PROXY and "
        "no_proxy are ignored. HTTPS goes through the proxy as a CONNECT tunnel, verified end to end.",
        &proxy, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_proxy, nullptr, nullptr);
    DefineCustomEnumVariable(
        "gcalsync.notify_payload", "What NOTIFY gcalsync payloads carry.",
        "full: owner, calendar and item ids; minimal: only the table, the operation and the change feed's seq "
        "(any role may LISTEN, so minimal keeps ids from roles that cannot read the tables).",
        &notify_payload, kNotifyFull, kNotifyPayloadOptions, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);

    MarkGUCPrefixReserved("gcalsync");
}

}  // namespace gcal::pg
