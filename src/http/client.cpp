#include "http/client.h"

#include "http/destination.h"

#include <curl/curl.h>

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <stdexcept>
#include <strings.h>

namespace sms_otp::http {

namespace {

constexpr size_t kMaxRetryAfter = 64;  // longer values are no delay anyone means: ignored

// Return values that make libcurl abort the transfer from inside a callback.
#ifdef CURL_WRITEFUNC_ERROR
constexpr size_t kAbort = CURL_WRITEFUNC_ERROR;
#else
constexpr size_t kAbort = 0;
#endif

struct SlistFree {
    void operator()(curl_slist *l) const { curl_slist_free_all(l); }
};

struct UrlFree {
    void operator()(CURLU *u) const { curl_url_cleanup(u); }
};

// Bytes that would end a header line or the string early: a value carrying them could forge
// headers of its own.
bool has_control(const std::string &s) {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7F) return true;
    return false;
}

}  // namespace

void global_init() {
    static bool done = false;
    if (!done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
        done = true;
    }
}

// One easy handle with everything a request needs to outlive the call that started it.
// libcurl calls back into it with plain C frames in between: every callback catches all.
struct Multi::Transfer {
    CURL *easy = curl_easy_init();
    std::unique_ptr<curl_slist, SlistFree> headers;
    std::unique_ptr<CURLU, UrlFree> url;
    Request request;
    Response response;
    uint64_t tag = 0;
    bool host_allowed = false;  // may connect to internal addresses
    size_t header_bytes = 0;
    std::string refusal;        // set by a callback that stopped the transfer
    bool held = false;          // request.before_send said no
    bool other = false;         // Multi::add()'s `other`

    Transfer() {
        if (!easy) throw std::bad_alloc();
    }
    ~Transfer() { curl_easy_cleanup(easy); }

    static size_t on_body(char *data, size_t size, size_t n, void *user) {
        auto *t = static_cast<Transfer *>(user);
        size_t len = size * n;
        try {
            if (len > t->request.max_body_bytes - std::min(t->response.body.size(), t->request.max_body_bytes)) {
                t->refusal = "answer too large: more than " + std::to_string(t->request.max_body_bytes) + " bytes";
                return kAbort;
            }
            t->response.body.append(data, len);
            return len;
        } catch (...) {
            return kAbort;
        }
    }

    static size_t on_header(char *data, size_t size, size_t n, void *user) {
        auto *t = static_cast<Transfer *>(user);
        size_t len = size * n;
        try {
            t->header_bytes += len;
            if (t->header_bytes > t->request.max_header_bytes) {
                t->refusal = "answer too large: headers of more than " + std::to_string(t->request.max_header_bytes) +
                             " bytes";
                return kAbort;
            }
            // A new status line (after a 100 Continue, say): headers of the one before do not count.
            if (len >= 5 && std::memcmp(data, "HTTP/", 5) == 0) t->response.retry_after.clear();
            static const char name[] = "retry-after:";
            constexpr size_t name_len = sizeof(name) - 1;
            if (len > name_len && strncasecmp(data, name, name_len) == 0) {
                std::string_view value(data + name_len, len - name_len);
                size_t first = value.find_first_not_of(" \t");
                size_t last = value.find_last_not_of(" \t\r\n");
                value = first == std::string_view::npos ? std::string_view() : value.substr(first, last - first + 1);
                t->response.retry_after = value.size() <= kMaxRetryAfter ? std::string(value) : std::string();
            }
            return len;
        } catch (...) {
            return kAbort;
        }
    }

    // Runs when libcurl is about to connect, with the address the name resolved to: checking
    // here, not at the name, is what stops a host whose DNS answer changes (rebinding).
    static curl_socket_t on_open(void *user, curlsocktype, struct curl_sockaddr *address) {
        auto *t = static_cast<Transfer *>(user);
        try {
            if (!t->host_allowed && is_internal(&address->addr, address->addrlen)) {
                if (t->refusal.empty()) t->refusal = "destination not allowed: internal address";
                return CURL_SOCKET_BAD;
            }
            return socket(address->family, address->socktype, address->protocol);
        } catch (...) {
            return CURL_SOCKET_BAD;
        }
    }

    static int on_prereq(void *user, char *, char *, int, int) {
        auto *t = static_cast<Transfer *>(user);
        try {
            if (t->request.before_send()) return CURL_PREREQFUNC_OK;
        } catch (...) {
        }
        t->held = true;
        return CURL_PREREQFUNC_ABORT;
    }

