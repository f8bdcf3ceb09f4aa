// sync.hpp — the sync engine: for each owner with work due, get an access
// token, walk the calendar list and each calendar's events (full listings
// page by page, then incremental ones with sync tokens), and hand every page
// to the Store, which commits it together with its page or sync token.
//
// Google's semantics live here, in one place each:
//   410 (any)             -> forget the resource's tokens, list it in full again;
//                            the Store marks what the full listing did not return
//   401                   -> renew the access token once and retry
//   invalid_grant         -> owner revoked, no more requests until gcal_refresh
//   404 on a calendar     -> that calendar is marked deleted, the others go on
//   a calendar's listing failing (5xx, 429, 410 again and again, a malformed,
//   oversized or unstorable page) -> that calendar backs off on its own; the
//                            owner is in backoff only when all its calendars fail
//   429/403 rate/5xx/net  -> owner in backoff: truncated exponential, jitter,
//                            Retry-After honoured
//   400 to a sync token   -> like 410
//   403 dailyLimitExceeded -> backoff until the next midnight Pacific time
//   403 insufficientPermissions, accessNotConfigured (any call), forbidden
//   (calendar list), a grant without the Calendar scope -> owner in error
// The engine knows nothing of PostgreSQL: the Store interface is implemented
// with SPI in src/pg/store.cpp, and by fakes in the unit tests.
#pragma once
#include "core/pure.hpp"

#include "core/google.hpp"
#include "core/http.hpp"
#include "core/metrics.hpp"
#include "core/outbox.hpp"
#include "core/pacing.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace gcal::core {

enum class OwnerState { Pending, Active, Backoff, Revoked, Error };
const char *to_string(OwnerState s);
std::optional<OwnerState> owner_state_from(std::string_view s);

// max_response_bytes is the largest answer accepted to a request of that kind
// (http.hpp: kMaxSmallResponseBytes, kMaxCalendarResponseBytes, kMaxListPageBytes).
std::size_t max_response_bytes(Api api);

// OwnerLink is one owner's link as the worker read it. generation changes on
// every gcal_link and gcal_refresh (a new refresh token), so work done for an
// older link is recognised and dropped.
struct OwnerLink {
    std::string owner;
    int64_t generation = 0;
    std::string refresh_token;
    OwnerState state = OwnerState::Pending;
    int failures = 0;
    int64_t requested_seq = 0;  // work requested so far (gcal_link, gcal_sync_now, ...)
    int64_t resync_mark = 0;    // when a full sync was last requested (gcal_resync): pages
                                // fetched before a newer request are dropped
    bool list_due = false;      // the calendar list (not only some calendars) is due
};

struct Credentials {
    std::string client_id, client_secret;
    std::string error;  // why the secret could not be read (then it is empty)
};

enum class Resource { CalendarList, Events };

// Cursor is where a resource's listing stands: the sync token of the last
// complete listing and, while a listing is under way, the next page.
struct Cursor {
    std::string sync_token;
    std::string page_token;
};

// PageStep tells the Store what a page means for its resource's progress.
struct PageStep {
    bool full = false;             // a listing without a sync token
    bool first = false;            // the first page of a full listing
    std::string next_page_token;   // more pages follow ("" on the last page)
    std::string next_sync_token;   // the last page's token ("" before it)
};

// Channel is an open watch channel of an owner.
struct Channel {
    std::string channel_id, resource_id;
    Resource kind = Resource::Events;
    std::string calendar_id;  // "" for the calendar list
    Micros expires_at = 0;
};

// ChannelStop is a channel to stop at Google, with the refresh token of the
// link that opened it (the owner may be gone by now).
struct ChannelStop {
    std::string channel_id, resource_id, refresh_token;
};

// DueCalendar is a calendar whose events are due, with the next_sync_at the
// schedule held when it was read.
struct DueCalendar {
    std::string calendar_id;
    Micros seen = 0;
    int failures = 0;  // the calendar's failed listings in a row
};

// CalendarDone is a calendar whose listing completed, and its next check.
// The schedule moves to next_at only if it still is `seen`: a push,
// gcal_sync_now or gcal_resync that made the calendar due meanwhile wins.
struct CalendarDone {
    std::string calendar_id;
    Micros seen = 0;
    Micros next_at = 0;
};

// TokenMove is a sync token an idle incremental check got back in place of
// `from`, with no changes: stored with the round's schedule, not on its own.
struct TokenMove {
    Resource kind = Resource::Events;
    std::string calendar_id;  // "" for the calendar list
    std::string from, to;
};

