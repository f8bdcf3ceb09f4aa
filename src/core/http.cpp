#include "core/http.hpp"

#include <curl/curl.h>
#include <strings.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace gcal::core {

// Transfer is one request: its easy handle and what it collects.
struct HttpClient::Transfer {
    HttpRequest request;
    Callback done;
    Prepare prepare;
    bool gzipped = false;  // Content-Encoding: gzip, left for the helper thread to decode
    HttpResponse response;
    CURL *easy = nullptr;
    curl_slist *headers = nullptr;
    std::size_t max_body = 0;
    // The budget of bytes in flight, shared by every transfer of the client
    // (libcurl calls on_body on the main thread, inside curl_multi_perform).
    std::size_t *in_flight = nullptr;
    std::size_t budget = 0;
    std::size_t counted = 0;       // bytes of this transfer counted in *in_flight
    std::size_t header_bytes = 0;  // all header lines received
    bool over_budget = false;
    bool headers_too_large = false;
    bool out_of_memory = false;
    char error[CURL_ERROR_SIZE] = {0};
    std::chrono::steady_clock::time_point held_since{};  // first refused by the Gate
    bool held = false;
    int sends = 0;  // times the request left (libcurl resends one whose reused connection died)

    Transfer() = default;
    Transfer(const Transfer &) = delete;
    Transfer &operator=(const Transfer &) = delete;
    ~Transfer()
    {
        if (easy)
            curl_easy_cleanup(easy);
        curl_slist_free_all(headers);
    }
};

namespace {

// on_body appends response bytes, refusing a body above its request's limit
// or bytes above the client's budget of bytes in flight: a hostile or broken
// server must not make the worker allocate without bound. It is called from
// libcurl's C frames, so it never throws: any failure returns a short count,
// which aborts the transfer (CURLE_WRITE_ERROR) and finish() says why.
size_t on_body(char *data, size_t size, size_t n, void *userp) noexcept
{
    auto *t = static_cast<HttpClient::Transfer *>(userp);
    std::size_t bytes = size * n;
    if (bytes > t->max_body || t->response.body.size() > t->max_body - bytes) {
        t->response.too_large = true;
        return 0;
    }
    if (bytes > t->budget || *t->in_flight > t->budget - bytes) {
        t->over_budget = true;
        return 0;
    }
    try {
        t->response.body.append(data, bytes);
    } catch (...) {
        t->out_of_memory = true;
        return 0;
    }
    *t->in_flight += bytes;
    t->counted += bytes;
    return bytes;
}

// header_value returns the value of header line `data` if it is named
// `name` (lowercase, with the colon; names are case-insensitive).
std::optional<std::string> header_value(const char *data, std::size_t bytes, std::string_view name)
{
    if (bytes <= name.size() || strncasecmp(data, name.data(), name.size()) != 0)
        return std::nullopt;
    std::string value(data + name.size(), bytes - name.size());
    auto first = value.find_first_not_of(" \t");
    auto last = value.find_last_not_of(" \t\r\n");
    return first == std::string::npos ? "" : value.substr(first, last - first + 1);
}

// on_header keeps the Retry-After header, and notes a gzip body that libcurl
// was told not to decode. Like on_body it never throws, and refuses headers
// above kMaxHeaderBytes in all (a short count fails the transfer).
size_t on_header(char *data, size_t size, size_t n, void *userp) noexcept
{
    std::size_t bytes = size * n;
    auto *t = static_cast<HttpClient::Transfer *>(userp);
    t->header_bytes += bytes;
    if (t->header_bytes > kMaxHeaderBytes) {
        t->headers_too_large = true;
        return 0;
    }
    try {
        if (bytes >= 5 && strncmp(data, "HTTP/", 5) == 0)
            t->gzipped = false;  // a new response (after a redirect or a 100 Continue)
        if (auto v = header_value(data, bytes, "retry-after:"))
            t->response.retry_after = std::move(*v);
        if (auto v = header_value(data, bytes, "content-encoding:"))
            t->gzipped = strcasecmp(v->c_str(), "gzip") == 0;
    } catch (...) {
        t->out_of_memory = true;
        return 0;
    }
    return bytes;
}

// on_prereq counts the times the request is about to be sent on a connection:
// libcurl sends it again, on a new connection, when a reused one turns out
// dead before any answer came (the server may have acted on the first copy).
int on_prereq(void *userp, char *, char *, int, int) noexcept
{
    static_cast<HttpClient::Transfer *>(userp)->sends++;
    return CURL_PREREQFUNC_OK;
}

// libcurl calls both from its C frames: an exception must never leave them.
static_assert(noexcept(on_body(nullptr, 0, 0, nullptr)), "on_body must be noexcept");
static_assert(noexcept(on_header(nullptr, 0, 0, nullptr)), "on_header must be noexcept");
static_assert(noexcept(on_prereq(nullptr, nullptr, nullptr, 0, 0)), "on_prereq must be noexcept");
#if LIBCURL_VERSION_NUM < 0x075000
#error "gcalsync needs libcurl 7.80 or later (CURLOPT_PREREQFUNCTION counts the copies of a write sent)"
#endif

}  // namespace

