#include "core/sync.hpp"

#include "core/jsonb.hpp"
#include "core/push.hpp"

#include <algorithm>
#include <chrono>

namespace gcal::core {

namespace {

// An owner's rounds start at least this far apart unless new work was asked
// for (gcal_sync_now, gcal_link, ...): an owner whose schedule did not move
// (a race, or a bug) costs one round a second, never a busy loop.
constexpr Micros kMinRoundGap = kSecond;
// An owner whose rows another session keeps locked (StoreBusy) is tried again after this.
constexpr Micros kBusyRetry = 5 * kSecond;
// While rounds run, the schedule is read again this often for owners that
// fell due meanwhile (and at once when a gcal_* call wakes the worker).
constexpr Micros kLookInterval = 200 * 1000;
// Bookkeeping of run() that would otherwise only happen when it returns
// (which it may not do for a long time under load) runs this often.
constexpr Micros kTidyInterval = 30 * kSecond;
// Owners started per query of the schedule.
constexpr std::size_t kOwnerBatch = 500;
// An access token is renewed when it has less than this left.
constexpr Micros kTokenMargin = 60 * kSecond;
// A resource answering 410 more often than this in one round is left for later.
constexpr int kMaxFullRestarts = 2;

bool is_2xx(long status) { return status >= 200 && status < 300; }

std::string describe(const ApiError &e)
{
    if (e.status == 0)
        return e.message;  // no HTTP answer (an oversized response)
    std::string s = "HTTP " + std::to_string(e.status);
    if (!e.reason.empty())
        s += " " + e.reason;
    if (!e.message.empty())
        s += ": " + e.message;
    return s;
}

}  // namespace

const char *to_string(OwnerState s)
{
    switch (s) {
    case OwnerState::Pending: return "pending";
    case OwnerState::Active: return "active";
    case OwnerState::Backoff: return "backoff";
    case OwnerState::Revoked: return "revoked";
    default: return "error";
    }
}

std::optional<OwnerState> owner_state_from(std::string_view s)
{
    for (OwnerState st : {OwnerState::Pending, OwnerState::Active, OwnerState::Backoff,
                          OwnerState::Revoked, OwnerState::Error})
        if (s == to_string(st))
            return st;
    return std::nullopt;
}

// Round is one owner's work in one pass: requests in flight, and how it ended.
struct SyncEngine::Round {
    OwnerLink link;
    int outstanding = 0;
    bool failed = false;
    bool dropped = false;  // the link changed: drop everything quietly
    bool list_synced = false;
    OwnerState fail_state = OwnerState::Backoff;
    std::string error;
    std::optional<int64_t> retry_after_s;
    bool rate_limited = false;  // the failure that explains the round is Google's 429 or 403 rate/quota
    std::vector<std::string> listed;  // live calendars seen in list pages: fetch their resource
    std::vector<CalendarDone> calendars_done;  // listings completed: their schedule is written at the end
    Micros next_at = 0;  // the next check of the owner and of the calendars this round syncs (set at the end)
    std::vector<TokenMove> tokens;  // new tokens of idle checks, stored at the end
    std::string calendar_error;     // the first calendar failure of the round ("" if none)
    Micros calendar_retry_at = 0;   // the earliest retry of a calendar that failed
    bool writes = false;             // a round of outbox writes, not of syncing (see end_writes)
    std::vector<OutboxWrite> unsent; // its writes still waiting for an access token
};

// Listing walks one paged resource: the calendar list, or one calendar's events.
struct SyncEngine::Listing {
    RoundPtr round;
    Resource resource = Resource::Events;
    std::string calendar_id;
    Micros seen = 0;  // the calendar's next_sync_at when the round took it
    Cursor cursor;
    bool first = false;
    int full_restarts = 0;
    bool page_token_retried = false;
    int failures = 0;  // the calendar's failures in a row before this round
};

SyncEngine::SyncEngine(Store &store, HttpClient &http, Hooks hooks)
    : store_(store), http_(http), hooks_(std::move(hooks)),
      rng_(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())),
      metrics_(hooks_.metrics ? *hooks_.metrics : no_metrics_)
{
    // Google's quotas count requests as they arrive: pace them as they leave.
    HttpClient::Gate gate;
    gate.may_start = [this](const std::string &owner) { return pacer_.next_allowed(owner, now()) <= now(); };
    gate.started = [this](const std::string &owner) {
        pacer_.record(owner, now());
        metrics_.started();
    };
    gate.held = [this](const std::string &) { metrics_.add(Counter::CeilingWaits); };
    http_.set_gate(std::move(gate));
}

void SyncEngine::configure(EngineConfig config)
{
    while (!config.api_base.empty() && config.api_base.back() == '/')
        config.api_base.pop_back();
    config_ = std::move(config);
    pacer_.set_limits(config_.requests_per_minute, config_.user_requests_per_minute);
}

void SyncEngine::run()
{
    stop_channels();
    start_due_owners();
    Micros next_look = now() + kLookInterval;
    Micros next_housekeeping = now() + kSecond;
    Micros next_tidy = now() + kTidyInterval;
    for (;;) {
        if (rounds_.empty() && write_rounds_.empty() && http_.pending() == 0) {
            // Everything started has ended; start what fell due meanwhile.
            writes_ready_ = false;
            start_due_owners();
            if (stops_in_flight_ == 0)
                stop_channels();
            if (rounds_.empty() && write_rounds_.empty() && http_.pending() == 0)
                break;
            continue;
        }
        if (writes_ready_) {
            // The next write of an event goes out as soon as the one before it is done.
            writes_ready_ = false;
            start_due_writes();
        }
        // Wait on the network while transfers run; when everything queued is
        // held back by the request ceilings, sleep on the latch instead.
        http_.pump(100);
        bool woken = hooks_.wait(http_.running() > 0 ? 0 : 100);
        if (woken || now() >= next_look) {
            start_due_owners();
            next_look = now() + kLookInterval;
        }
        if (woken && stops_in_flight_ == 0)
            stop_channels();
        if (now() >= next_tidy) {
            next_tidy = now() + kTidyInterval;
            tidy();
        }
        publish_stats(false);
        if (hooks_.housekeeping && now() >= next_housekeeping) {
            next_housekeeping = now() + kSecond;
            try {
                hooks_.housekeeping();
            } catch (const std::exception &ex) {
                hooks_.log(std::string("housekeeping failed: ") + ex.what());
            }
        }
    }
    tidy();
    publish_stats(true);
}

