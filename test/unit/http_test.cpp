// The transport against hostile answers (endless bodies, header floods, redirects) and the
// destination policy (schemes, internal addresses, the allow-list), on a local test server.
#include "http/client.h"
#include "http/destination.h"
#include "test_server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

namespace {

using namespace sms_otp;

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\":\"a\"}\n";

http::Request get(const TestServer &server, std::vector<std::string> allowed = {"127.0.0.1"}) {
    http::Request r;
    r.method = "POST";
    r.url = server.url();
    r.body = "x=1";
    r.timeout_ms = 5000;
    r.allowed_hosts = std::move(allowed);
    return r;
}

// Keeps writing until the client hangs up or `limit` bytes went out.
void stream(const TestServer::Conn &c, const std::string &head, const std::string &chunk, size_t limit) {
    if (!c.send(head)) return;
    for (size_t n = 0; n < limit; n += chunk.size())
        if (!c.send(chunk)) return;
}

// ------------------------------------------------------------------ destination policy

TEST(Destination, ParseHosts) {
    EXPECT_EQ(http::parse_hosts("127.0.0.1, localhost"), (std::vector<std::string>{"127.0.0.1", "localhost"}));
    EXPECT_EQ(http::parse_hosts(" Mock.Local ,,[::1]\tgw "), (std::vector<std::string>{"mock.local", "::1", "gw"}));
    EXPECT_TRUE(http::parse_hosts("").empty());
    EXPECT_TRUE(http::parse_hosts(" , ").empty());
}

TEST(Destination, HostAllowed) {
    auto list = http::parse_hosts("127.0.0.1, localhost, ::1");
    EXPECT_TRUE(http::host_allowed(list, "127.0.0.1"));
    EXPECT_TRUE(http::host_allowed(list, "LOCALHOST"));
    EXPECT_TRUE(http::host_allowed(list, "[::1]"));
    EXPECT_FALSE(http::host_allowed(list, "127.0.0.2"));
    EXPECT_FALSE(http::host_allowed(list, "localhost.example.com"));
    EXPECT_FALSE(http::host_allowed(list, ""));
    EXPECT_FALSE(http::host_allowed({}, "127.0.0.1"));
}

TEST(Destination, InternalIPv4) {
    for (const char *a : {"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
                          "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.255",
                          "169.254.169.254", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
                          "192.0.0.8", "198.18.0.1"})
        EXPECT_TRUE(http::is_internal_address(a)) << a;
    for (const char *a : {"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
                          "169.253.0.1", "192.169.0.1", "11.0.0.1", "54.239.28.85", "223.255.255.255"})
        EXPECT_FALSE(http::is_internal_address(a)) << a;
}

TEST(Destination, InternalIPv6) {
    for (const char *a : {"::1", "::", "fe80::1", "febf::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
                          "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
                          "[::ffff:192.168.0.1]", "64:ff9b::7f00:1", "::127.0.0.1"})
        EXPECT_TRUE(http::is_internal_address(a)) << a;
    for (const char *a : {"2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
                          "fe00::1", "fbff::1"})
        EXPECT_FALSE(http::is_internal_address(a)) << a;
    EXPECT_FALSE(http::is_internal_address("not an address"));
}

TEST(Destination, SocketAddresses) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    EXPECT_TRUE(http::is_internal(reinterpret_cast<sockaddr *>(&v4), sizeof v4));
    inet_pton(AF_INET, "93.184.216.34", &v4.sin_addr);
    EXPECT_FALSE(http::is_internal(reinterpret_cast<sockaddr *>(&v4), sizeof v4));
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
    EXPECT_TRUE(http::is_internal(reinterpret_cast<sockaddr *>(&v6), sizeof v6));
    // Too short for its family, or another family (AF_UNIX): never a provider.
    EXPECT_TRUE(http::is_internal(reinterpret_cast<sockaddr *>(&v6), sizeof(sockaddr_in)));
    sockaddr other{};
    other.sa_family = AF_UNIX;
    EXPECT_TRUE(http::is_internal(&other, sizeof other));
}

