// GoogleTest suite for core/http limits against a hostile loopback server:
// per-request body limits, the header limit, the budget of bytes in flight
// across transfers, and that libcurl's callbacks fail a transfer instead of
// throwing (issue 12, item 10).
#include "core/http.hpp"
#include "core/sync.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>

using namespace gcal::core;

namespace {

// HostileServer answers every request on 127.0.0.1 with what `answer` writes
// to the connection (then closes it), one connection at a time.
class HostileServer {
public:
    using Answer = std::function<void(int fd, const std::string &path)>;
    explicit HostileServer(Answer answer) : answer_(std::move(answer))
    {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
        listen(fd_, 16);
        socklen_t len = sizeof a;
        getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this]() { serve(); });
    }
    ~HostileServer()
    {
        stop_ = true;
        shutdown(fd_, SHUT_RDWR);
        close(fd_);
        thread_.join();
    }
    std::string url(const std::string &path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

    // write_all sends bytes; false once the client has gone.
    static bool write_all(int fd, const std::string &s)
    {
        std::size_t off = 0;
        while (off < s.size()) {
            ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }

private:
    void serve()
    {
        while (!stop_) {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0)
                return;
            std::string req;
            char buf[4096];
            while (req.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = recv(c, buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                req.append(buf, static_cast<std::size_t>(n));
            }
            auto sp = req.find(' ');
            std::string path = sp == std::string::npos ? "" : req.substr(sp + 1, req.find(' ', sp + 1) - sp - 1);
            answer_(c, path);
            close(c);
        }
    }
    Answer answer_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// endless answers 200 with a body without Content-Length that never ends
// (until the client hangs up).
void endless(int fd)
{
    if (!HostileServer::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"))
        return;
    std::string chunk(64 << 10, ' ');
    for (int i = 0; i < 100000 && HostileServer::write_all(fd, chunk); i++) {
    }
}

// sized answers 200 with a body of n bytes.
void sized(int fd, std::size_t n)
{
    HostileServer::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) +
                                     "\r\nConnection: close\r\n\r\n" + std::string(n, 'x'));
}

// run pumps until `done` or 20 s passed.
void run(HttpClient &http, const std::function<bool()> &done)
{
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done() && std::chrono::steady_clock::now() < until)
        http.pump(20);
}

HttpResponse fetch(HttpClient &http, HttpRequest req)
{
    std::optional<HttpResponse> got;
    http.submit(std::move(req), [&](HttpResponse &&r) { got = std::move(r); });
    run(http, [&]() { return got.has_value(); });
    EXPECT_TRUE(got.has_value());
    return got ? std::move(*got) : HttpResponse{};
}

}  // namespace

TEST(HttpLimits, LimitsByKind)
{
    EXPECT_EQ(max_response_bytes(Api::Token), 64u << 10);
    EXPECT_EQ(max_response_bytes(Api::EventsWatch), 64u << 10);
    EXPECT_EQ(max_response_bytes(Api::CalendarListWatch), 64u << 10);
    EXPECT_EQ(max_response_bytes(Api::ChannelsStop), 64u << 10);
    EXPECT_EQ(max_response_bytes(Api::CalendarsGet), 1u << 20);
    EXPECT_EQ(max_response_bytes(Api::EventsList), kMaxListPageBytes);
    EXPECT_EQ(max_response_bytes(Api::CalendarListList), kMaxListPageBytes);
}

TEST(HttpLimits, EndlessBodyFailsAtTheRequestLimit)
{
    HostileServer server([](int fd, const std::string &) { endless(fd); });
    HttpClient http(HttpOptions{});
    HttpRequest req;
    req.url = server.url("/token");
    req.max_body = kMaxSmallResponseBytes;
    HttpResponse r = fetch(http, req);
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.too_large);
    EXPECT_EQ(r.error, "response larger than 65536 bytes");
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(http.in_flight_bytes(), 0u);

    // A request's limit never exceeds the client's.
    HttpOptions small;
    small.max_body_bytes = 1000;
    http.set_options(small);
    req.max_body = kMaxCalendarResponseBytes;
    r = fetch(http, req);
    EXPECT_EQ(r.error, "response larger than 1000 bytes");
}

