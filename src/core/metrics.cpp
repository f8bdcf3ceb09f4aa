#include "core/metrics.hpp"

namespace gcal::core {

const char *api_name(Api api)
{
    switch (api) {
    case Api::Token: return "token";
    case Api::CalendarListList: return "calendarList.list";
    case Api::CalendarsGet: return "calendars.get";
    case Api::EventsList: return "events.list";
    case Api::EventsWatch: return "events.watch";
    case Api::CalendarListWatch: return "calendarList.watch";
    case Api::ChannelsStop: return "channels.stop";
    case Api::EventsInsert: return "events.insert";
    case Api::EventsPatch: return "events.patch";
    case Api::EventsDelete: return "events.delete";
    }
    return "?";
}

const char *outcome_name(Outcome outcome)
{
    switch (outcome) {
    case Outcome::Ok: return "ok";
    case Outcome::NotModified: return "not_modified";
    case Outcome::Unauthorized: return "unauthorized";
    case Outcome::RateLimited: return "rate_limited";
    case Outcome::Forbidden: return "forbidden";
    case Outcome::NotFound: return "not_found";
    case Outcome::Gone: return "gone";
    case Outcome::TooManyRequests: return "too_many_requests";
    case Outcome::ServerError: return "server_error";
    case Outcome::Timeout: return "timeout";
    case Outcome::ConnectionError: return "connection_error";
    case Outcome::Other: return "other";
    }
    return "?";
}

const char *counter_name(Counter counter)
{
    switch (counter) {
    case Counter::Rounds: return "rounds";
    case Counter::TokenRefreshes: return "token_refreshes";
    case Counter::Pages: return "pages";
    case Counter::IdleChecks: return "idle_checks";
    case Counter::FullListings: return "full_listings";
    case Counter::RowsWritten: return "rows_written";
    case Counter::TombstonesWritten: return "tombstones_written";
    case Counter::Retries: return "retries";
    case Counter::Backoffs: return "backoffs";
    case Counter::BackoffMicros: return "backoff_time";
    case Counter::CeilingWaits: return "ceiling_waits";
    case Counter::CeilingWaitMicros: return "ceiling_wait_time";
    case Counter::RateLimitWaits: return "rate_limit_waits";
    case Counter::RateLimitWaitMicros: return "rate_limit_wait_time";
    case Counter::MalformedResponses: return "malformed_responses";
    case Counter::Notifications: return "notifications";
    case Counter::FeedEntries: return "feed_entries";
    case Counter::FeedPruned: return "feed_pruned";
    case Counter::WritesSent: return "writes_sent";
    case Counter::NotificationsSkipped: return "notifications_skipped";
    case Counter::LockTimeouts: return "lock_timeouts";
    }
    return "?";
}

// classify follows Google's error classes (docs/google-calendar-api.md):
// a 403 is a limit only when its reason (or an HTML body) says so.
Outcome classify(long status, bool timed_out, bool rate_limited)
{
    if (status == 0)
        return timed_out ? Outcome::Timeout : Outcome::ConnectionError;
    if (status >= 200 && status < 300)
        return Outcome::Ok;
    switch (status) {
    case 304: return Outcome::NotModified;
    case 401: return Outcome::Unauthorized;
    case 403: return rate_limited ? Outcome::RateLimited : Outcome::Forbidden;
    case 404: return Outcome::NotFound;
    case 410: return Outcome::Gone;
    case 429: return Outcome::TooManyRequests;
    default: break;
    }
    return status >= 500 && status < 600 ? Outcome::ServerError : Outcome::Other;
}

void Metrics::flush()
{
    if (!sink_ || !pending_.any)
        return;
    Counters delta = pending_;
    pending_ = Counters{};
    sink_->publish(delta);
}

}  // namespace gcal::core