TEST(Destination, Schemes) {
    auto allowed = http::parse_hosts("127.0.0.1, mock.test");
    EXPECT_EQ(http::check_destination("https://api.twilio.com/x", {}).refusal, "");
    EXPECT_EQ(http::check_destination("HTTPS://api.twilio.com/x", {}).refusal, "");
    EXPECT_EQ(http::check_destination("http://api.twilio.com/x", {}).refusal, "destination not allowed: http");
    EXPECT_EQ(http::check_destination("http://127.0.0.1:8025/x", {}).refusal, "destination not allowed: http");
    EXPECT_EQ(http::check_destination("http://127.0.0.1:8025/x", allowed).refusal, "");
    EXPECT_TRUE(http::check_destination("http://127.0.0.1:8025/x", allowed).host_allowed);
    EXPECT_EQ(http::check_destination("http://MOCK.test/x", allowed).refusal, "");
    EXPECT_FALSE(http::check_destination("https://api.twilio.com/x", allowed).host_allowed);
    EXPECT_EQ(http::check_destination("ftp://127.0.0.1/x", allowed).refusal, "destination not allowed: ftp");
    EXPECT_EQ(http::check_destination("file:///etc/passwd", allowed).refusal, "destination not allowed: file");
    EXPECT_EQ(http::check_destination("gopher://127.0.0.1/", allowed).refusal, "destination not allowed: gopher");
    EXPECT_EQ(http::check_destination("not a url", allowed).refusal, "destination not allowed: unreadable URL");
    // The host libcurl will use, not a look-alike in the user part.
    EXPECT_EQ(http::check_destination("http://127.0.0.1@evil.example/", allowed).refusal,
              "destination not allowed: http");
}

// ------------------------------------------------------------------ refusals before any connection

TEST(Transport, PlainHttpRefusedUnlessAllowed) {
    TestServer server([](const TestServer::Conn &c, const std::string &) { c.send(kOk); });
    http::Response r = http::perform(get(server, {}));
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.refused);
    EXPECT_EQ(r.error, "destination not allowed: http");
    EXPECT_EQ(server.connections(), 0);

    r = http::perform(get(server));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(server.requests(), 1);
}

TEST(Transport, InternalAddressRefusedAtConnect) {
    TestServer server([](const TestServer::Conn &c, const std::string &) { c.send(kOk); });
    http::Request req = get(server, {});
    // https passes the scheme check; the address it resolves to does not.
    for (const char *host : {"127.0.0.1", "localhost", "[::ffff:127.0.0.1]"}) {
        req.url = server.url("https", host);
        http::Response r = http::perform(req);
        EXPECT_EQ(r.status, 0) << host;
        EXPECT_TRUE(r.refused) << host;
        EXPECT_EQ(r.error, "destination not allowed: internal address") << host;
    }
    EXPECT_EQ(server.connections(), 0);
    // On the list, the same address is fine (http here: the test server has no TLS).
    req.url = server.url("http", "localhost");
    req.allowed_hosts = {"localhost"};
    EXPECT_EQ(http::perform(req).status, 200);
}

TEST(Transport, HeaderInjectionRefused) {
    TestServer server([](const TestServer::Conn &c, const std::string &) { c.send(kOk); });
    http::Request req = get(server);
    req.headers = {"Authorization: AccessKey abc\r\nX-Injected: 1"};
    http::Response r = http::perform(req);
    EXPECT_TRUE(r.refused);
    EXPECT_EQ(r.error, "credentials contain control characters");
    req.headers.clear();
    req.basic_user = "user";
    req.basic_password = std::string("pw\0x", 4);
    EXPECT_TRUE(http::perform(req).refused);
    EXPECT_EQ(server.connections(), 0);
}

// ------------------------------------------------------------------ answer caps

TEST(Transport, EndlessBodyStopsAtTheCap) {
    TestServer server([](const TestServer::Conn &c, const std::string &) {
        stream(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", std::string(16384, 'a'), size_t(1) << 32);
    });
    http::Request req = get(server);
    req.max_body_bytes = 65536;
    auto t0 = std::chrono::steady_clock::now();
    http::Response r = http::perform(req);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.refused);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.error, "answer too large: more than 65536 bytes");
    EXPECT_TRUE(r.body.empty());
    EXPECT_LT(ms, 3000);
    // What the server got out before the hang-up: the cap plus socket buffers, not gigabytes.
    EXPECT_LT(server.sent(), size_t(64) << 20);
}

