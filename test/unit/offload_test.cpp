// Offload: the helper thread that parses pages off the worker's main thread.
#include "core/offload.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <pthread.h>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace gcal::core;

namespace {

// wait_for drains until n results were handed back (the wake callback only
// says "look"; the test polls with a deadline instead of sleeping blindly).
std::size_t drain_until(Offload &o, std::size_t n)
{
    std::size_t got = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got < n && std::chrono::steady_clock::now() < deadline) {
        got += o.drain();
        if (got < n)
            std::this_thread::yield();
    }
    return got;
}

}  // namespace

TEST(Offload, JobsRunOnAnotherThreadAndThenOnTheCaller)
{
    std::atomic<int> wakes{0};
    Offload o([&]() { wakes++; });
    ASSERT_TRUE(o.threaded());
    const auto me = std::this_thread::get_id();
    std::vector<int> order;
    std::vector<std::thread::id> job_threads(100);
    for (int i = 0; i < 100; i++)
        o.run([&, i]() { job_threads[i] = std::this_thread::get_id(); },
              [&, i](std::exception_ptr failure) {
                  EXPECT_FALSE(failure);
                  EXPECT_EQ(std::this_thread::get_id(), me);
                  order.push_back(i);
              });
    EXPECT_EQ(drain_until(o, 100), 100u);
    EXPECT_EQ(o.pending(), 0u);
    ASSERT_EQ(order.size(), 100u);
    for (int i = 0; i < 100; i++) {
        EXPECT_EQ(order[i], i);  // one helper thread: finished in the order queued
        EXPECT_NE(job_threads[i], me);
    }
    EXPECT_EQ(wakes.load(), 100);
}

TEST(Offload, AJobsExceptionReachesItsThenNotTheThread)
{
    Offload o(nullptr);
    std::string seen;
    o.run([]() { throw std::runtime_error("boom"); },
          [&](std::exception_ptr failure) {
              ASSERT_TRUE(failure);
              try {
                  std::rethrow_exception(failure);
              } catch (const std::exception &ex) {
                  seen = ex.what();
              }
          });
    bool ran = false;
    o.run([]() {}, [&](std::exception_ptr failure) { ran = !failure; });
    EXPECT_EQ(drain_until(o, 2), 2u);
    EXPECT_EQ(seen, "boom");
    EXPECT_TRUE(ran);
}

TEST(Offload, TheHelperThreadBlocksEverySignal)
{
    Offload o(nullptr);
    bool blocked_all = false;
    o.run(
        [&]() {
            sigset_t mask;
            pthread_sigmask(SIG_SETMASK, nullptr, &mask);
            blocked_all = sigismember(&mask, SIGTERM) == 1 && sigismember(&mask, SIGHUP) == 1 &&
                          sigismember(&mask, SIGUSR1) == 1 && sigismember(&mask, SIGURG) == 1 &&
                          sigismember(&mask, SIGINT) == 1;
        },
        nullptr);
    EXPECT_EQ(drain_until(o, 1), 1u);
    EXPECT_TRUE(blocked_all);
    // ... and the caller's mask is what it was.
    sigset_t mine;
    pthread_sigmask(SIG_SETMASK, nullptr, &mine);
    EXPECT_EQ(sigismember(&mine, SIGTERM), 0);
}

TEST(Offload, CapturesAreReleasedOnTheHelperThread)
{
    struct Probe {
        std::thread::id *where;
        ~Probe()
        {
            if (where)
                *where = std::this_thread::get_id();
        }
    };
    std::thread::id released;
    Offload o(nullptr);
    {
        auto probe = std::make_shared<Probe>(Probe{&released});
        o.run([probe]() {}, nullptr);
    }
    EXPECT_EQ(drain_until(o, 1), 1u);
    EXPECT_NE(released, std::thread::id());
    EXPECT_NE(released, std::this_thread::get_id());
}