// publish_stats hands the counts and live figures to the metrics sink: about
// ten times a second while rounds run, and when run() returns (then nothing
// is in flight).
void SyncEngine::publish_stats(bool force)
{
    if (!metrics_.enabled() || (!force && now() - last_published_ < 100 * 1000))
        return;
    last_published_ = now();
    Gauges g;
    g.rounds = static_cast<uint32_t>(rounds_.size());
    g.transfers_running = static_cast<uint32_t>(http_.running());
    g.transfers_queued = static_cast<uint32_t>(http_.pending() - http_.running());
    try {
        metrics_.flush();
        metrics_.gauges(g);
    } catch (const std::exception &ex) {
        hooks_.log(std::string("could not publish statistics: ") + ex.what());
    }
}

void SyncEngine::count_request(Api api, const HttpResponse &resp, bool rate_limited)
{
    if (!metrics_.enabled())
        return;
    metrics_.request(api, classify(resp.status, resp.timed_out, rate_limited), resp.received_bytes, resp.seconds);
    if (resp.held_seconds > 0)  // (counted in CeilingWaits when it was first held)
        metrics_.add(Counter::CeilingWaitMicros, static_cast<uint64_t>(resp.held_seconds * 1e6));
}

// tidy forgets what no longer matters: idle pacing windows, round starts too
// old to hold anyone back, channel stops tried (they are tried again), and
// expired access tokens (also those of owners no longer linked, which would
// otherwise pile up).
void SyncEngine::tidy()
{
    pacer_.forget_idle(now());
    for (auto it = last_start_.begin(); it != last_start_.end();)
        it = now() - it->second.at >= kMinRoundGap ? last_start_.erase(it) : std::next(it);
    for (auto it = busy_until_.begin(); it != busy_until_.end();)
        it = now() >= it->second + kBusyRetry ? busy_until_.erase(it) : std::next(it);
    stop_tried_.clear();
    for (auto it = tokens_.begin(); it != tokens_.end();)
        it = it->second.expires_at <= now() ? tokens_.erase(it) : std::next(it);
}

void SyncEngine::start_due_owners()
{
    auto busy = [this](const std::string &owner) { return rounds_.count(owner) > 0; };
    std::vector<OwnerLink> due;
    try {
        due = store_.due_owners(kOwnerBatch, busy);
        schedule_busy_ = false;
    } catch (const StoreBusy &ex) {
        // Another session holds a lock the schedule's read needs (a LOCK
        // TABLE, an ALTER TABLE): the rounds under way go on, and the
        // schedule is read again at the next look. Logged once per episode.
        if (!schedule_busy_)
            hooks_.log(std::string("could not read the schedule: another session holds a lock it needs (") +
                       ex.what() + "); it is read again shortly");
        schedule_busy_ = true;
        return;
    }
    for (const OwnerLink &link : due) {
        if (rounds_.count(link.owner))
            continue;
        auto busy_it = busy_until_.find(link.owner);
        if (busy_it != busy_until_.end()) {
            if (now() < busy_it->second)
                continue;  // still locked by another session, most likely
            // Paused: restart it only once its row is free, or its round would
            // make its Google requests and then wait out lock_timeout again.
            if (!owner_free(link.owner))
                continue;
        }
        auto last = last_start_.find(link.owner);
        if (last != last_start_.end() && now() - last->second.at < kMinRoundGap &&
            link.requested_seq == last->second.requested_seq)
            continue;  // looked at again in the next pass
        last_start_[link.owner] = RoundStart{now(), link.requested_seq};
        start_round(link);
    }
    start_due_writes();
}

void SyncEngine::start_round(const OwnerLink &link)
{
    auto r = std::make_shared<Round>();
    r->link = link;
    rounds_[link.owner] = r;
    begin(r);
    guarded(r, [&]() {
        with_token(r, [this](const RoundPtr &r) {
            if (r->link.list_due) {
                auto l = std::make_shared<Listing>();
                l->round = r;
                l->resource = Resource::CalendarList;
                l->cursor = store_.cursor(r->link, Resource::CalendarList, "");
                l->first = l->cursor.sync_token.empty() && l->cursor.page_token.empty();
                list_page(l);
            } else {
                start_calendars(r);
            }
        });
    });
    end(r);
}

void SyncEngine::begin(const RoundPtr &r) { r->outstanding++; }

// end closes one unit of a round's work; the last one records the outcome.
void SyncEngine::end(const RoundPtr &r)
{
    if (--r->outstanding > 0)
        return;
    if (r->writes) {
        end_writes(r);
        return;
    }
    rounds_.erase(r->link.owner);
    metrics_.add(Counter::Rounds);
    if (r->dropped)
        return;
    try {
        // The list and the calendars synced with it are next due together, so
        // an idle owner stays one round (and one schedule write) per interval.
        r->next_at = now() + jittered(config_.poll_interval, rng_);
        for (auto &c : r->calendars_done)
            c.next_at = r->next_at;
        if (!r->failed && !r->calendar_error.empty() && r->calendars_done.empty() &&
            store_.calendars_all_failing(r->link)) {
            // Nothing of this owner syncs: the owner is in backoff too, and is
            // tried again with its calendars.
            r->failed = true;
            r->fail_state = OwnerState::Backoff;
            r->error = r->calendar_error;
            r->retry_after_s = std::max<Micros>(0, r->calendar_retry_at - now()) / kSecond;
        }
        if (r->failed) {
            if (!r->calendars_done.empty())
                store_.calendars_synced(r->link, r->calendars_done);
            Micros retry_at = now();
            if (r->fail_state == OwnerState::Backoff) {
                Micros delay = backoff_delay(r->link.failures + 1, rng_, r->retry_after_s);
                retry_at += delay;
                metrics_.add(Counter::Backoffs);
                metrics_.add(Counter::BackoffMicros, static_cast<uint64_t>(delay));
                if (r->rate_limited) {
                    metrics_.add(Counter::RateLimitWaits);
                    metrics_.add(Counter::RateLimitWaitMicros, static_cast<uint64_t>(delay));
                }
            }
            // Counted before the outcome is recorded: whoever gcal_wait wakes sees them.
            metrics_.flush();
            store_.owner_failed(r->link, r->fail_state, r->error, retry_at);
        } else if (r->list_synced || r->link.state != OwnerState::Active || r->link.failures != 0 ||
                   !r->calendars_done.empty() || !r->tokens.empty()) {
            metrics_.flush();
            store_.owner_synced(r->link, r->list_synced, r->next_at, r->calendars_done, r->tokens);
        }
        busy_until_.erase(r->link.owner);
    } catch (const StoreBusy &ex) {
        owner_busy(r->link.owner, ex.what());
    } catch (const std::exception &ex) {
        hooks_.log("could not record the sync result of owner \"" + r->link.owner + "\": " + ex.what());
    }
}

