// libcurl behind two doors: Multi keeps many requests in flight on one multi handle (the
// worker), perform() makes one blocking request (the code check in otp_verify).
#pragma once

#include "http/request.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace sms_otp::http {

void global_init();

class Multi {
public:
    struct Transfer;

    Multi();
    ~Multi();
    Multi(const Multi &) = delete;
    Multi &operator=(const Multi &) = delete;

    // Upper bound on connections per host (reuse is on: the handle keeps its connection cache).
    void set_max_host_connections(long n);

    // Start a request; tag comes back with its response. A request our rules refuse
    // (destination, control characters) is never started: its response says why.
    void add(const Request &request, uint64_t tag);
    int in_flight() const { return running_ + static_cast<int>(refused_.size()); }

    // Wait up to timeout_ms for socket activity (returning early on any), then hand every
    // finished transfer to done.
    void run(int timeout_ms, const std::function<void(uint64_t, Response &&)> &done);
    // Let transfers added since the last run() start now (connect, send), without waiting:
    // otherwise they leave only at the next run().
    void kick();

private:
    void *multi_;  // CURLM
    int running_ = 0;
    std::vector<std::unique_ptr<Transfer>> idle_;  // finished transfers, reused with their easy handles
    std::vector<Transfer *> active_;
    std::vector<std::pair<uint64_t, Response>> refused_;  // answered by the next run()
};

// One request, blocking up to request.timeout_ms.
Response perform(const Request &request);

}  // namespace sms_otp::http
