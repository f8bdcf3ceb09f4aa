// store.hpp — the sync engine's Store, implemented with SPI: every page is
// written in one transaction of the worker, with set-based statements, its
// page or sync token, and its NOTIFY.
#pragma once

#include <unordered_set>

#include "pg/spi.hpp"

namespace gcal::pg {

class SpiStore : public core::Store {
public:
    std::vector<core::OwnerLink> due_owners(std::size_t limit,
                                            const std::function<bool(const std::string &)> &busy) override;
    std::optional<core::Micros> next_due() override;
    std::optional<core::Credentials> credentials() override;
    std::vector<core::DueCalendar> due_calendars(const core::OwnerLink &link, core::Micros due_by) override;
    std::vector<std::string> unfetched_calendars(const core::OwnerLink &link) override;
    core::Cursor cursor(const core::OwnerLink &link, core::Resource r, const std::string &calendar_id) override;
    void reset_cursor(const core::OwnerLink &link, core::Resource r, const std::string &calendar_id) override;
    bool write_calendar_list(const core::OwnerLink &link, const core::CalendarListPage &page,
                             const core::PageStep &step) override;
    bool write_calendar(const core::OwnerLink &link, const core::CalendarResource &calendar) override;
    bool write_events(const core::OwnerLink &link, const std::string &calendar_id,
                      const core::EventsPage &page, const core::PageStep &step) override;
    void calendars_synced(const core::OwnerLink &link, const std::vector<core::CalendarDone> &calendars) override;
    void calendar_gone(const core::OwnerLink &link, const std::string &calendar_id, core::Micros retry_at) override;
    void calendar_failed(const core::OwnerLink &link, const std::string &calendar_id,
                         const std::string &error, core::Micros retry_at) override;
    bool calendars_all_failing(const core::OwnerLink &link) override;
    bool owner_free(const std::string &owner) override;
    bool jsonb_events(const core::OwnerLink &link, const std::string &calendar_id) override;
    bool calendar_metadata(const core::OwnerLink &link, const std::string &calendar_id,
                           const core::OptText &summary, const core::OptText &time_zone) override;
    void owner_synced(const core::OwnerLink &link, bool list_synced, core::Micros next_at,
                      const std::vector<core::CalendarDone> &calendars,
                      const std::vector<core::TokenMove> &tokens) override;
    void owner_failed(const core::OwnerLink &link, core::OwnerState state, const std::string &error,
                      core::Micros retry_at) override;

    std::vector<core::Channel> channels(const core::OwnerLink &link) override;
    std::vector<std::string> watchable_calendars(const core::OwnerLink &link) override;
    bool save_channel(const core::OwnerLink &link, const core::Channel &channel, const std::string &token) override;
    void retire_channel(const core::OwnerLink &link, const std::string &channel_id) override;
    void push_unsupported(const core::OwnerLink &link, const std::string &calendar_id) override;
    std::vector<core::ChannelStop> channels_to_stop(std::size_t limit) override;
    void channel_stopped(const std::string &channel_id) override;

    // The outbox (core/outbox.hpp).
    std::vector<core::OutboxWrite> due_writes(std::size_t limit,
                                              const std::function<bool(const std::string &)> &busy) override;
    std::optional<core::OwnerLink> write_link(const std::string &owner) override;
    void write_finished(const core::OwnerLink &link, const core::OutboxWrite &w, core::WriteState state,
                        const std::string &error, const core::EventsPage *mirror) override;
    void write_retry(const core::OutboxWrite &w, const std::string &error, core::Micros retry_at) override;
    std::vector<int64_t> writes_sent(const std::vector<int64_t> &ids, bool sent) override;

    // prune_changes deletes change-feed entries older than the retention and
    // records the highest pruned sequence number; returns the count.
    uint64_t prune_changes(int retention_s);

    // set_metrics: where rows written are counted, and whether the progress
    // of full syncs is recorded (null: neither; see stats.hpp).
    void set_metrics(core::Metrics *metrics) { metrics_ = metrics && metrics->enabled() ? metrics : nullptr; }

private:
    // store_event_rows writes events and records their announcements (see store.cpp).
    std::pair<std::size_t, std::size_t> store_event_rows(Spi &spi, const core::OwnerLink &link,
                                                         const std::string &calendar_id, const core::EventsPage &page,
                                                         const core::PageStep *listing);
    // count_rows counts the rows a committed write upserted and marked deleted.
    void count_rows(uint64_t rows, uint64_t tombstones)
    {
        if (metrics_) {
            metrics_->add(core::Counter::RowsWritten, rows);
            metrics_->add(core::Counter::TombstonesWritten, tombstones);
        }
    }
    core::Metrics *metrics_ = nullptr;
    // The installed schema is still 1.0 (read with the schedule): pages are
    // written with the statements of 1.0 (the *V10 ones), without the
    // sweep's transaction ids and the full-sync progress of 1.1.
    bool schema_1_0_ = false;
    // Full listings (owner \x1f calendar) whose page met a row that already
    // existed: their later pages go straight to the upsert (see write_events).
    std::unordered_set<std::string> upsert_listings_;
};

// Conversions between Unix microseconds (src/core) and PostgreSQL's epoch.
core::Micros now_micros();
TimestampTz to_timestamptz(core::Micros t);
core::Micros from_timestamptz(TimestampTz t);

// wake_waiters tells gcal_wait callers of that owner that its round ended.
void wake_waiters(const std::string &owner);

}  // namespace gcal::pg