TEST(Transport, DeclaredLengthOverTheCapFailsAtOnce) {
    TestServer server([](const TestServer::Conn &c, const std::string &) {
        stream(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n", std::string(16384, 'a'), size_t(1) << 30);
    });
    http::Request req = get(server);
    req.max_body_bytes = 1024;
    http::Response r = http::perform(req);
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.refused);
    EXPECT_EQ(r.error, "answer too large: more than 1024 bytes");
}

TEST(Transport, BodyUpToTheCapIsKept) {
    std::string body(4096, 'b');
    TestServer server([&](const TestServer::Conn &c, const std::string &) {
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + body);
    });
    http::Request req = get(server);
    req.max_body_bytes = 4096;
    http::Response r = http::perform(req);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.refused);
    EXPECT_EQ(r.body, body);
}

TEST(Transport, HeaderFloodStopsAtTheCap) {
    TestServer server([](const TestServer::Conn &c, const std::string &) {
        stream(c, "HTTP/1.1 200 OK\r\n", "X-Junk: " + std::string(1000, 'j') + "\r\n", size_t(1) << 30);
    });
    http::Request req = get(server);
    req.max_header_bytes = 65536;
    http::Response r = http::perform(req);
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.refused);
    EXPECT_EQ(r.error, "answer too large: headers of more than 65536 bytes");
    EXPECT_LT(server.sent(), size_t(64) << 20);
}

TEST(Transport, RetryAfterKeptOnlyWhenSane) {
    std::string value;
    TestServer server([&](const TestServer::Conn &c, const std::string &) {
        c.send("HTTP/1.1 429 Too Many Requests\r\nRetry-After: " + value + "\r\nContent-Length: 0\r\n\r\n");
    });
    http::Request req = get(server);
    value = "99999999999999999999999999999";
    http::Response r = http::perform(req);
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.retry_after, value);
    EXPECT_EQ(http::retry_after_seconds(r.retry_after, 30), 86400);
    value = std::string(5000, '9');
    r = http::perform(req);
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.retry_after, "");
    EXPECT_EQ(http::retry_after_seconds(r.retry_after, 30), 30);
    EXPECT_EQ(http::retry_after_seconds(std::string(65, '1'), 30), 30);
}

TEST(Transport, RedirectsAreNotFollowed) {
    TestServer server([](const TestServer::Conn &c, const std::string &) {
        c.send("HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n");
    });
    http::Response r = http::perform(get(server));
    EXPECT_EQ(r.status, 302);
    EXPECT_EQ(server.requests(), 1);
}

