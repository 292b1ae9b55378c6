// libcurl behind two doors: Multi keeps many requests in flight on one multi handle, driven by
// a thread of its own (the worker), perform() makes one blocking request (the code check in
// otp_verify).
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

    // Starts the transport thread: it alone drives the multi handle (connects, sends, reads
    // answers), so answers are read and waiting requests leave while the caller is busy
    // elsewhere (a worker in a SQL statement). It runs no PostgreSQL code and takes no signal.
    Multi();
    ~Multi();
    Multi(const Multi &) = delete;
    Multi &operator=(const Multi &) = delete;
    // Ends the transport thread (open requests are dropped, unanswered); the destructor does it
    // too. For a process that may exit without unwinding to the destructor.
    void stop();

    // Upper bound on connections per host (reuse is on: the handle keeps its connection cache).
    void set_max_host_connections(long n);
    // Requests open at once at most (0: no bound), and of them the `other` ones (see add());
    // requests added past these wait, in order, codes first, and leave as answers free room.
    // With `sent_bound`, no request is opened while requests open, plus answers not yet
    // collected by run(), plus the caller's `unwritten` (below) reach it: what a crash of the
    // caller can leave sent and unrecorded.
    void set_open_limits(int total, int others, int sent_bound = 0);
    // Answers the caller collected and has not recorded yet; run() counts each answer it hands
    // back here until the caller says the new figure.
    void set_unwritten(int n);

    // Hand a request over; tag comes back with its response. A request our rules refuse
    // (destination, control characters) is never started: its response says why. An `other`
    // request waits behind every waiting one that is not.
    void add(const Request &request, uint64_t tag, bool other = false);
    // Requests handed over and not yet answered through run(): open, waiting, or answered
    // and not yet collected.
    int in_flight() const { return handed_ + static_cast<int>(refused_.size()); }
    // Of those, the ones open at this moment (read from the transport thread).
    int open() const;

    // Wait up to timeout_ms for an answer (returning at the first), then hand every answer
    // there is to done.
    void run(int timeout_ms, const std::function<void(uint64_t, Response &&)> &done);

private:
    struct Shared;
    void transport();  // the thread's loop

    void *multi_;  // CURLM: driven by the transport thread only (made and cleaned up here)
    std::unique_ptr<Shared> shared_;
    int handed_ = 0;
    std::vector<std::unique_ptr<Transfer>> idle_;  // finished transfers, reused with their easy handles
    std::vector<std::pair<uint64_t, Response>> refused_;  // answered by the next run()
};

// One request, blocking up to request.timeout_ms.
Response perform(const Request &request);

}  // namespace sms_otp::http
