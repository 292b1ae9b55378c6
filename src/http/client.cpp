#include "http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <strings.h>

namespace sms_otp::http {

namespace {

struct SlistFree {
    void operator()(curl_slist *l) const { curl_slist_free_all(l); }
};

size_t on_body(char *data, size_t size, size_t n, void *user) {
    static_cast<std::string *>(user)->append(data, size * n);
    return size * n;
}

size_t on_header(char *data, size_t size, size_t n, void *user) {
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        std::string value(data + sizeof(name) - 1, len - (sizeof(name) - 1));
        auto first = value.find_first_not_of(" \t");
        auto last = value.find_last_not_of(" \t\r\n");
        *static_cast<std::string *>(user) = first == std::string::npos ? "" : value.substr(first, last - first + 1);
    }
    return len;
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
struct Multi::Transfer {
    CURL *easy = curl_easy_init();
    std::unique_ptr<curl_slist, SlistFree> headers;
    Request request;
    Response response;
    uint64_t tag = 0;

    Transfer() {
        if (!easy) throw std::bad_alloc();
    }
    ~Transfer() { curl_easy_cleanup(easy); }

    void prepare(const Request &r, uint64_t t) {
        request = r;
        tag = t;
        response = Response{};
        curl_easy_reset(easy);
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
        list = curl_slist_append(list, "Expect:");
        headers.reset(list);
        curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
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
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "sms_otp/1.0");
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, &response.retry_after);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
    }

    void finish(CURLcode code) {
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        double seconds = 0;
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &seconds);
        response.elapsed_ms = seconds * 1000.0;
        if (code == CURLE_OK) {
            response.status = status;
        } else {
            response.status = 0;
            response.timed_out = code == CURLE_OPERATION_TIMEDOUT;
            response.error = curl_easy_strerror(code);
        }
        // A provider's error body can be large; nothing downstream needs more than this.
        if (response.body.size() > 65536) response.body.resize(65536);
    }
};

Multi::Multi() : multi_((global_init(), curl_multi_init())) {
    if (!multi_) throw std::bad_alloc();
}

Multi::~Multi() {
    for (Transfer *t : active_) {
        curl_multi_remove_handle(static_cast<CURLM *>(multi_), t->easy);
        delete t;
    }
    idle_.clear();
    curl_multi_cleanup(static_cast<CURLM *>(multi_));
}

void Multi::set_max_host_connections(long n) {
    curl_multi_setopt(static_cast<CURLM *>(multi_), CURLMOPT_MAX_HOST_CONNECTIONS, n);
    curl_multi_setopt(static_cast<CURLM *>(multi_), CURLMOPT_MAXCONNECTS, n);
}

void Multi::add(const Request &request, uint64_t tag) {
    std::unique_ptr<Transfer> t;
    if (idle_.empty()) {
        t = std::make_unique<Transfer>();
    } else {
        t = std::move(idle_.back());
        idle_.pop_back();
    }
    t->prepare(request, tag);
    if (curl_multi_add_handle(static_cast<CURLM *>(multi_), t->easy) != CURLM_OK) throw std::runtime_error("curl_multi_add_handle failed");
    active_.push_back(t.release());
    running_ = static_cast<int>(active_.size());
}

void Multi::run(int timeout_ms, const std::function<void(uint64_t, Response &&)> &done) {
    int still = 0;
    curl_multi_perform(static_cast<CURLM *>(multi_), &still);
    if (still > 0 && timeout_ms > 0) {
        curl_multi_poll(static_cast<CURLM *>(multi_), nullptr, 0, timeout_ms, nullptr);
        curl_multi_perform(static_cast<CURLM *>(multi_), &still);
    }
    int left = 0;
    while (CURLMsg *msg = curl_multi_info_read(static_cast<CURLM *>(multi_), &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        char *priv = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        Transfer *t = reinterpret_cast<Transfer *>(priv);
        CURLcode code = msg->data.result;
        curl_multi_remove_handle(static_cast<CURLM *>(multi_), t->easy);
        active_.erase(std::find(active_.begin(), active_.end(), t));
        std::unique_ptr<Transfer> owned(t);
        owned->finish(code);
        running_ = static_cast<int>(active_.size());
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
    t.prepare(request, 0);
    t.finish(curl_easy_perform(t.easy));
    return std::move(t.response);
}

}  // namespace sms_otp::http