    // Sets the transfer up, or says why it may not be made at all.
    std::string prepare(const Request &r, uint64_t t) {
        request = r;
        tag = t;
        response = Response{};
        header_bytes = 0;
        refusal.clear();
        held = false;
        curl_easy_reset(easy);

        Destination d = check_destination(request.url, request.allowed_hosts);
        if (!d.refusal.empty()) return d.refusal;
        host_allowed = d.host_allowed;
        if (has_control(request.basic_user) || has_control(request.basic_password) ||
            std::any_of(request.headers.begin(), request.headers.end(), has_control))
            return "credentials contain control characters";

        url.reset(curl_url());
        if (!url) throw std::bad_alloc();
        if (curl_url_set(url.get(), CURLUPART_URL, request.url.c_str(), 0) != CURLUE_OK)
            return "destination not allowed: unreadable URL";

        curl_slist *list = nullptr;
        for (const auto &h : request.headers) {
            curl_slist *next = curl_slist_append(list, h.c_str());
            if (!next) {
                curl_slist_free_all(list);
                throw std::bad_alloc();
            }
            list = next;
        }
        // An empty Expect stops curl from waiting for "100 Continue" on larger bodies.
        curl_slist *next = curl_slist_append(list, "Expect:");
        if (!next) {
            curl_slist_free_all(list);
            throw std::bad_alloc();
        }
        headers.reset(next);
        curl_easy_setopt(easy, CURLOPT_CURLU, url.get());
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        if (request.method == "POST" || !request.body.empty()) {
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
        }
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
        if (!request.basic_user.empty()) {
            curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(easy, CURLOPT_USERNAME, request.basic_user.c_str());
            curl_easy_setopt(easy, CURLOPT_PASSWORD, request.basic_password.c_str());
        }
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, request.timeout_ms);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, std::min(request.timeout_ms, 5000L));
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        // No redirects: a provider that answers 3xx has a wrong base_url, and following one
        // would take the request (and its credentials) somewhere nobody checked.
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 0L);
        const char *protocols = host_allowed ? "http,https" : "https";
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocols);
        curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
        curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
        curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
        // A declared length over the cap fails before the first byte of the body.
        curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_body_bytes));
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "sms_otp/1.1");
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
        if (request.before_send) {
            curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
            curl_easy_setopt(easy, CURLOPT_PREREQDATA, this);
        }
        return "";
    }

    // The answer of a transfer that was never started.
    void refuse(const std::string &why) {
        response = Response{};
        response.refused = true;
        response.error = why;
    }

    void finish(CURLcode code) {
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        double seconds = 0;
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &seconds);
        response.elapsed_ms = seconds * 1000.0;
        if (code == CURLE_OK) {
            response.status = status;
            return;
        }
        response.status = 0;
        response.body.clear();
        if (held) {
            response.held_back = true;
            response.error = "held back before sending";
            return;
        }
        response.timed_out = code == CURLE_OPERATION_TIMEDOUT;
        if (code == CURLE_FILESIZE_EXCEEDED && refusal.empty())
            refusal = "answer too large: more than " + std::to_string(request.max_body_bytes) + " bytes";
        if (!refusal.empty()) {
            response.refused = true;
            response.error = refusal;
        } else {
            response.error = curl_easy_strerror(code);
        }
    }
};

// What the caller's thread and the transport thread hand each other, under one mutex.
struct Multi::Shared {
    std::mutex mutex;
    std::condition_variable answered;       // finished got something
    std::deque<Transfer *> waiting, waiting_others;  // handed over, not yet open
    std::vector<Transfer *> finished;       // answered, not yet collected by run()
    int limit = 0, others_limit = 0, sent_bound = 0;  // set_open_limits()
    int unwritten = 0;                      // set_unwritten(), and answers run() handed back since
    long host_connections = 0;              // set_max_host_connections(), 0: unchanged
    bool stop = false;
    std::atomic<int> open{0};
    std::thread thread;
    int wake_fd = -1;   // an eventfd the transport waits on with its sockets
    int epoll_fd = -1;  // the transport's sockets and wake_fd

    void wake() const {
        uint64_t one = 1;
        ssize_t n = write(wake_fd, &one, sizeof one);
        (void)n;  // a full counter already wakes the thread
    }
    ~Shared() {
        if (wake_fd >= 0) close(wake_fd);
        if (epoll_fd >= 0) close(epoll_fd);
    }
};