TEST(Offload, InlineModeGivesTheSameResults)
{
    Offload o(nullptr, false);
    EXPECT_FALSE(o.threaded());
    int value = 0;
    bool failed = true;
    o.run([&]() { value = 42; }, [&](std::exception_ptr f) { failed = static_cast<bool>(f); });
    EXPECT_EQ(o.pending(), 1u);
    EXPECT_EQ(o.drain(), 1u);
    EXPECT_EQ(value, 42);
    EXPECT_FALSE(failed);
}

TEST(Offload, DrainTakesAtMostItsLimit)
{
    Offload o(nullptr);
    int thens = 0;
    for (int i = 0; i < 3; i++)
        o.run([]() {}, [&](std::exception_ptr) { thens++; });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (o.pending() > 0 && thens == 0 && std::chrono::steady_clock::now() < deadline) {
        if (o.drain(1) == 1)
            EXPECT_EQ(thens, 1);  // one at a time
        else
            std::this_thread::yield();
    }
    EXPECT_EQ(drain_until(o, 2), 2u);
    EXPECT_EQ(thens, 3);
    EXPECT_FALSE(o.ready());
    EXPECT_EQ(o.drain(5), 0u);
}

TEST(Offload, AfterStopJobsRunInline)
{
    Offload o(nullptr);
    ASSERT_TRUE(o.threaded());
    o.stop();
    o.stop();  // idempotent
    EXPECT_FALSE(o.threaded());
    std::thread::id where;
    o.run([&]() { where = std::this_thread::get_id(); }, nullptr);
    EXPECT_EQ(where, std::this_thread::get_id());
    EXPECT_EQ(o.drain(), 1u);
}

TEST(Offload, DestructionWithQueuedWorkJoinsCleanly)
{
    std::atomic<int> ran{0};
    {
        Offload o(nullptr);
        for (int i = 0; i < 1000; i++)
            o.run([&]() { ran++; }, [](std::exception_ptr) { FAIL() << "then must not run after destruction"; });
    }
    EXPECT_LE(ran.load(), 1000);
}

// ---- gunzip (the helper thread decodes gzip bodies) -----------------------

#include "core/http.hpp"

#include <zlib.h>

namespace {

std::string gzip(const std::string &in)
{
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&z, in.size()) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef *>(&out[0]);
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

}  // namespace

TEST(Gunzip, DecodesAndHoldsTheCap)
{
    std::string text;
    for (int i = 0; i < 100000; i++)
        text += "{\"id\":\"" + std::to_string(i) + "\"},";
    std::string packed = gzip(text);
    bool too_large = true;
    auto out = gunzip(packed, 64 << 20, &too_large);
    ASSERT_TRUE(out);
    EXPECT_FALSE(too_large);
    EXPECT_EQ(*out, text);
    // The cap counts decoded bytes.
    EXPECT_FALSE(gunzip(packed, text.size() - 1, &too_large));
    EXPECT_TRUE(too_large);
    EXPECT_TRUE(gunzip(packed, text.size(), &too_large));
    // Empty input decodes to empty output.
    out = gunzip(gzip(""), 10, &too_large);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, "");
}

TEST(Gunzip, RefusesBrokenAndTruncatedBodies)
{
    std::string packed = gzip(std::string(100000, 'x'));
    bool too_large = true;
    EXPECT_FALSE(gunzip(packed.substr(0, packed.size() / 2), 1 << 20, &too_large));
    EXPECT_FALSE(too_large);
    EXPECT_FALSE(gunzip("not gzip at all", 1 << 20, &too_large));
    EXPECT_FALSE(gunzip("", 1 << 20, &too_large));
    std::string lying = packed;
    lying[lying.size() - 1] = '\x7f';  // the trailer claims 2 GB: only a small reservation, then
    EXPECT_FALSE(gunzip(lying, 1 << 20, &too_large));  // zlib's length check refuses it
    std::string varied;
    for (int i = 0; i < 20000; i++)
        varied += std::to_string(i * 7919 % 10007) + ",";
    std::string flipped = gzip(varied);
    for (std::size_t i = 20; i + 20 < flipped.size(); i += 97)
        flipped[i] ^= 0x55;  // damage inside the deflate data
    EXPECT_FALSE(gunzip(flipped, 1 << 20, &too_large));
}