TEST(HttpLimits, DeclaredLengthOverTheLimitFails)
{
    HostileServer server([](int fd, const std::string &) { sized(fd, 200000); });
    HttpClient http(HttpOptions{});
    HttpRequest req;
    req.url = server.url("/calendars/x");
    req.max_body = 100000;
    HttpResponse r = fetch(http, req);
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.too_large);
    EXPECT_EQ(r.error, "response larger than 100000 bytes");
    // Under the limit: fine.
    req.max_body = 200000;
    r = fetch(http, req);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), 200000u);
}

TEST(HttpLimits, HeaderFloodFails)
{
    HostileServer server([](int fd, const std::string &) {
        if (!HostileServer::write_all(fd, "HTTP/1.1 200 OK\r\n"))
            return;
        std::string line = "X-Junk: " + std::string(1000, 'j') + "\r\n";
        for (int i = 0; i < 10000 && HostileServer::write_all(fd, line); i++) {
        }
    });
    HttpClient http(HttpOptions{});
    HttpRequest req;
    req.url = server.url("/token");
    HttpResponse r = fetch(http, req);
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.too_large);
    EXPECT_EQ(r.error, "response headers larger than 65536 bytes");
}

TEST(HttpLimits, OneBudgetForAllBytesInFlight)
{
    HostileServer server([](int fd, const std::string &) { sized(fd, 80000); });
    HttpOptions o;
    o.in_flight_budget_bytes = 100000;
    HttpClient http(o);

    // A's body stays in flight while its prepare step waits.
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> a_prepared{false};
    std::optional<HttpResponse> a, b;
    HttpRequest req;
    req.url = server.url("/a");
    http.submit(
        req, [&](HttpResponse &&r) { a = std::move(r); },
        [&, released](HttpResponse &) {
            a_prepared = true;
            released.wait_for(std::chrono::seconds(20));
        });
    run(http, [&]() { return a_prepared.load(); });
    ASSERT_TRUE(a_prepared.load());
    EXPECT_EQ(http.in_flight_bytes(), 80000u);

    // B would take the bytes in flight above the budget: it fails, A does not.
    req.url = server.url("/b");
    http.submit(req, [&](HttpResponse &&r) { b = std::move(r); });
    run(http, [&]() { return b.has_value(); });
    release.set_value();
    run(http, [&]() { return a.has_value(); });
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->status, 0);
    EXPECT_TRUE(b->too_large);
    EXPECT_EQ(b->error, "responses in flight would exceed 100000 bytes");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(http.in_flight_bytes(), 0u);

    // With A's bytes released, the same request fits.
    HttpResponse again = fetch(http, req);
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.body.size(), 80000u);
    EXPECT_EQ(http.in_flight_bytes(), 0u);
}

TEST(JsonLimits, ElementCount)
{
    EXPECT_EQ(json_shape(R"({"a":[1,2,3],"b":{"c":"x,y:z[{"}})", 64, 100), JsonShape::Ok);
    EXPECT_EQ(json_shape("[0,0,0,0,0]", 64, 5), JsonShape::Ok);
    EXPECT_EQ(json_shape("[0,0,0,0,0,0]", 64, 5), JsonShape::TooManyElements);
    EXPECT_EQ(json_shape(R"(["a,b,c,d,e,f,g"])", 64, 2), JsonShape::Ok);  // commas in strings do not count
    EXPECT_EQ(json_shape("[[[[1]]]]", 3, 100), JsonShape::TooDeep);

    // A hostile events page of tiny values is refused before jansson allocates them.
    std::string body = R"({"kind":"calendar#events","items":[)";
    body.reserve(body.size() + 2 * kMaxJsonElements + 10);
    for (std::size_t i = 0; i <= kMaxJsonElements; i++)
        body += i ? ",0" : "0";
    body += "]}";
    std::string error;
    EXPECT_FALSE(parse_events_page(body, &error));
    EXPECT_EQ(error, "body has more than 2000000 JSON values");
    EXPECT_FALSE(parse_calendar(R"({"id":"c","x":[)" + std::string(3000000, '[') + "]}", &error));
}