// guarded runs a step of a round; an exception (a database error, say)
// fails the round instead of escaping into the HTTP loop.
void SyncEngine::guarded(const RoundPtr &r, const std::function<void()> &step)
{
    try {
        step();
    } catch (const StoreBusy &ex) {
        // Nothing of the step was written; the rest of the round is dropped
        // (its pages come again with the next round, from the stored cursors).
        r->dropped = true;
        owner_busy(r->link.owner, ex.what());
    } catch (const std::exception &ex) {
        fail(r, OwnerState::Backoff, std::string("internal error: ") + ex.what());
    }
}

// owner_free probes a paused owner's row (Store::owner_free); a lock still
// held keeps the owner paused for another kBusyRetry (counted, not logged
// again). Another error lets the round start: it fails or pauses as usual.
bool SyncEngine::owner_free(const std::string &owner)
{
    try {
        if (store_.owner_free(owner))
            return true;
        owner_busy(owner, "its row is locked");
    } catch (const StoreBusy &ex) {
        owner_busy(owner, ex.what());
    } catch (const std::exception &) {
        return true;
    }
    return false;
}

// owner_busy notes that another session holds a lock the owner's writes
// need: its rounds pause for kBusyRetry. Logged once per episode (the
// episode ends with a round recorded, or kBusyRetry after the last attempt).
void SyncEngine::owner_busy(const std::string &owner, const std::string &why)
{
    bool known = busy_until_.count(owner) > 0;
    busy_until_[owner] = now() + kBusyRetry;
    metrics_.add(Counter::LockTimeouts);
    if (!known)
        hooks_.log("owner \"" + owner + "\": another session holds a lock its sync needs (" + why +
                   "); its rounds are tried again every " + std::to_string(kBusyRetry / kSecond) +
                   " s until it is free, the other owners go on");
}

void SyncEngine::fail(const RoundPtr &r, OwnerState state, std::string error,
                      std::optional<int64_t> retry_after)
{
    // The first failure explains the round, except that a revocation or a
    // permanent error outranks a temporary one.
    bool stronger = r->failed && r->fail_state == OwnerState::Backoff && state != OwnerState::Backoff;
    if (!r->failed || stronger) {
        hooks_.log("owner \"" + r->link.owner + "\": " + error);
        r->failed = true;
        r->fail_state = state;
        r->error = std::move(error);
        r->retry_after_s = retry_after;
    }
}

void SyncEngine::fail_transport(const RoundPtr &r, const std::string &what, const HttpResponse &resp)
{
    fail(r, OwnerState::Backoff, what + ": " + (resp.error.empty() ? "no response" : resp.error));
}

// send submits an API request of the round, paced by the project and
// per-owner ceilings when it is about to leave (see the gate above).
std::size_t max_response_bytes(Api api)
{
    switch (api) {
    case Api::CalendarListList:
    case Api::EventsList:
        return kMaxListPageBytes;
    case Api::CalendarsGet:
        return kMaxCalendarResponseBytes;
    default:  // token, watch, channels.stop and single-event answers
        return kMaxSmallResponseBytes;
    }
}

void SyncEngine::send(const RoundPtr &r, HttpRequest req, HttpClient::Callback done, HttpClient::Prepare prepare)
{
    req.pace_key = r->link.owner;
    begin(r);
    http_.submit(
        std::move(req),
        [this, r, done = std::move(done)](HttpResponse &&resp) {
            guarded(r, [&]() { done(std::move(resp)); });
            end(r);
        },
        std::move(prepare));
}

// with_token runs `then` with a valid access token for the round's owner,
// asking the token endpoint when the cached one is missing or about to expire.
void SyncEngine::with_token(const RoundPtr &r, std::function<void(const RoundPtr &)> then)
{
    if (r->failed || r->dropped)
        return;
    auto it = tokens_.find(r->link.owner);
    if (it != tokens_.end() && it->second.generation == r->link.generation &&
        it->second.expires_at > now() + kTokenMargin) {
        then(r);
        return;
    }
    auto creds = store_.credentials();
    if (!creds) {
        fail(r, OwnerState::Error, "OAuth client is not configured; call gcal_set_client()");
        return;
    }
    if (!creds->error.empty()) {
        fail(r, OwnerState::Error, creds->error);
        return;
    }
    HttpRequest req;
    req.method = "POST";
    req.url = config_.token_url;
    req.max_body = max_response_bytes(Api::Token);
    req.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
    req.body = token_request_body(creds->client_id, creds->client_secret, r->link.refresh_token);
    begin(r);
    http_.submit(std::move(req), [this, r, then = std::move(then)](HttpResponse &&resp) {
        count_request(Api::Token, resp);
        guarded(r, [&]() {
            if (resp.status == 0) {
                fail_transport(r, "token request failed", resp);
                return;
            }
            TokenResponse tok = parse_token_response(resp.status, resp.body);
            std::string why = "token endpoint answered HTTP " + std::to_string(resp.status) +
                              (tok.error.empty() ? "" : " " + tok.error) +
                              (tok.description.empty() ? "" : ": " + tok.description);
            switch (tok.outcome) {
            case TokenOutcome::Granted:
                metrics_.add(Counter::TokenRefreshes);
                if (tok.scope && !grants_calendar(*tok.scope)) {
                    // Granular consent: the user unticked the Calendar scope. Every
                    // call would answer 403 insufficientPermissions; only a new
                    // grant (gcal_refresh) helps.
                    fail(r, OwnerState::Error,
                         "the grant lacks the Google Calendar scope (granted: " +
                             (tok.scope->empty() ? std::string("none") : *tok.scope) +
                             "); link again with the calendar scope ticked");
                    break;
                }
                tokens_[r->link.owner] = Token{r->link.generation, std::move(tok.access_token),
                                               now() + tok.expires_in * kSecond};
                then(r);
                break;
            case TokenOutcome::InvalidGrant:
                fail(r, OwnerState::Revoked, why);
                break;
            case TokenOutcome::InvalidClient:
                fail(r, OwnerState::Error, why);
                break;
            case TokenOutcome::OtherError:
                fail(r, resp.status >= 400 && resp.status < 500 ? OwnerState::Error : OwnerState::Backoff, why);
                break;
            default:
                if (resp.status == 429 && !r->failed)
                    r->rate_limited = true;
                fail(r, OwnerState::Backoff, why,
                     parse_retry_after(resp.retry_after, now() / kSecond));
                break;
            }
        });
        end(r);
    });
}

