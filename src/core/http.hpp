// http.hpp — concurrent HTTP for the worker: libcurl multi behind RAII.
//
// One HttpClient per worker. Requests are queued and run up to
// max_connections at a time over reused keep-alive connections; the worker
// drives it with pump(), which waits at most the given time so the caller can
// check for signals between calls. Certificate verification is always on
// (plain http is only ever configured for loopback hosts, see url.hpp).
#pragma once
#include "core/pure.hpp"

#include "core/offload.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

namespace gcal::core {

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;                  // sent when non-empty or method is POST
    std::string pace_key;              // non-empty: start only when the gate allows this key
    bool bulky = false;                // a response of megabytes (a full listing's page): see max_bulky
    // Largest body accepted for this request (after gzip decoding), 0 = the
    // client's max_body_bytes. See the kMax*ResponseBytes limits below.
    std::size_t max_body = 0;
};

// Response size limits by kind (README: Limits). A response above its limit
// fails that request (status 0, too_large, "response larger than N bytes"),
// which the engine treats as a transient failure (backoff), never keeping the body.
// Token, watch and channels.stop answers are a few hundred bytes.
constexpr std::size_t kMaxSmallResponseBytes = std::size_t(64) << 10;
// calendars.get: one calendar resource, about a kilobyte.
constexpr std::size_t kMaxCalendarResponseBytes = std::size_t(1) << 20;
// A page of calendarList.list or events.list (up to 2,500 events): HttpOptions::max_body_bytes.
constexpr std::size_t kMaxListPageBytes = std::size_t(64) << 20;
// All header lines of one response together.
constexpr std::size_t kMaxHeaderBytes = std::size_t(64) << 10;

struct HttpResponse {
    long status = 0;          // HTTP status; 0 when the transfer failed
    std::string body;
    std::string retry_after;  // the Retry-After header, if any
    std::string error;        // transport failure (timeout, refused, reset, DNS, too large), "" if none
    bool timed_out = false;
    bool too_large = false;   // over its size limit, or over the budget of bytes in flight
    double seconds = 0;       // total time of the transfer
    std::size_t body_bytes = 0;  // size of the (decoded) body before a prepare step consumed it
    std::size_t received_bytes = 0;  // bytes received: headers and body as sent (before decoding)
    double held_seconds = 0;         // time the Gate held the request back before it left
    int sends = 0;  // times the request was sent: above 1 when libcurl sent it again on a new
                    // connection (a reused one died first), so the answer is the last copy's
};

struct HttpOptions {
    int max_connections = 32;
    long timeout_ms = 30000;
    std::size_t max_body_bytes = kMaxListPageBytes;       // responses above this fail (unless a request says less)
    // All response bytes held at once, across every transfer: received and
    // not yet handed to their callback (still downloading, or waiting for or
    // in their prepare step). A response that would go above it fails (a
    // transient failure, retried in a later round), so however many
    // transfers a hostile or broken server answers at once, the worker's
    // buffers stay bounded. (Bodies count as received, before gzip decoding;
    // a decoded body is bounded by its own limit.)
    std::size_t in_flight_budget_bytes = std::size_t(256) << 20;
    std::string ca_file;                                  // extra CA bundle, "" = system's
    // The proxy every request goes through, "" = none. Set on every transfer
    // (CURLOPT_PROXY, CURLOPT_NOPROXY), so the environment's http_proxy,
    // https_proxy, ALL_PROXY and no_proxy are never consulted.
    std::string proxy;
    std::string user_agent = "gcalsync/1.0 (gzip)";
    // Bulky responses held at once, downloading or waiting for their prepare
    // step (the engine marks the pages of full listings and the continuation
    // pages of incremental ones): they, not the number of connections, bound
    // the worker's memory. As many run as bulky_budget_bytes allows for pages
    // the size of the largest lately seen (body and what it is parsed into,
    // about 2.5 times the body), at least 1 and at most max_bulky; the page
    // whose callback runs (being written) is not counted. Other requests are
    // not held back by it.
    int max_bulky = 6;
    std::size_t bulky_budget_bytes = std::size_t(48) << 20;
};