std::optional<std::string> gunzip(std::string_view in, std::size_t max_bytes, bool *too_large)
{
    *too_large = false;
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK)  // gzip wrapper only
        return std::nullopt;
    std::string out;
    // The gzip trailer holds the decoded size (mod 2^32): one allocation, usually.
    if (in.size() >= 18) {
        auto b = [&](std::size_t i) { return std::size_t(static_cast<unsigned char>(in[in.size() - 4 + i])); };
        std::size_t hint = b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
        // (deflate cannot expand more than about 1032:1: a lying trailer costs little)
        out.reserve(std::min({hint, max_bytes, in.size() * 1032}) + 1);
    }
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());  // bodies are capped far below 4 GB
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        // Never more room than the cap allows (plus one byte to notice it).
        if (out.size() == out.capacity())
            out.reserve(std::min(out.size() < (1u << 16) ? std::size_t(1) << 16 : out.size() * 2, max_bytes + 1));
        std::size_t room = std::min({out.capacity() - out.size(), max_bytes + 1 - out.size(),
                                     std::size_t(1) << 30});
        std::size_t old = out.size();
        out.resize(old + room);
        z.next_out = reinterpret_cast<Bytef *>(&out[old]);
        z.avail_out = static_cast<uInt>(room);
        rc = inflate(&z, Z_NO_FLUSH);
        out.resize(old + (room - z.avail_out));
        if (out.size() > max_bytes) {
            *too_large = true;
            inflateEnd(&z);
            return std::nullopt;
        }
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&z);
            return std::nullopt;
        }
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            inflateEnd(&z);
            return std::nullopt;  // cut short
        }
    }
    inflateEnd(&z);
    return out;
}

HttpClient::HttpClient(HttpOptions options)
{
    multi_ = curl_multi_init();
    if (!multi_)
        throw std::runtime_error("could not create a libcurl multi handle");
    // curl_multi_wakeup is the one libcurl call made from another thread
    // (libcurl documents it as thread-safe).
    offload_ = std::make_unique<Offload>([m = multi_]() { curl_multi_wakeup(static_cast<CURLM *>(m)); });
    set_options(std::move(options));
}

HttpClient::~HttpClient()
{
    offload_.reset();  // join the helper thread before the multi handle goes
    auto *m = static_cast<CURLM *>(multi_);
    for (auto &t : active_)
        curl_multi_remove_handle(m, t->easy);
    active_.clear();
    curl_multi_cleanup(m);
}

void HttpClient::set_options(HttpOptions options)
{
    options_ = std::move(options);
    options_.max_connections = std::max(1, options_.max_connections);
    auto *m = static_cast<CURLM *>(multi_);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, long(options_.max_connections));
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, long(options_.max_connections));
}

void HttpClient::submit(HttpRequest request, Callback done, Prepare prepare)
{
    auto t = std::make_unique<Transfer>();
    t->request = std::move(request);
    t->done = std::move(done);
    t->prepare = std::move(prepare);
    queue_.push_back(std::move(t));
}

int HttpClient::bulky_allowed() const
{
    int most = std::max(1, options_.max_bulky);
    if (bulky_size_ <= 0)
        return most;
    double fits = static_cast<double>(options_.bulky_budget_bytes) / (bulky_size_ * 2.5);
    return fits >= most ? most : std::max(1, static_cast<int>(fits));
}