// api_get fetches url with the owner's access token; a 401 renews the token
// once and retries.
void SyncEngine::api_get(const RoundPtr &r, Api api, std::string url, BodyHandler ok, ErrorHandler on_error,
                         HttpClient::Prepare prepare, bool bulky, bool retried_auth)
{
    with_token(r, [=](const RoundPtr &r) {
        if (r->failed || r->dropped)
            return;
        HttpRequest req;
        req.url = url;
        req.bulky = bulky;
        req.max_body = max_response_bytes(api);
        req.headers = {"Authorization: Bearer " + tokens_[r->link.owner].access_token,
                       "Accept: application/json"};
        send(r, std::move(req), [=](HttpResponse &&resp) {
            std::optional<ApiError> error;
            if (resp.status != 0 && !is_2xx(resp.status))
                error = parse_api_error(resp.status, resp.body);
            count_request(api, resp, error && error->rate_limited);
            if (r->failed || r->dropped)
                return;
            if (resp.status == 0 && resp.too_large) {
                // Too big to hold: a property of what was asked for (one
                // calendar's page), not of the connection.
                ApiError big;
                big.message = resp.error;
                big.retryable = true;
                on_error(r, big, std::nullopt);
                return;
            }
            if (resp.status == 0) {
                fail_transport(r, "request failed", resp);
                return;
            }
            if (is_2xx(resp.status)) {
                ok(r, std::move(resp.body));
                return;
            }
            const ApiError &e = *error;
            if (e.unauthorized && !retried_auth) {
                metrics_.add(Counter::Retries);
                tokens_.erase(r->link.owner);
                api_get(r, api, url, ok, on_error, prepare, bulky, true);
                return;
            }
            if (e.unauthorized) {
                fail(r, OwnerState::Backoff, "access token refused right after renewal: " + describe(e));
                return;
            }
            on_error(r, e, parse_retry_after(resp.retry_after, now() / kSecond));
        }, prepare);
    });
}

// ParsedPage is a listing page parsed on the helper thread.
struct ParsedPage {
    std::optional<CalendarListPage> list;
    std::optional<EventsPage> events;
    std::string error;
};

// list_page fetches and stores the next page of a listing, then the next,
// until the page that carries the new sync token. The page is parsed on the
// helper thread; here, on the main thread, it is only written.
void SyncEngine::list_page(const std::shared_ptr<Listing> &l)
{
    const RoundPtr &r = l->round;
    if (r->failed || r->dropped)
        return;
    bool lists = l->resource == Resource::CalendarList;
    std::string url = lists ? calendar_list_url(config_.api_base, l->cursor.page_token, l->cursor.sync_token)
                            : events_url(config_.api_base, l->calendar_id, l->cursor.page_token,
                                         l->cursor.sync_token);
    auto parsed = std::make_shared<ParsedPage>();
    // The rows of a full listing usually go to the table as they are
    // (the store's bulk insert): their jsonb is made here, off the writing thread.
    const bool jsonb = !lists && l->cursor.sync_token.empty() && store_.jsonb_events(r->link, l->calendar_id);
    HttpClient::Prepare prepare = [parsed, lists, jsonb](HttpResponse &resp) {
        if (!is_2xx(resp.status))
            return;  // an error body is read on the main thread
        parsed->error.clear();
        if (lists)
            parsed->list = parse_calendar_list_page(resp.body, &parsed->error);
        else
            parsed->events = parse_events_page(resp.body, &parsed->error);
        std::string().swap(resp.body);  // freed here, off the main thread
        if (jsonb && parsed->events)
            for (auto &e : parsed->events->items)
                if (encode_jsonb(e.data, &e.jsonb))
                    std::string().swap(e.data);  // only the bytes are kept
    };
    // The pages of a full listing are the big ones (2,500 events, megabytes),
    // and so are the pages after the first of an incremental one.
    bool bulky = !lists && (l->cursor.sync_token.empty() || !l->cursor.page_token.empty());
    api_get(
        r, lists ? Api::CalendarListList : Api::EventsList, std::move(url),
        [this, l, lists, parsed](const RoundPtr &r, std::string &&) {
            PageStep step;
            step.full = l->cursor.sync_token.empty();
            step.first = l->first;
            std::string what = lists ? std::string("calendar list page")
                                     : "events page of calendar \"" + l->calendar_id + "\"";
            if (lists ? !parsed->list : !parsed->events) {
                metrics_.add(Counter::MalformedResponses);
                if (lists)
                    fail(r, OwnerState::Backoff, "malformed " + what + ": " + parsed->error);
                else
                    calendar_failure(l, "malformed " + what + ": " + parsed->error, std::nullopt);
                return;
            }
            const OptText &next_page = lists ? parsed->list->next_page_token : parsed->events->next_page_token;
            const OptText &next_sync = lists ? parsed->list->next_sync_token : parsed->events->next_sync_token;
            step.next_page_token = next_page.value_or("");
            step.next_sync_token = next_sync.value_or("");
            if (step.next_page_token.empty() && step.next_sync_token.empty()) {
                if (lists)
                    fail(r, OwnerState::Backoff, what + " has neither nextPageToken nor nextSyncToken");
                else
                    calendar_failure(l, what + " has neither nextPageToken nor nextSyncToken", std::nullopt);
                return;
            }
            // An incremental check that found nothing writes no page: only
            // the round's schedule is written at its end, with the new token
            // if Google handed out another one.
            bool empty = lists ? parsed->list->items.empty() : parsed->events->items.empty();
            bool idle = !step.full && empty && l->cursor.page_token.empty() && step.next_page_token.empty();
            bool written = true;
            if (idle) {
                if (step.next_sync_token != l->cursor.sync_token)
                    r->tokens.push_back(TokenMove{l->resource, l->calendar_id, l->cursor.sync_token,
                                                  step.next_sync_token});
            } else if (lists) {
                written = store_.write_calendar_list(r->link, *parsed->list, step);
                for (const auto &e : parsed->list->items)
                    if (!e.deleted)
                        r->listed.push_back(e.calendar_id);
            } else {
                try {
                    written = store_.write_events(r->link, l->calendar_id, *parsed->events, step);
                } catch (const StoreBusy &) {
                    throw;  // another session's lock: the owner pauses (guarded), the calendar is fine
                } catch (const std::exception &ex) {
                    // A page the database refuses fails its calendar, not the owner.
                    calendar_failure(l, std::string("could not store ") + what + ": " + ex.what(), std::nullopt);
                    return;
                }
            }
            if (!lists && written && (parsed->events->summary || parsed->events->time_zone)) {
                // calendarList's sync token does not report a new summary or
                // time zone of a calendar: the events envelope carries them.
                auto meta = std::make_pair(parsed->events->summary, parsed->events->time_zone);
                std::string key = r->link.owner + '\x1f' + l->calendar_id;
                auto it = calendar_meta_.find(key);
                if (it == calendar_meta_.end() || it->second != meta) {
                    written = store_.calendar_metadata(r->link, l->calendar_id, meta.first, meta.second);
                    if (written)
                        calendar_meta_[key] = std::move(meta);
                }
            }
            http_.dispose([list = std::move(parsed->list), events = std::move(parsed->events)]() {});
            if (!written) {
                r->dropped = true;
                return;
            }
            metrics_.add(idle ? Counter::IdleChecks : Counter::Pages);
            if (step.full && step.first)
                metrics_.add(Counter::FullListings);
            if (!step.next_page_token.empty()) {
                l->cursor.page_token = step.next_page_token;
                l->first = false;
                list_page(l);
            } else if (lists) {
                r->list_synced = true;
                start_calendars(r);
                maintain_channels(r);
            } else {
                r->calendars_done.push_back(CalendarDone{l->calendar_id, l->seen, 0});
            }
        },
        [this, l](const RoundPtr &, const ApiError &e, std::optional<int64_t> retry_after) {
            on_listing_error(l, e, retry_after);
        },
        std::move(prepare), bulky);
}