class Store {
public:
    virtual ~Store() = default;
    // due_owners lists owners with work due now: requested work first, then the most overdue.
    // Owners for which busy(owner) is true (a round is running) are left out.
    virtual std::vector<OwnerLink> due_owners(std::size_t limit,
                                              const std::function<bool(const std::string &)> &busy) = 0;
    // next_due is when the earliest scheduled work falls due (nullopt: none).
    virtual std::optional<Micros> next_due() = 0;
    virtual std::optional<Credentials> credentials() = 0;
    // due_calendars lists the owner's enabled calendars whose events are due
    // by due_by (a round that synced the list takes calendars due soon along).
    virtual std::vector<DueCalendar> due_calendars(const OwnerLink &link, Micros due_by) = 0;
    // unfetched_calendars lists the owner's live calendar-list entries that
    // have no calendar resource stored: their calendars.get was lost (a
    // crash or restart after the list's page committed, before the get did).
    virtual std::vector<std::string> unfetched_calendars(const OwnerLink &link) { return {}; }
    virtual Cursor cursor(const OwnerLink &link, Resource r, const std::string &calendar_id) = 0;
    // reset_cursor forgets sync and page tokens: the next listing is full.
    virtual void reset_cursor(const OwnerLink &link, Resource r, const std::string &calendar_id) = 0;
    // The write_* calls commit one response with its step and NOTIFY; they
    // return false when the owner was unlinked or relinked meanwhile (nothing written).
    virtual bool write_calendar_list(const OwnerLink &link, const CalendarListPage &page,
                                     const PageStep &step) = 0;
    virtual bool write_calendar(const OwnerLink &link, const CalendarResource &calendar) = 0;
    virtual bool write_events(const OwnerLink &link, const std::string &calendar_id,
                              const EventsPage &page, const PageStep &step) = 0;
    // calendars_synced records completed listings (see CalendarDone) of the
    // link (nothing when the owner was relinked meanwhile).
    virtual void calendars_synced(const OwnerLink &link, const std::vector<CalendarDone> &calendars) = 0;
    // calendar_metadata stores a calendar's summary and time zone as an events
    // page's envelope carries them, where they differ from the stored ones
    // (absent: left as they are); false when the owner was relinked meanwhile.
    virtual bool calendar_metadata(const OwnerLink &link, const std::string &calendar_id,
                                   const OptText &summary, const OptText &time_zone) = 0;
    // calendar_gone marks a calendar deleted (404) and tombstones its events;
    // it is checked again at retry_at while the calendar list still lists it,
    // and comes back (listed in full) when it answers again.
    virtual void calendar_gone(const OwnerLink &link, const std::string &calendar_id, Micros retry_at) = 0;
    virtual void calendar_failed(const OwnerLink &link, const std::string &calendar_id,
                                 const std::string &error, Micros retry_at) = 0;
    // calendars_all_failing: the owner has enabled calendars and each of them
    // failed its last listing (then the owner is in backoff, not only they).
    virtual bool calendars_all_failing(const OwnerLink &link) = 0;
    // owner_free probes, without waiting, whether another session holds the
    // owner's row locked: false (or StoreBusy) when it does. The engine asks
    // before it restarts an owner it paused for StoreBusy, so a paused owner
    // costs no Google requests and no lock wait while the lock is held.
    // (Default: free; a store without locks never pauses owners.)
    virtual bool owner_free(const std::string &owner) { (void) owner; return true; }
    // jsonb_events: whether the events of the next page of a calendar's full
    // listing should come with their data encoded as jsonb (EventRow::jsonb,
    // core/jsonb.hpp) by the helper thread: for a store that writes those
    // bytes as they are (a UTF8 database, rows that go in as new ones).
    // Asked on the main thread before the page is fetched.
    virtual bool jsonb_events(const OwnerLink &link, const std::string &calendar_id)
    {
        (void) link;
        (void) calendar_id;
        return false;
    }
    // owner_synced ends a successful round in one transaction: state active;
    // when the list was synced, the owner's requested work is complete and
    // next_at is its next check; each calendar whose listing completed in the
    // round gets its next check (as calendars_synced does), and each token move
    // is stored where the resource's token still is `from`. The engine does
    // not call it for a round with nothing of this to record. (A failed round
    // records its completed calendars with calendars_synced; its token moves
    // are dropped: the old tokens stay valid.)
    virtual void owner_synced(const OwnerLink &link, bool list_synced, Micros next_at,
                              const std::vector<CalendarDone> &calendars,
                              const std::vector<TokenMove> &tokens) = 0;
    virtual void owner_failed(const OwnerLink &link, OwnerState state, const std::string &error,
                              Micros retry_at) = 0;