// start_queued hands queued requests to libcurl while fewer than
// max_connections run, so a request's timeout counts from its real start.
// Requests the gate holds back stay queued, in order, for a later pump.
void HttpClient::start_queued()
{
    auto *m = static_cast<CURLM *>(multi_);
    for (auto it = queue_.begin(); it != queue_.end() && running_ < std::size_t(options_.max_connections);) {
        Transfer *t = it->get();
        if (t->request.bulky && bulky_held_ >= bulky_allowed()) {
            ++it;
            continue;
        }
        if (!t->request.pace_key.empty() && gate_.may_start && !gate_.may_start(t->request.pace_key)) {
            if (!t->held) {
                t->held = true;
                t->held_since = std::chrono::steady_clock::now();
                if (gate_.held)
                    gate_.held(t->request.pace_key);
            }
            ++it;
            continue;
        }
        if (t->held)
            t->response.held_seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t->held_since).count();
        if (!t->request.pace_key.empty() && gate_.started)
            gate_.started(t->request.pace_key);
        CURL *e = curl_easy_init();
        if (!e)
            throw std::bad_alloc();
        t->easy = e;
        t->max_body = t->request.max_body ? std::min(t->request.max_body, options_.max_body_bytes)
                                          : options_.max_body_bytes;
        t->in_flight = &in_flight_;
        t->budget = options_.in_flight_budget_bytes;
        for (const auto &h : t->request.headers)
            t->headers = curl_slist_append(t->headers, h.c_str());
        curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::min(options_.timeout_ms, 10000L));
        if (t->prepare) {
            // Decoded on the helper thread with the rest of the response's work.
            curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
            curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
        } else {
            curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl decodes
        }
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!options_.ca_file.empty())
            curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
        // Always explicit: "" means no proxy at all, whatever the postmaster's
        // environment says (libcurl would otherwise read http_proxy & co.).
        curl_easy_setopt(e, CURLOPT_PROXY, options_.proxy.c_str());
        curl_easy_setopt(e, CURLOPT_NOPROXY, "");
        curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(t->max_body));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
        curl_easy_setopt(e, CURLOPT_PRIVATE, t);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
        curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
        if (t->request.method == "POST" || !t->request.body.empty()) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(t->request.body.size()));
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
        }
        if (t->request.method != "GET" && t->request.method != "POST")
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->request.method.c_str());
        if (curl_multi_add_handle(m, e) != CURLM_OK)
            throw std::runtime_error("could not add a transfer to libcurl");
        active_.push_back(std::move(*it));
        it = queue_.erase(it);
        running_++;
        if (t->request.bulky)
            bulky_held_++;
    }
}

void HttpClient::pump(int wait_ms)
{
    auto *m = static_cast<CURLM *>(multi_);
    start_queued();
    if (running() == 0)
        return;
    int still = 0;
    curl_multi_perform(m, &still);
    // Without transfers, curl_multi_poll still sleeps until the helper
    // thread's curl_multi_wakeup: a prepared response is ready.
    if ((still > 0 || offload_->pending() > 0) && wait_ms > 0 && !offload_->ready()) {
        curl_multi_poll(m, nullptr, 0, wait_ms, nullptr);
        curl_multi_perform(m, &still);
    }
    collect_finished();
    // One prepared response at a time: its callback may take a while (the
    // worker writes a page), and meanwhile the transfers it made room for
    // should already be running, the running ones reading their sockets, and
    // the finished ones on their way to the helper thread.
    // (For at most 50 ms, so the caller still looks at its schedule and
    // signals while a long sync keeps the helper thread busy; what is left
    // is drained on the next pump, which then does not wait.)
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    while (offload_->drain(1) > 0) {
        start_queued();
        curl_multi_perform(m, &still);
        collect_finished();
        if (std::chrono::steady_clock::now() >= until)
            break;
    }
    // The callbacks usually queue the next request (the next page, the
    // calendars of a list): start it now, not after the caller's next wait.
    if (!queue_.empty()) {
        start_queued();
        curl_multi_perform(m, &still);
    }
}

// collect_finished finishes every transfer libcurl reports done.
void HttpClient::collect_finished()
{
    auto *m = static_cast<CURLM *>(multi_);
    int left = 0;
    while (CURLMsg *msg = curl_multi_info_read(m, &left)) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        Transfer *raw = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char **>(&raw));
        finish(raw, msg->data.result);
    }
}