// hard_error handles the errors that retrying soon does not cure: a daily
// quota (back off until Google resets it at midnight Pacific time) and a
// permanent refusal of the owner's grant or project (state error, until
// gcal_refresh or gcal_set_client). True when it handled e.
bool SyncEngine::hard_error(const RoundPtr &r, const std::string &what, const ApiError &e, bool lists)
{
    if (e.daily_limit) {
        Micros wait = next_pacific_midnight(now()) - now();
        fail(r, OwnerState::Backoff, what + ": " + describe(e) + " (daily quota; next attempt after midnight Pacific time)",
             (wait + kSecond - 1) / kSecond);
        return true;
    }
    if (e.owner_wide || (lists && e.permanent)) {
        fail(r, OwnerState::Error, what + ": " + describe(e) + " (permanent; not retried until gcal_refresh or gcal_set_client)");
        return true;
    }
    return false;
}

// on_listing_error decides what an error response means for a listing.
void SyncEngine::on_listing_error(const std::shared_ptr<Listing> &l, const ApiError &e,
                                  std::optional<int64_t> retry_after)
{
    const RoundPtr &r = l->round;
    bool lists = l->resource == Resource::CalendarList;
    std::string what = lists ? std::string("calendar list") : "calendar \"" + l->calendar_id + "\"";
    // restart_full lists everything again (the Store marks rows the full
    // listing does not return as deleted), unless the listing keeps ending
    // this way: then it fails with `failure`.
    auto restart_full = [&](const std::string &why, const std::string &failure) {
        if (++l->full_restarts > kMaxFullRestarts) {
            if (lists)
                fail(r, OwnerState::Backoff, failure);
            else
                calendar_failure(l, failure, retry_after);
            return;
        }
        hooks_.log("owner \"" + r->link.owner + "\": " + what + why + " (" + describe(e) + ")");
        metrics_.add(Counter::Retries);
        store_.reset_cursor(r->link, l->resource, l->calendar_id);
        l->cursor = Cursor{};
        l->first = true;
        list_page(l);
    };
    if (e.full_sync_required) {
        // A 410: the sync token is dead.
        restart_full(" needs a full sync", what + " keeps answering 410 to a full listing");
        return;
    }
    if (hard_error(r, what, e, lists))
        return;
    if (e.retryable && !lists) {
        calendar_failure(l, what + ": " + describe(e), retry_after, std::nullopt, e.rate_limited);
        return;
    }
    if (e.retryable) {
        if (e.rate_limited && !r->failed)
            r->rate_limited = true;
        fail(r, OwnerState::Backoff, what + ": " + describe(e), retry_after);
        return;
    }
    if (!lists && e.not_found) {
        hooks_.log("owner \"" + r->link.owner + "\": " + what + " is gone (404); marked deleted, its events tombstoned, checked again later");
        store_.calendar_gone(r->link, l->calendar_id, now() + config_.poll_interval);
        return;
    }
    if (!l->cursor.page_token.empty() && e.status == 400 && !l->page_token_retried) {
        // A page token Google no longer accepts: restart this listing.
        metrics_.add(Counter::Retries);
        l->page_token_retried = true;
        l->cursor.page_token.clear();
        l->first = l->cursor.sync_token.empty();
        list_page(l);
        return;
    }
    if (!l->cursor.sync_token.empty() && e.status == 400 && !e.push_not_supported) {
        // Google refuses a sync token it cannot read (400 "Invalid sync token
        // value"): like a 410, only a full listing helps.
        restart_full(" refused its sync token; full sync", what + ": " + describe(e));
        return;
    }
    if (lists) {
        fail(r, OwnerState::Backoff, what + ": " + describe(e), retry_after);
        return;
    }
    // A calendar that refuses us for another reason does not hold up the
    // owner's other calendars; it is tried again after a poll interval.
    calendar_failure(l, describe(e), retry_after, now() + config_.poll_interval);
}

void SyncEngine::calendar_failure(const std::shared_ptr<Listing> &l, const std::string &error,
                                  std::optional<int64_t> retry_after, std::optional<Micros> retry_at,
                                  bool rate_limited)
{
    const RoundPtr &r = l->round;
    if (r->failed || r->dropped)
        return;
    Micros at = retry_at.value_or(0);
    if (!retry_at) {
        Micros delay = backoff_delay(l->failures + 1, rng_, retry_after);
        at = now() + delay;
        metrics_.add(Counter::Backoffs);
        metrics_.add(Counter::BackoffMicros, static_cast<uint64_t>(delay));
        if (rate_limited) {
            metrics_.add(Counter::RateLimitWaits);
            metrics_.add(Counter::RateLimitWaitMicros, static_cast<uint64_t>(delay));
        }
    }
    hooks_.log("owner \"" + r->link.owner + "\": " + error + " (this calendar is tried again later; the others go on)");
    store_.calendar_failed(r->link, l->calendar_id, error, at);
    if (r->calendar_error.empty() || at < r->calendar_retry_at)
        r->calendar_retry_at = at;
    if (r->calendar_error.empty())
        r->calendar_error = error;
}

// start_calendars fetches the calendar resources seen in the list and syncs
// the events of every due calendar.
void SyncEngine::start_calendars(const RoundPtr &r)
{
    if (r->failed || r->dropped)
        return;
    std::vector<std::string> listed;
    listed.swap(r->listed);
    for (auto &id : store_.unfetched_calendars(r->link))
        listed.push_back(std::move(id));
    std::sort(listed.begin(), listed.end());
    listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
    for (const auto &id : listed)
        fetch_calendar(r, id);
    // A round that synced the list also takes the calendars due within a
    // quarter of the poll interval: an idle owner costs one round per
    // interval, not one for its list and one for each calendar's own jitter.
    Micros due_by = now() + (r->list_synced ? config_.poll_interval / 4 : 0);
    for (auto &due : store_.due_calendars(r->link, due_by)) {
        auto l = std::make_shared<Listing>();
        l->round = r;
        l->resource = Resource::Events;
        l->calendar_id = std::move(due.calendar_id);
        l->seen = due.seen;
        l->failures = due.failures;
        l->cursor = store_.cursor(r->link, Resource::Events, l->calendar_id);
        l->first = l->cursor.sync_token.empty() && l->cursor.page_token.empty();
        list_page(l);
    }
}