    // Push channels.
    virtual std::vector<Channel> channels(const OwnerLink &link) = 0;
    // watchable_calendars: enabled calendars not known to refuse push.
    virtual std::vector<std::string> watchable_calendars(const OwnerLink &link) = 0;
    virtual bool save_channel(const OwnerLink &link, const Channel &channel, const std::string &token) = 0;
    // retire_channel moves a channel to the stop queue.
    virtual void retire_channel(const OwnerLink &link, const std::string &channel_id) = 0;
    // push_unsupported: the calendar answered pushNotSupportedForRequestedResource.
    virtual void push_unsupported(const OwnerLink &link, const std::string &calendar_id) = 0;
    virtual std::vector<ChannelStop> channels_to_stop(std::size_t limit) = 0;
    virtual void channel_stopped(const std::string &channel_id) = 0;

    // The outbox (core/outbox.hpp). (Defaults: a store without an outbox.)
    // due_writes fails the queued writes never sent (sent_at NULL) of owners
    // that can no longer send (revoked, in error; their sent ones stay queued
    // for a relink, last_error saying so), then lists the first queued write of each event
    // whose attempt is due, in commit order; owners for which busy(owner)
    // is true (their writes are being sent) are left out.
    virtual std::vector<OutboxWrite> due_writes(std::size_t limit,
                                                const std::function<bool(const std::string &)> &busy)
    {
        return {};
    }
    // write_link is the link an owner's writes are sent with (nullopt: the
    // owner is not linked, or cannot send).
    virtual std::optional<OwnerLink> write_link(const std::string &owner) { return std::nullopt; }
    // write_finished ends a write in one transaction: the event as Google
    // answered (`mirror`, if any) stored and announced like a page's rows,
    // and the write marked `state` with `error` ("" none).
    virtual void write_finished(const OwnerLink &link, const OutboxWrite &w, WriteState state,
                                const std::string &error, const EventsPage *mirror)
    {
    }
    // write_retry: a transient failure; the write is tried again at retry_at.
    virtual void write_retry(const OutboxWrite &w, const std::string &error, Micros retry_at) {}
    // writes_sent marks writes (sent) before they are handed to Google, in a
    // committed transaction: from then on Google may have applied them, and
    // their owner's revoked or error state never fails them (they wait for a
    // relink). Returns the writes marked: those still queued (a write failed
    // meanwhile, by an unlink or its owner's error, must not be sent).
    // sent = false: Google's answer proved the write was not applied and it
    // had never been sent before (the return value is then not used).
    virtual std::vector<int64_t> writes_sent(const std::vector<int64_t> &ids, bool sent) { return ids; }
};

// StoreBusy is what a Store throws when a write would have to wait longer
// than it may for a lock another session holds (an application transaction
// left idle after gcal_sync_now, say): the engine drops the owner's round
// without recording an outcome (nothing was written, nor can be) and tries
// the owner again a few seconds later; the other owners go on meanwhile.
class StoreBusy : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Hooks connect the engine to its process.
struct Hooks {
    std::function<Micros()> now;
    // wait sleeps up to wait_ms (0: does not sleep) unless woken, and checks
    // for signals; true when the worker was woken (new work may be waiting).
    std::function<bool(int wait_ms)> wait;
    // log writes an operational message (never a secret).
    std::function<void(const std::string &)> log;
    // housekeeping runs about once a second from run(), which may not return
    // for a long time while owners keep falling due (may be empty).
    std::function<void()> housekeeping;
    // metrics receives what the engine counts (core/metrics.hpp); null: nothing is counted.
    Metrics *metrics = nullptr;
};

struct EngineConfig {
    std::string api_base;   // gcalsync.google_api_url, no trailing slash
    std::string token_url;  // gcalsync.google_token_url
    Micros poll_interval = 120 * kSecond;
    int requests_per_minute = 6000;
    int user_requests_per_minute = 300;
    std::string webhook_url;  // "" = no push channels
};

class SyncEngine {
public:
    SyncEngine(Store &store, HttpClient &http, Hooks hooks);
    void configure(EngineConfig config);
    // run syncs everything due, and what falls due meanwhile, until nothing
    // is left to do now.
    void run();

private:
    struct Round;
    struct Listing;
    using RoundPtr = std::shared_ptr<Round>;
    using BodyHandler = std::function<void(const RoundPtr &, std::string &&body)>;
    using ErrorHandler =
        std::function<void(const RoundPtr &, const ApiError &, std::optional<int64_t> retry_after_s)>;