namespace {

void free_all(std::deque<Multi::Transfer *> &list) {
    for (auto *t : list) delete t;
    list.clear();
}

}  // namespace

Multi::Multi() : multi_((global_init(), curl_multi_init())), shared_(std::make_unique<Shared>()) {
    if (!multi_) throw std::bad_alloc();
    // Both descriptors are made here, where a failure can still be thrown to the caller, not on
    // the thread (the Shared destructor closes whichever was made).
    shared_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    shared_->epoll_fd = shared_->wake_fd < 0 ? -1 : epoll_create1(EPOLL_CLOEXEC);
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.fd = shared_->wake_fd;
    if (shared_->epoll_fd < 0 || epoll_ctl(shared_->epoll_fd, EPOLL_CTL_ADD, shared_->wake_fd, &wake) != 0) {
        curl_multi_cleanup(static_cast<CURLM *>(multi_));
        throw std::runtime_error(shared_->wake_fd < 0 ? "eventfd failed" : "epoll failed");
    }
    // The thread inherits the signal mask it is created with: with every signal blocked, the
    // process's handlers (PostgreSQL's, in a worker) always run on the caller's thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        shared_->thread = std::thread([this] { transport(); });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        curl_multi_cleanup(static_cast<CURLM *>(multi_));
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Multi::stop() {
    {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        shared_->stop = true;
    }
    shared_->wake();
    if (shared_->thread.joinable()) shared_->thread.join();
}

Multi::~Multi() {
    stop();
    free_all(shared_->waiting);
    free_all(shared_->waiting_others);
    for (auto *t : shared_->finished) delete t;
    idle_.clear();
    curl_multi_cleanup(static_cast<CURLM *>(multi_));
}

void Multi::set_max_host_connections(long n) {
    {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        shared_->host_connections = n;
    }
    shared_->wake();
}

void Multi::set_open_limits(int total, int others, int sent_bound) {
    {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        shared_->limit = total;
        shared_->others_limit = others;
        shared_->sent_bound = sent_bound;
    }
    shared_->wake();
}

void Multi::set_unwritten(int n) {
    bool fewer;
    {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        fewer = n < shared_->unwritten;
        shared_->unwritten = n;
    }
    if (fewer) shared_->wake();  // room to open more
}

int Multi::open() const { return shared_->open.load(std::memory_order_relaxed); }

void Multi::add(const Request &request, uint64_t tag, bool other) {
    std::unique_ptr<Transfer> t;
    if (idle_.empty()) {
        t = std::make_unique<Transfer>();
    } else {
        t = std::move(idle_.back());
        idle_.pop_back();
    }
    std::string refusal = t->prepare(request, tag);
    if (!refusal.empty()) {
        // Never started: answered at the next run(), like any other transfer.
        t->refuse(refusal);
        refused_.emplace_back(tag, std::move(t->response));
        t->request = Request{};
        idle_.push_back(std::move(t));
        return;
    }
    t->other = other;
    {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        (other ? shared_->waiting_others : shared_->waiting).push_back(t.get());
    }
    t.release();
    handed_++;
    shared_->wake();
}

namespace {

// The transport's sockets and libcurl's timer, on epoll: libcurl says which sockets to watch
// for what, and acts only on the ones that are ready (curl_multi_socket_action), so a round
// costs what happened in it, not the number of requests open.
struct Events {
    int epoll_fd = -1;
    long timeout_ms = -1;  // libcurl's timer; -1: none
    std::chrono::steady_clock::time_point deadline;

    static int on_socket(CURL *, curl_socket_t socket, int what, void *user, void *) {
        auto *e = static_cast<Events *>(user);
        if (what == CURL_POLL_REMOVE) {
            epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, socket, nullptr);
            return 0;
        }
        epoll_event ev{};
        ev.data.fd = socket;
        ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
        if (epoll_ctl(e->epoll_fd, EPOLL_CTL_MOD, socket, &ev) != 0 && errno == ENOENT)
            epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, socket, &ev);
        return 0;
    }

    static int on_timer(CURLM *, long timeout_ms, void *user) {
        auto *e = static_cast<Events *>(user);
        e->timeout_ms = timeout_ms;
        if (timeout_ms >= 0) e->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        return 0;
    }

    // How long to wait for a socket: until libcurl's timer, a second at most.
    int wait_ms() const {
        if (timeout_ms < 0) return 1000;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1000));
    }
    bool timer_due() const { return timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline; }
};

}  // namespace