void SyncEngine::fetch_calendar(const RoundPtr &r, const std::string &calendar_id)
{
    api_get(
        r, Api::CalendarsGet, calendar_url(config_.api_base, calendar_id),
        [this, calendar_id](const RoundPtr &r, std::string &&body) {
            std::string error;
            auto cal = parse_calendar(body, &error);
            if (!cal) {
                metrics_.add(Counter::MalformedResponses);
                fail(r, OwnerState::Backoff, "malformed calendar \"" + calendar_id + "\": " + error);
                return;
            }
            cal->calendar_id = calendar_id;  // the row's key is the id we asked for
            if (!store_.write_calendar(r->link, *cal))
                r->dropped = true;
        },
        [this, calendar_id](const RoundPtr &r, const ApiError &e, std::optional<int64_t> retry_after) {
            if (e.not_found) {
                store_.calendar_gone(r->link, calendar_id, now() + config_.poll_interval);
            } else if (hard_error(r, "calendar \"" + calendar_id + "\"", e, false)) {
            } else if (e.retryable) {
                if (e.rate_limited && !r->failed)
                    r->rate_limited = true;
                fail(r, OwnerState::Backoff, "calendar \"" + calendar_id + "\": " + describe(e), retry_after);
            } else {
                hooks_.log("owner \"" + r->link.owner + "\": calendar \"" + calendar_id +
                           "\" could not be read: " + describe(e));
            }
        });
}

// maintain_channels keeps one live watch channel per watched resource of the
// owner: the calendar list and each calendar that supports push. A channel
// close to expiry is replaced (new one first); channels of resources no
// longer watched, or all of them when push is off, go to the stop queue.
void SyncEngine::maintain_channels(const RoundPtr &r)
{
    if (r->failed || r->dropped)
        return;
    std::vector<Channel> open = store_.channels(r->link);
    std::vector<std::pair<Resource, std::string>> targets;
    if (!config_.webhook_url.empty()) {
        targets.emplace_back(Resource::CalendarList, "");
        for (auto &id : store_.watchable_calendars(r->link))
            targets.emplace_back(Resource::Events, std::move(id));
    }
    std::vector<bool> kept(open.size(), false);
    for (const auto &[kind, calendar_id] : targets) {
        std::vector<std::string> older;
        bool fresh = false;
        for (std::size_t i = 0; i < open.size(); i++) {
            if (open[i].kind != kind || open[i].calendar_id != calendar_id)
                continue;
            kept[i] = true;
            if (!fresh && !needs_renewal(open[i].expires_at, now(), config_.poll_interval))
                fresh = true;
            else
                older.push_back(open[i].channel_id);
        }
        if (!fresh)
            open_channel(r, kind, calendar_id, std::move(older));
    }
    for (std::size_t i = 0; i < open.size(); i++)
        if (!kept[i])
            store_.retire_channel(r->link, open[i].channel_id);
}

// open_channel asks Google for a new channel on a resource; once it is
// recorded, the channels it replaces are retired.
void SyncEngine::open_channel(const RoundPtr &r, Resource kind, const std::string &calendar_id,
                              std::vector<std::string> replaces)
{
    with_token(r, [=](const RoundPtr &r) {
        if (r->failed || r->dropped)
            return;
        std::string id = new_channel_id();
        std::string token = new_channel_token();
        HttpRequest req;
        req.method = "POST";
        req.url = kind == Resource::CalendarList ? calendar_list_watch_url(config_.api_base)
                                                 : events_watch_url(config_.api_base, calendar_id);
        req.max_body = max_response_bytes(Api::EventsWatch);
        req.headers = {"Authorization: Bearer " + tokens_[r->link.owner].access_token,
                       "Content-Type: application/json", "Accept: application/json"};
        req.body = watch_request_body(id, config_.webhook_url, token);
        send(r, std::move(req), [=](HttpResponse &&resp) {
            Api api = kind == Resource::CalendarList ? Api::CalendarListWatch : Api::EventsWatch;
            std::string what = kind == Resource::CalendarList ? std::string("the calendar list")
                                                              : "calendar \"" + calendar_id + "\"";
            if (resp.status == 0 || !is_2xx(resp.status)) {
                ApiError e = parse_api_error(resp.status, resp.body);
                count_request(api, resp, e.rate_limited);
                if (e.push_not_supported) {
                    store_.push_unsupported(r->link, calendar_id);
                    return;
                }
                // Push is best effort: polling goes on; the next round tries again.
                hooks_.log("owner \"" + r->link.owner + "\": could not watch " + what + ": " +
                           (resp.status == 0 ? resp.error : describe(e)));
                return;
            }
            count_request(api, resp);
            std::string error;
            auto ch = parse_watch_channel(resp.body, &error);
            if (!ch || ch->id != id) {
                hooks_.log("owner \"" + r->link.owner + "\": malformed watch response for " + what + ": " +
                           (ch ? "another channel id" : error));
                return;
            }
            Channel c;
            c.channel_id = ch->id;
            c.resource_id = ch->resource_id;
            c.kind = kind;
            c.calendar_id = calendar_id;
            c.expires_at = ch->expiration.value_or(now() + 3600 * kSecond);
            if (!store_.save_channel(r->link, c, token)) {
                r->dropped = true;
                return;
            }
            for (const auto &old : replaces)
                store_.retire_channel(r->link, old);
        });
    });
}

