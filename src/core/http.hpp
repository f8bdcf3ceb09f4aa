// http.hpp — concurrent HTTP for the worker: libcurl multi behind RAII.
//
// One HttpClient per worker. Requests are queued and run up to
// max_connections at a time over reused keep-alive connections; the worker
// drives it with pump(), which waits at most the given time so the caller can
// check for signals between calls. Certificate verification is always on
// (plain http is only ever configured for loopback hosts, see url.hpp).
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gcal::core {

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;                  // sent when non-empty or method is POST
    std::string pace_key;              // non-empty: start only when the gate allows this key
};

struct HttpResponse {
    long status = 0;          // HTTP status; 0 when the transfer failed
    std::string body;
    std::string retry_after;  // the Retry-After header, if any
    std::string error;        // transport failure (timeout, refused, reset, DNS, too large), "" if none
    bool timed_out = false;
    bool too_large = false;
    double seconds = 0;       // total time of the transfer
};

struct HttpOptions {
    int max_connections = 32;
    long timeout_ms = 30000;
    std::size_t max_body_bytes = std::size_t(64) << 20;  // responses above this fail
    std::string ca_file;                                  // extra CA bundle, "" = system's
    std::string user_agent = "gcalsync/1.0 (gzip)";
};

class HttpClient {
public:
    using Callback = std::function<void(HttpResponse &&)>;

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
    };
    void set_gate(Gate gate) { gate_ = std::move(gate); }
    // submit queues a request; `done` is called from pump() with the result.
    void submit(HttpRequest request, Callback done);
    // pump starts queued transfers, waits up to wait_ms for network activity,
    // and calls the callbacks of finished transfers. An exception thrown by a
    // callback propagates after the transfer was cleaned up.
    void pump(int wait_ms);
    // pending is the number of queued and running transfers.
    std::size_t pending() const { return queue_.size() + running_; }
    std::size_t running() const { return running_; }

    struct Transfer;  // one request in flight (public for libcurl's callbacks)

private:
    void start_queued();
    void finish(Transfer *t, int curl_code);

    HttpOptions options_;
    Gate gate_;
    void *multi_ = nullptr;  // CURLM*
    std::deque<std::unique_ptr<Transfer>> queue_;
    std::vector<std::unique_ptr<Transfer>> active_;
    std::size_t running_ = 0;
};

}  // namespace gcal::core