// gunzip decodes a gzip body; nullopt when it is not valid gzip, or (then
// *too_large) when it decodes to more than max_bytes.
std::optional<std::string> gunzip(std::string_view in, std::size_t max_bytes, bool *too_large);

class HttpClient {
public:
    using Callback = std::function<void(HttpResponse &&)>;
    // Prepare runs on the helper thread (core/offload.hpp) between the end of
    // a transfer and its callback, for every outcome (also status 0 and error
    // statuses) except a 2xx body that could not be decoded (then the callback
    // sees status 0 with the reason): parsing a body there keeps the main thread free for
    // PostgreSQL. It must not call PostgreSQL; if it throws, the callback
    // sees a failed transfer (status 0) with the reason.
    using Prepare = std::function<void(HttpResponse &)>;

    explicit HttpClient(HttpOptions options);
    ~HttpClient();
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    // set_options applies to transfers started from now on.
    void set_options(HttpOptions options);
    // Gate decides whether a request with a pace key may start now, and is
    // told when one does: request ceilings count requests when they leave,
    // not when they are queued.
    struct Gate {
        std::function<bool(const std::string &key)> may_start;
        std::function<void(const std::string &key)> started;
        // held (optional) is told once per request the first time may_start refuses it.
        std::function<void(const std::string &key)> held;
    };
    void set_gate(Gate gate) { gate_ = std::move(gate); }
    // submit queues a request; `done` is called from pump() with the result,
    // after `prepare` (if any) ran on the helper thread.
    void submit(HttpRequest request, Callback done, Prepare prepare = nullptr);
    // dispose destroys what `holder` captured on the helper thread (freeing a
    // parsed page of 2,500 events is not free); holder should do nothing.
    void dispose(std::function<void()> holder) { offload_->run(std::move(holder), nullptr); }
    // pump starts queued transfers, waits up to wait_ms for network activity
    // or a prepared response, and calls the callbacks of finished transfers.
    // An exception thrown by a callback propagates after the transfer was
    // cleaned up.
    void pump(int wait_ms);
    // pending is the number of requests queued, running or being prepared.
    std::size_t pending() const { return queue_.size() + running(); }
    // running is the number of transfers running or being prepared: work
    // that ends without anything else happening.
    std::size_t running() const { return running_ + offload_->pending(); }
    // in_flight_bytes is what counts against in_flight_budget_bytes now.
    std::size_t in_flight_bytes() const { return in_flight_; }
    bool threaded() const { return offload_->threaded(); }
    // stop_helper ends the helper thread (work given to it later runs inline):
    // for a process about to exit without unwinding (PostgreSQL's FATAL).
    void stop_helper() { offload_->stop(); }

    struct Transfer;  // one request in flight (public for libcurl's callbacks)

private:
    void start_queued();
    void finish(Transfer *t, int curl_code);
    void collect_finished();

    HttpOptions options_;
    Gate gate_;
    void *multi_ = nullptr;  // CURLM*
    std::deque<std::unique_ptr<Transfer>> queue_;
    std::vector<std::unique_ptr<Transfer>> active_;
    std::size_t running_ = 0;
    int bulky_held_ = 0;  // bulky responses downloading or being prepared
    std::size_t in_flight_ = 0;  // response bytes held (see in_flight_budget_bytes); main thread only
    // Bytes of the largest bulky body lately (decays by 10 % per body); until
    // one was seen, a guess of 4 MB (2,500 events of 1.6 kB).
    double bulky_size_ = 4 << 20;
    int bulky_allowed() const;
    std::unique_ptr<Offload> offload_;  // after multi_: its thread wakes multi_
};

}  // namespace gcal::core