// stop_channels tells Google to stop channels nobody needs any more, with an
// access token from the refresh token of the link that opened them.
void SyncEngine::stop_channels()
{
    std::vector<ChannelStop> stops;
    try {
        stops = store_.channels_to_stop(100);
    } catch (const std::exception &ex) {
        hooks_.log(std::string("could not read the channel stop queue: ") + ex.what());
        return;
    }
    auto creds = stops.empty() ? std::nullopt : store_.credentials();
    for (auto &stop : stops) {
        if (stop_tried_[stop.channel_id] || !creds || !creds->error.empty())
            continue;
        stop_tried_[stop.channel_id] = true;
        HttpRequest tok;
        tok.method = "POST";
        tok.url = config_.token_url;
        tok.max_body = max_response_bytes(Api::Token);
        tok.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
        tok.body = token_request_body(creds->client_id, creds->client_secret, stop.refresh_token);
        stops_in_flight_++;
        auto done = [this, id = stop.channel_id](bool gone, const std::string &why) {
            stops_in_flight_--;
            try {
                if (gone)
                    store_.channel_stopped(id);
                else
                    hooks_.log("could not stop watch channel " + id + " (tried again later): " + why);
            } catch (const std::exception &ex) {
                hooks_.log(std::string("could not record a stopped channel: ") + ex.what());
            }
        };
        http_.submit(std::move(tok), [this, stop, done](HttpResponse &&resp) {
            count_request(Api::Token, resp);
            TokenResponse t = parse_token_response(resp.status, resp.body);
            if (t.outcome == TokenOutcome::InvalidGrant) {
                done(true, "");  // the grant is gone: Google dropped its channels too
                return;
            }
            if (t.outcome != TokenOutcome::Granted) {
                done(false, resp.status == 0 ? resp.error : "token endpoint answered HTTP " + std::to_string(resp.status));
                return;
            }
            metrics_.add(Counter::TokenRefreshes);
            HttpRequest req;
            req.method = "POST";
            req.url = channels_stop_url(config_.api_base);
            req.max_body = max_response_bytes(Api::ChannelsStop);
            req.headers = {"Authorization: Bearer " + t.access_token, "Content-Type: application/json"};
            req.body = stop_request_body(stop.channel_id, stop.resource_id);
            http_.submit(std::move(req), [this, done](HttpResponse &&resp) {
                count_request(Api::ChannelsStop, resp,
                              resp.status == 403 && parse_api_error(resp.status, resp.body).rate_limited);
                if (is_2xx(resp.status) || resp.status == 404)
                    done(true, "");
                else
                    done(false, resp.status == 0 ? resp.error : "HTTP " + std::to_string(resp.status));
            });
        });
    }
}

// ---- the outbox (core/outbox.hpp) ----------------------------------------------------------

namespace {
constexpr std::size_t kWriteBatch = 500;
// A write that found the database busy (StoreBusy) is tried again this much later.
constexpr Micros kWriteBusyRetry = 2 * kSecond;

Api write_api(WriteOp op)
{
    switch (op) {
    case WriteOp::Insert:
        return Api::EventsInsert;
    case WriteOp::Delete:
        return Api::EventsDelete;
    default:
        return Api::EventsPatch;
    }
}
}  // namespace

void SyncEngine::start_due_writes()
{
    auto busy = [this](const std::string &owner) { return write_rounds_.count(owner) > 0; };
    std::vector<OutboxWrite> due;
    try {
        due = store_.due_writes(kWriteBatch, busy);
    } catch (const StoreBusy &) {
        return;  // read again at the next look
    } catch (const std::exception &ex) {
        hooks_.log(std::string("could not read the outbox: ") + ex.what());
        return;
    }
    std::map<std::string, std::vector<OutboxWrite>> by_owner;
    for (auto &w : due)
        by_owner[w.owner].push_back(std::move(w));
    for (auto &[owner, writes] : by_owner) {
        if (write_rounds_.count(owner))
            continue;
        std::optional<OwnerLink> link;
        try {
            link = store_.write_link(owner);
        } catch (const std::exception &ex) {
            hooks_.log("could not read the link of owner \"" + owner + "\" for its writes: " + ex.what());
            continue;
        }
        if (!link)
            continue;
        auto r = std::make_shared<Round>();
        r->link = std::move(*link);
        r->writes = true;
        r->unsent = std::move(writes);
        write_rounds_[owner] = r;
        begin(r);
        guarded(r, [&]() {
            // One token request for the batch; then each write is sent, paced
            // by the owner's and the project's ceilings like every request.
            // Each write is marked sent (committed) right before its request
            // is made: an answer lost on the way, a crash or a request libcurl
            // sends again cannot then hide that Google may have applied it,
            // and a write the round never reached stays unmarked (a revoked
            // grant then fails it as not sent).
            with_token(r, [this](const RoundPtr &r) {
                std::vector<OutboxWrite> batch = r->unsent;
                for (const auto &w : batch)
                    send_write(r, w, false, true);
            });
        });
        end(r);
    }
}

// mark_sent records writes as sent (or, sent = false, as proved not applied)
// before anything else happens to them; when it cannot, they are tried again
// later and false is returned (nothing may be sent unmarked). Marking as sent
// also returns false when a write is no longer queued (an unlink or its
// owner's error failed it while the round waited): it must not be sent.
bool SyncEngine::mark_sent(const std::vector<OutboxWrite> &writes, bool sent)
{
    if (writes.empty())
        return true;
    std::vector<int64_t> ids;
    for (const auto &w : writes)
        ids.push_back(w.id);
    std::optional<int64_t> retry_s;
    std::string error;
    try {
        std::vector<int64_t> marked = store_.writes_sent(ids, sent);
        return !sent || marked.size() == ids.size();
    } catch (const StoreBusy &ex) {
        error = std::string("the database was busy: ") + ex.what();
        retry_s = kWriteBusyRetry / kSecond;
    } catch (const std::exception &ex) {
        error = std::string("could not record that the write is sent: ") + ex.what();
        hooks_.log("owner \"" + writes.front().owner + "\": " + error);
    }
    for (const auto &w : writes)
        retry_write(w, error, retry_s);
    return false;
}

void SyncEngine::send_write(const RoundPtr &r, const OutboxWrite &w, bool retried_auth, bool mark)
{
    with_token(r, [this, w, retried_auth, mark](const RoundPtr &r) {
        auto &unsent = r->unsent;
        unsent.erase(std::remove_if(unsent.begin(), unsent.end(), [&](const OutboxWrite &u) { return u.id == w.id; }),
                     unsent.end());
        if (r->dropped)
            return;
        if (mark && !mark_sent({w}, true))
            return;
        Api api = write_api(w.op);
        WriteRequest wr = write_request(config_.api_base, w);
        HttpRequest req;
        req.method = wr.method;
        req.url = wr.url;
        req.body = wr.body;
        req.max_body = max_response_bytes(api);
        req.headers = {"Authorization: Bearer " + tokens_[r->link.owner].access_token, "Accept: application/json"};
        req.headers.insert(req.headers.end(), wr.headers.begin(), wr.headers.end());
        send(r, std::move(req), [this, r, w, api, retried_auth](HttpResponse &&resp) {
            std::optional<ApiError> error;
            if (resp.status != 0 && !is_2xx(resp.status))
                error = parse_api_error(resp.status, resp.body);
            count_request(api, resp, error && error->rate_limited);
            if (error && error->unauthorized) {
                if (!retried_auth) {
                    // Refused with the access token: not applied, if this was
                    // the only copy ever sent (libcurl did not send it again,
                    // no earlier round sent it). Then it is unmarked, so that
                    // a grant found revoked while renewing the token fails it
                    // as not sent; it is marked again before it is resent.
                    bool unmark = !w.sent && resp.sends <= 1;
                    if (unmark && !mark_sent({w}, false))
                        return;
                    metrics_.add(Counter::Retries);
                    tokens_.erase(r->link.owner);
                    r->unsent.push_back(w);
                    send_write(r, w, true, unmark);
                } else {
                    retry_write(w, "access token refused right after renewal: " + describe(*error), std::nullopt);
                }
                return;
            }
            WriteVerdict v = judge_write(w, resp.status, error ? &*error : nullptr, resp.error);
            // A permanent error to a copy sent after one whose answer was lost:
            // events.get tells whether that one was applied (done) or not (failed).
            if (w.sent || resp.sends > 1)
                v = judge_resent(std::move(v));
            if (v.state == WriteState::Queued) {
                retry_write(w, v.error, parse_retry_after(resp.retry_after, now() / kSecond));
                return;
            }
            if (v.store_answer) {
                std::string why;
                if (auto page = single_event_page(resp.body, &why)) {
                    finish_write(r, w, v.state, v.error, &*page);
                    return;
                }
                metrics_.add(Counter::MalformedResponses);
                // A 2xx whose body is not the event proves nothing (a proxy, a
                // broken answer): the write is done if events.get shows it.
                v.fetch = true;
                v.verify = true;
            }
            if (v.fetch) {
                fetch_for_write(r, w, v);
                return;
            }
            finish_write(r, w, v.state, v.error, nullptr);
        });
    });
}