// The transport thread: opens waiting requests while there is room, drives the handle, and
// hands each answer back the moment libcurl has it. Only libcurl and the standard library run
// here (the requests' before_send callbacks included).
void Multi::transport() {
    CURLM *multi = static_cast<CURLM *>(multi_);
    Shared &s = *shared_;
    Events events;
    events.epoll_fd = s.epoll_fd;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, Events::on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, &events);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, Events::on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, &events);
    std::vector<Transfer *> active;
    int others_open = 0;
    std::vector<Transfer *> done;
    epoll_event ready[64];
    int running = 0;
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(s.mutex);
            if (s.stop) break;
            if (s.host_connections > 0) {
                curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, s.host_connections);
                curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, s.host_connections);
                s.host_connections = 0;
            }
            auto room = [&] {
                int open = int(active.size());
                return (s.limit <= 0 || open < s.limit) &&
                       (s.sent_bound <= 0 || open + int(s.finished.size() + done.size()) + s.unwritten < s.sent_bound);
            };
            while (room()) {
                Transfer *t = nullptr;
                if (!s.waiting.empty()) {
                    t = s.waiting.front();
                    s.waiting.pop_front();
                } else if (!s.waiting_others.empty() && (s.others_limit <= 0 || others_open < s.others_limit)) {
                    t = s.waiting_others.front();
                    s.waiting_others.pop_front();
                } else {
                    break;
                }
                // Started by the timer libcurl sets for it (at once).
                if (curl_multi_add_handle(multi, t->easy) != CURLM_OK) {
                    t->refuse("the transport could not start the request");
                    done.push_back(t);
                    continue;
                }
                active.push_back(t);
                if (t->other) others_open++;
            }
            s.open.store(int(active.size()), std::memory_order_relaxed);
        }
        int n = epoll_wait(events.epoll_fd, ready, 64, done.empty() ? events.wait_ms() : 0);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == s.wake_fd) {
                uint64_t count;
                while (read(s.wake_fd, &count, sizeof count) > 0) {
                }
                continue;
            }
            uint32_t e = ready[i].events;
            int flags = ((e & EPOLLIN) ? CURL_CSELECT_IN : 0) | ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                        ((e & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(multi, fd, flags, &running);
        }
        if (events.timer_due()) {
            events.timeout_ms = -1;  // the action may set the next
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        int left = 0;
        while (CURLMsg *msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            char *priv = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            Transfer *t = reinterpret_cast<Transfer *>(priv);
            CURLcode code = msg->data.result;
            curl_multi_remove_handle(multi, t->easy);
            active.erase(std::find(active.begin(), active.end(), t));
            if (t->other) others_open--;
            t->finish(code);
            done.push_back(t);
        }
        if (!done.empty()) {
            {
                std::lock_guard<std::mutex> lock(s.mutex);
                s.finished.insert(s.finished.end(), done.begin(), done.end());
                s.open.store(int(active.size()), std::memory_order_relaxed);
            }
            s.answered.notify_one();
            done.clear();
        }
    }
    for (Transfer *t : active) {
        curl_multi_remove_handle(multi, t->easy);
        delete t;
    }
}

void Multi::run(int timeout_ms, const std::function<void(uint64_t, Response &&)> &done) {
    std::vector<std::pair<uint64_t, Response>> refused;
    refused.swap(refused_);
    for (auto &[tag, response] : refused) done(tag, std::move(response));
    if (!refused.empty()) timeout_ms = 0;

    std::vector<Transfer *> finished;
    {
        std::unique_lock<std::mutex> lock(shared_->mutex);
        if (shared_->finished.empty() && handed_ > 0 && timeout_ms > 0)
            shared_->answered.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                       [&] { return !shared_->finished.empty(); });
        finished.swap(shared_->finished);
        shared_->unwritten += int(finished.size());  // the caller's now, until set_unwritten()
    }
    for (Transfer *t : finished) {
        std::unique_ptr<Transfer> owned(t);
        handed_--;
        uint64_t tag = owned->tag;
        Response response = std::move(owned->response);
        owned->request = Request{};
        idle_.push_back(std::move(owned));
        done(tag, std::move(response));
    }
}

Response perform(const Request &request) {
    global_init();
    Multi::Transfer t;
    std::string refusal = t.prepare(request, 0);
    if (!refusal.empty())
        t.refuse(refusal);
    else
        t.finish(curl_easy_perform(t.easy));
    return std::move(t.response);
}

}  // namespace sms_otp::http