TEST(Transport, SlowDripEndsAtTheTimeout) {
    TestServer server([](const TestServer::Conn &c, const std::string &) {
        if (!c.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")) return;
        for (int i = 0; i < 40 && c.send("a"); i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    });
    http::Request req = get(server);
    req.timeout_ms = 500;
    http::Response r = http::perform(req);
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.timed_out);
}

// ------------------------------------------------------------------ the multi handle

TEST(Multi, CapsAndRefusalsComeBackAsResponses) {
    TestServer server([](const TestServer::Conn &c, const std::string &request) {
        if (request.find("/endless") != std::string::npos)
            stream(c, "HTTP/1.1 200 OK\r\n\r\n", std::string(16384, 'a'), size_t(1) << 32);
        else
            c.send(kOk);
    });
    http::Multi multi;
    http::Request endless = get(server);
    endless.url += "endless";
    http::Request ok = get(server);
    http::Request refused = get(server, {});
    multi.add(endless, 1);
    multi.add(refused, 2);
    EXPECT_EQ(multi.in_flight(), 2);
    std::vector<std::pair<uint64_t, http::Response>> done;
    auto collect = [&](uint64_t tag, http::Response &&r) { done.emplace_back(tag, std::move(r)); };
    for (int i = 0; i < 500 && done.size() < 2; i++) multi.run(20, collect);
    ASSERT_EQ(done.size(), 2u);
    multi.add(ok, 3);
    for (int i = 0; i < 500 && done.size() < 3; i++) multi.run(20, collect);
    ASSERT_EQ(done.size(), 3u);
    for (const auto &[tag, r] : done) {
        if (tag == 1) {
            EXPECT_TRUE(r.refused);
            EXPECT_EQ(r.error, "answer too large: more than 65536 bytes");
        } else if (tag == 2) {
            EXPECT_TRUE(r.refused);
            EXPECT_EQ(r.error, "destination not allowed: http");
        } else {
            EXPECT_EQ(r.status, 200);
            EXPECT_EQ(r.body, "{\"id\":\"a\"}\n");
        }
    }
    EXPECT_EQ(multi.in_flight(), 0);
}

// The transport thread keeps at most the open limits, codes before other requests, and opens
// the next the moment an answer frees room, with the caller's thread doing something else.
TEST(Multi, OpenLimitsHoldAndCodesGoFirst) {
    std::mutex mutex;
    std::vector<std::string> order;
    TestServer server([&](const TestServer::Conn &c, const std::string &request) {
        std::string body = request.substr(request.find("\r\n\r\n") + 4);
        {
            std::lock_guard<std::mutex> lock(mutex);
            order.push_back(body);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(body == "o1" ? 300 : 20));
        c.send(kOk);
    });
    http::Multi multi;
    multi.set_open_limits(2, 1);
    auto add = [&](const std::string &name, uint64_t tag, bool other) {
        http::Request r = get(server);
        r.body = name;
        multi.add(r, tag, other);
    };
    add("o1", 1, true);
    for (int i = 0; i < 200 && multi.open() < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(multi.open(), 1);
    add("o2", 2, true);
    add("o3", 3, true);
    add("c1", 4, false);
    EXPECT_EQ(multi.in_flight(), 4);
    int most = 0;
    std::vector<uint64_t> done;
    // Nobody calls run() for a while: the transport goes on alone.
    for (int i = 0; i < 600 && server.requests() < 4; i++) {
        most = std::max(most, multi.open());
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(server.requests(), 4) << "requests left without run()";
    for (int i = 0; i < 500 && done.size() < 4; i++)
        multi.run(20, [&](uint64_t tag, http::Response &&r) {
            EXPECT_EQ(r.status, 200);
            done.push_back(tag);
        });
    EXPECT_EQ(done.size(), 4u);
    EXPECT_LE(most, 2);
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(order, (std::vector<std::string>{"o1", "c1", "o2", "o3"}));
    EXPECT_EQ(multi.in_flight(), 0);
    EXPECT_EQ(multi.open(), 0);
}

// Requests open plus answers not yet recorded stay within the bound: the transport waits for
// set_unwritten() before it opens more.
TEST(Multi, SentBoundWaitsForAnswersToBeRecorded) {
    TestServer server([](const TestServer::Conn &c, const std::string &) { c.send(kOk); });
    http::Multi multi;
    multi.set_open_limits(4, 0, 3);
    multi.set_unwritten(2);
    for (uint64_t tag = 1; tag <= 3; tag++) multi.add(get(server), tag);
    auto settle = [&] {
        for (int i = 0; i < 100; i++) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    };
    settle();
    EXPECT_EQ(server.requests(), 1) << "2 unwritten + 1 open reach the bound of 3";
    size_t answers = 0;
    for (int i = 0; i < 100 && answers < 1; i++) multi.run(20, [&](uint64_t, http::Response &&) { answers++; });
    ASSERT_EQ(answers, 1u);
    settle();
    EXPECT_EQ(server.requests(), 1) << "the answer collected counts until it is recorded";
    multi.set_unwritten(0);
    for (int i = 0; i < 200 && answers < 3; i++) multi.run(20, [&](uint64_t, http::Response &&) { answers++; });
    EXPECT_EQ(answers, 3u);
    EXPECT_EQ(server.requests(), 3);
}

}  // namespace