// fetch_for_write mirrors the write's event as events.get returns it, then
// finishes the write (see outbox.hpp); a failed fetch leaves the write queued:
// sent again, it is recognised (409, 410, 412 with the patch applied).
void SyncEngine::fetch_for_write(const RoundPtr &r, const OutboxWrite &w, const WriteVerdict &v)
{
    if (r->dropped)
        return;
    HttpRequest req;
    req.url = event_get_url(config_.api_base, w);
    req.max_body = kMaxSmallResponseBytes * 16;
    req.headers = {"Authorization: Bearer " + tokens_[r->link.owner].access_token, "Accept: application/json"};
    send(r, std::move(req), [this, r, w, v](HttpResponse &&resp) {
        if (is_2xx(resp.status)) {
            std::string why;
            if (auto page = single_event_page(resp.body, &why)) {
                if (v.verify && !write_shown(w, resp.body)) {
                    // sent again: an insert that got through answers 409, an
                    // update that did is recognised behind its 412, a delete
                    // that did gets 410
                    retry_write(w,
                                w.op == WriteOp::Delete
                                    ? "Google answered the delete, but events.get shows the event not cancelled"
                                    : "Google's answer was not the event, and events.get does not show the write",
                                std::nullopt);
                    return;
                }
                WriteState state = v.state;
                std::string error = v.error;
                if (v.check_applied && write_shown(w, resp.body)) {
                    state = WriteState::Done;  // our own earlier attempt (a crash before its commit, a lost answer)
                    error.clear();
                } else if (v.earlier_copy) {
                    error += " (an earlier copy of the write was sent and its answer lost; events.get does not show it)";
                }
                finish_write(r, w, state, error, &*page);
                return;
            }
            retry_write(w, "malformed answer of events.get: " + why, std::nullopt);
            return;
        }
        if (resp.status == 404 && v.verify && w.op != WriteOp::Delete) {  // a deleted event gone: done
            retry_write(w, "Google's answer was not the event, and events.get does not find it", std::nullopt);
            return;
        }
        const std::string maybe = " (an earlier copy of the write was sent and its answer lost: Google may have applied it)";
        if (resp.status == 404) {
            finish_write(r, w, v.state, v.earlier_copy ? v.error + maybe : v.error, nullptr);
            return;
        }
        std::optional<ApiError> error;
        if (resp.status != 0)
            error = parse_api_error(resp.status, resp.body);
        // A failed write whose event cannot be read for good (the same
        // permanent error, say): failed, saying Google may have applied it.
        if (v.earlier_copy && error && !error->retryable && !error->rate_limited && !error->unauthorized &&
            !error->daily_limit) {
            finish_write(r, w, v.state, v.error + maybe, nullptr);
            return;
        }
        retry_write(w, "could not read the event back: " + (error ? describe(*error) : resp.error),
                    parse_retry_after(resp.retry_after, now() / kSecond));
    });
}

void SyncEngine::finish_write(const RoundPtr &r, const OutboxWrite &w, WriteState state, const std::string &error,
                              const EventsPage *mirror)
{
    try {
        store_.write_finished(r->link, w, state, error, mirror);
        if (state != WriteState::Done)
            hooks_.log("owner \"" + w.owner + "\": write " + std::to_string(w.id) + " (" + to_string(w.op) +
                       " of event \"" + w.event_id + "\") ended " + to_string(state) + ": " + error);
    } catch (const StoreBusy &ex) {
        retry_write(w, std::string("the database was busy: ") + ex.what(), kWriteBusyRetry / kSecond);
    } catch (const std::exception &ex) {
        hooks_.log("could not record write " + std::to_string(w.id) + " of owner \"" + w.owner + "\": " + ex.what());
        retry_write(w, std::string("could not record the answer: ") + ex.what(), std::nullopt);
    }
}

void SyncEngine::retry_write(const OutboxWrite &w, const std::string &error, std::optional<int64_t> retry_after_s)
{
    Micros delay = backoff_delay(w.attempts + 1, rng_, retry_after_s);
    Micros at = now() + delay;
    metrics_.add(Counter::Backoffs);
    metrics_.add(Counter::BackoffMicros, static_cast<uint64_t>(delay));
    try {
        store_.write_retry(w, error, at);
    } catch (const std::exception &ex) {
        hooks_.log("could not reschedule write " + std::to_string(w.id) + " of owner \"" + w.owner + "\": " + ex.what());
    }
}

// end_writes closes a round of writes: writes that never got an access token
// are tried again after a backoff (the token endpoint failed), or fail with
// the owner when its grant is revoked or unusable (recorded as the owner's
// state; the next due_writes fails them with that reason).
void SyncEngine::end_writes(const RoundPtr &r)
{
    write_rounds_.erase(r->link.owner);
    writes_ready_ = true;
    if (!r->failed || r->unsent.empty())
        return;
    try {
        if (r->fail_state == OwnerState::Backoff) {
            for (const auto &w : r->unsent)
                retry_write(w, r->error, r->retry_after_s);
        } else {
            metrics_.flush();
            store_.owner_failed(r->link, r->fail_state, r->error, now());
        }
    } catch (const std::exception &ex) {
        hooks_.log("could not record the failed writes of owner \"" + r->link.owner + "\": " + ex.what());
    }
}

}  // namespace gcal::core