    void start_due_owners();
    // The outbox: start_due_writes sends the due writes of owners whose
    // writes are not being sent (one round of writes per owner at a time).
    void start_due_writes();
    void send_write(const RoundPtr &r, const OutboxWrite &w, bool retried_auth = false, bool mark = false);
    bool mark_sent(const std::vector<OutboxWrite> &writes, bool sent);
    void fetch_for_write(const RoundPtr &r, const OutboxWrite &w, const WriteVerdict &v);
    void finish_write(const RoundPtr &r, const OutboxWrite &w, WriteState state, const std::string &error,
                      const EventsPage *mirror);
    void retry_write(const OutboxWrite &w, const std::string &error, std::optional<int64_t> retry_after_s);
    void end_writes(const RoundPtr &r);
    void tidy();
    void start_round(const OwnerLink &link);
    void with_token(const RoundPtr &r, std::function<void(const RoundPtr &)> then);
    // api_get fetches url; `prepare` (if any) runs on the helper thread when the
    // response is in (whatever its status), before `ok` or `on_error`; bulky
    // marks a response of megabytes.
    void api_get(const RoundPtr &r, Api api, std::string url, BodyHandler ok, ErrorHandler on_error,
                 HttpClient::Prepare prepare = nullptr, bool bulky = false, bool retried_auth = false);
    void send(const RoundPtr &r, HttpRequest req, HttpClient::Callback done, HttpClient::Prepare prepare = nullptr);
    void list_page(const std::shared_ptr<Listing> &l);
    void on_listing_error(const std::shared_ptr<Listing> &l, const ApiError &e,
                          std::optional<int64_t> retry_after_s);
    // calendar_failure fails one calendar's listing (not the owner's round): it
    // is tried again after its own backoff, the other calendars go on.
    void calendar_failure(const std::shared_ptr<Listing> &l, const std::string &error,
                          std::optional<int64_t> retry_after_s, std::optional<Micros> retry_at = {},
                          bool rate_limited = false);
    bool hard_error(const RoundPtr &r, const std::string &what, const ApiError &e, bool lists);
    void start_calendars(const RoundPtr &r);
    void fetch_calendar(const RoundPtr &r, const std::string &calendar_id);
    void maintain_channels(const RoundPtr &r);
    void open_channel(const RoundPtr &r, Resource kind, const std::string &calendar_id,
                      std::vector<std::string> replaces);
    void stop_channels();
    void fail(const RoundPtr &r, OwnerState state, std::string error, std::optional<int64_t> retry_after = {});
    void fail_transport(const RoundPtr &r, const std::string &what, const HttpResponse &resp);
    void begin(const RoundPtr &r);
    void end(const RoundPtr &r);
    void guarded(const RoundPtr &r, const std::function<void()> &step);
    void owner_busy(const std::string &owner, const std::string &why);
    bool owner_free(const std::string &owner);
    // count_request counts a finished request (and the time a ceiling held it back).
    void count_request(Api api, const HttpResponse &resp, bool rate_limited = false);
    // publish_stats flushes the counts and the live figures (at most every 100 ms unless forced).
    void publish_stats(bool force);
    Micros now() const { return hooks_.now(); }

    Store &store_;
    HttpClient &http_;
    Hooks hooks_;
    EngineConfig config_;
    RequestPacer pacer_;
    std::mt19937_64 rng_;
    std::unordered_map<std::string, RoundPtr> rounds_;
    std::unordered_map<std::string, RoundPtr> write_rounds_;  // owners whose writes are being sent
    bool writes_ready_ = false;  // a round of writes ended: the next writes of its events may be due
    struct Token {
        int64_t generation = 0;
        std::string access_token;
        Micros expires_at = 0;
    };
    std::unordered_map<std::string, Token> tokens_;
    struct RoundStart {
        Micros at = 0;
        int64_t requested_seq = 0;
    };
    std::unordered_map<std::string, RoundStart> last_start_;  // recent round starts per owner
    std::unordered_map<std::string, Micros> busy_until_;       // owners locked by another session (StoreBusy)
    bool schedule_busy_ = false;  // the last due_owners ran into StoreBusy (logged once)
    int stops_in_flight_ = 0;                                  // channels.stop requests running
    std::unordered_map<std::string, bool> stop_tried_;         // channel ids tried lately (see tidy)
    // The summary and time zone last seen in each calendar's events envelope
    // (key: owner, '\x1f', calendar id), so only a change costs a write.
    std::unordered_map<std::string, std::pair<OptText, OptText>> calendar_meta_;
    Metrics no_metrics_;   // counts nothing: for an engine without Hooks::metrics
    Metrics &metrics_;     // *hooks_.metrics or no_metrics_
    Micros last_published_ = 0;
};

}  // namespace gcal::core
