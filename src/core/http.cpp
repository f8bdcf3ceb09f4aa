#include "core/http.hpp"

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <stdexcept>

namespace gcal::core {

// Transfer is one request: its easy handle and what it collects.
struct HttpClient::Transfer {
    HttpRequest request;
    Callback done;
    HttpResponse response;
    CURL *easy = nullptr;
    curl_slist *headers = nullptr;
    std::size_t max_body = 0;
    char error[CURL_ERROR_SIZE] = {0};

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

// on_body appends response bytes, refusing bodies above the cap: a hostile or
// broken server must not make the worker allocate without bound.
size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    auto *t = static_cast<HttpClient::Transfer *>(userp);
    std::size_t bytes = size * n;
    if (t->response.body.size() + bytes > t->max_body) {
        t->response.too_large = true;
        return 0;  // aborts with CURLE_WRITE_ERROR
    }
    t->response.body.append(data, bytes);
    return bytes;
}

// on_header keeps the Retry-After header (names are case-insensitive).
size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    std::size_t bytes = size * n;
    static const char kName[] = "retry-after:";
    const std::size_t len = sizeof(kName) - 1;
    if (bytes > len && strncasecmp(data, kName, len) == 0) {
        std::string value(data + len, bytes - len);
        auto first = value.find_first_not_of(" \t");
        auto last = value.find_last_not_of(" \t\r\n");
        static_cast<HttpClient::Transfer *>(userp)->response.retry_after =
            first == std::string::npos ? "" : value.substr(first, last - first + 1);
    }
    return bytes;
}

}  // namespace

HttpClient::HttpClient(HttpOptions options)
{
    multi_ = curl_multi_init();
    if (!multi_)
        throw std::runtime_error("could not create a libcurl multi handle");
    set_options(std::move(options));
}

HttpClient::~HttpClient()
{
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

void HttpClient::submit(HttpRequest request, Callback done)
{
    auto t = std::make_unique<Transfer>();
    t->request = std::move(request);
    t->done = std::move(done);
    queue_.push_back(std::move(t));
}

// start_queued hands queued requests to libcurl while fewer than
// max_connections run, so a request's timeout counts from its real start.
// Requests the gate holds back stay queued, in order, for a later pump.
void HttpClient::start_queued()
{
    auto *m = static_cast<CURLM *>(multi_);
    for (auto it = queue_.begin(); it != queue_.end() && running_ < std::size_t(options_.max_connections);) {
        Transfer *t = it->get();
        if (!t->request.pace_key.empty() && gate_.may_start && !gate_.may_start(t->request.pace_key)) {
            ++it;
            continue;
        }
        if (!t->request.pace_key.empty() && gate_.started)
            gate_.started(t->request.pace_key);
        CURL *e = curl_easy_init();
        if (!e)
            throw std::bad_alloc();
        t->easy = e;
        t->max_body = options_.max_body_bytes;
        for (const auto &h : t->request.headers)
            t->headers = curl_slist_append(t->headers, h.c_str());
        curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::min(options_.timeout_ms, 10000L));
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl decodes
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!options_.ca_file.empty())
            curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
        curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(options_.max_body_bytes));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
        curl_easy_setopt(e, CURLOPT_PRIVATE, t);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
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
    }
}

void HttpClient::pump(int wait_ms)
{
    auto *m = static_cast<CURLM *>(multi_);
    start_queued();
    if (running_ == 0)
        return;
    int still = 0;
    curl_multi_perform(m, &still);
    if (still > 0 && wait_ms > 0) {
        curl_multi_poll(m, nullptr, 0, wait_ms, nullptr);
        curl_multi_perform(m, &still);
    }
    int left = 0;
    while (CURLMsg *msg = curl_multi_info_read(m, &left)) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        Transfer *raw = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char **>(&raw));
        finish(raw, msg->data.result);
    }
    // The callbacks usually queue the next request (the next page, the
    // calendars of a list): start it now, not after the caller's next wait.
    if (!queue_.empty()) {
        start_queued();
        curl_multi_perform(m, &still);
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
        else
            r.error = t->error[0] ? t->error : curl_easy_strerror(rc);
        r.body.clear();
    }
    Callback done = std::move(t->done);
    HttpResponse response = std::move(r);
    t.reset();
    done(std::move(response));
}

}  // namespace gcal::core