// finish completes one transfer: collect status and errors, release the
// handle, then call the callback (which may throw; nothing is left dangling).
void HttpClient::finish(Transfer *raw, int code)
{
    auto it = std::find_if(active_.begin(), active_.end(),
                           [raw](const std::unique_ptr<Transfer> &p) { return p.get() == raw; });
    if (it == active_.end())
        return;
    std::unique_ptr<Transfer> t = std::move(*it);
    active_.erase(it);
    running_--;
    curl_multi_remove_handle(static_cast<CURLM *>(multi_), t->easy);

    HttpResponse &r = t->response;
    double secs = 0;
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &secs);
    r.seconds = secs;
    curl_off_t body_in = 0;
    long headers_in = 0;
    curl_easy_getinfo(t->easy, CURLINFO_SIZE_DOWNLOAD_T, &body_in);
    curl_easy_getinfo(t->easy, CURLINFO_HEADER_SIZE, &headers_in);
    r.received_bytes = static_cast<std::size_t>(std::max<curl_off_t>(0, body_in) + std::max(0L, headers_in));
    r.sends = t->sends;
    auto rc = static_cast<CURLcode>(code);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);
    } else {
        r.status = 0;
        r.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        if (rc == CURLE_FILESIZE_EXCEEDED)
            r.too_large = true;
        if (r.too_large)
            r.error = "response larger than " + std::to_string(t->max_body) + " bytes";
        else if (t->over_budget) {
            r.too_large = true;
            r.error = "responses in flight would exceed " + std::to_string(t->budget) + " bytes";
        } else if (t->headers_too_large) {
            r.too_large = true;
            r.error = "response headers larger than " + std::to_string(kMaxHeaderBytes) + " bytes";
        } else if (t->out_of_memory)
            r.error = "out of memory while receiving the response";
        else
            r.error = t->error[0] ? t->error : curl_easy_strerror(rc);
        std::string().swap(r.body);
    }
    Callback done = std::move(t->done);
    Prepare prepare = std::move(t->prepare);
    bool bulky = t->request.bulky;
    bool gzipped = t->gzipped && r.status != 0;
    std::size_t max_body = t->max_body;

    // Bytes stay counted in flight until the callback has returned.
    struct Release {
        std::size_t *in_flight;
        std::size_t bytes;
        ~Release() { *in_flight -= bytes; }
    };
    std::size_t counted = r.status == 0 ? 0 : t->counted;  // a failed transfer's body is gone already
    in_flight_ -= t->counted - counted;
    HttpResponse response = std::move(r);
    t.reset();
    if (!prepare) {
        Release release{&in_flight_, counted};
        if (bulky)
            bulky_held_--;
        done(std::move(response));
        return;
    }
    // The response moves to the helper thread and back; nothing else touches
    // it meanwhile (the queue's mutex orders the two threads' accesses).
    auto held = std::make_shared<HttpResponse>(std::move(response));
    offload_->run(
        [held, gzipped, max_body, prepare = std::move(prepare)]() {
            if (gzipped && !held->body.empty()) {
                bool too_large;
                auto decoded = gunzip(held->body, max_body, &too_large);
                if (decoded) {
                    held->body = std::move(*decoded);
                } else if (held->status >= 200 && held->status < 300) {
                    held->status = 0;
                    held->too_large = too_large;
                    held->error = too_large ? "response larger than " + std::to_string(max_body) + " bytes"
                                            : "could not decode the gzip body";
                    std::string().swap(held->body);
                    return;
                } else {
                    // An error response keeps its status (401, 410, 429 and
                    // Retry-After still mean what they mean) without its body.
                    std::string().swap(held->body);
                }
            }
            held->body_bytes = held->body.size();  // before prepare consumes the body
            prepare(*held);
        },
                  [this, held, bulky, counted, done = std::move(done)](std::exception_ptr failure) {
                      Release release{&in_flight_, counted};
                      if (bulky) {
                          bulky_held_--;
                          bulky_size_ = std::max(static_cast<double>(held->body_bytes), bulky_size_ * 0.9);
                      }
                      if (failure) {
                          held->status = 0;
                          held->body.clear();
                          try {
                              std::rethrow_exception(failure);
                          } catch (const std::exception &ex) {
                              held->error = std::string("could not process the response: ") + ex.what();
                          } catch (...) {
                              held->error = "could not process the response";
                          }
                      }
                      done(std::move(*held));
                  });
}

}  // namespace gcal::core
