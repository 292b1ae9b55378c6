#include "http/destination.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <new>

namespace sms_otp::http {

namespace {

// ASCII only: <cctype> follows the server's locale.
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string normalize(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    std::string out;
    out.reserve(host.size());
    for (char c : host) out += lower(c);
    return out;
}

bool in(uint32_t address, uint32_t network, int prefix) {
    uint32_t mask = prefix == 0 ? 0 : ~uint32_t(0) << (32 - prefix);
    return (address & mask) == network;
}

struct UrlFree {
    void operator()(CURLU *u) const { curl_url_cleanup(u); }
};

std::string url_part(CURLU *u, CURLUPart part) {
    char *value = nullptr;
    if (curl_url_get(u, part, &value, 0) != CURLUE_OK || !value) return "";
    std::string out(value);
    curl_free(value);
    return out;
}

}  // namespace

std::vector<std::string> parse_hosts(std::string_view list) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < list.size()) {
        size_t j = list.find_first_of(", \t\r\n", i);
        if (j == std::string_view::npos) j = list.size();
        if (j > i) out.push_back(normalize(list.substr(i, j - i)));
        i = j + 1;
    }
    return out;
}

bool host_allowed(const std::vector<std::string> &allowed, std::string_view host) {
    std::string h = normalize(host);
    if (h.empty()) return false;
    for (const auto &a : allowed)
        if (a == h) return true;
    return false;
}

bool is_internal_v4(uint32_t a) {
    return in(a, 0x00000000, 8)       // 0.0.0.0/8: "this network", unspecified
           || in(a, 0x0A000000, 8)    // 10/8
           || in(a, 0x64400000, 10)   // 100.64/10: carrier-grade NAT
           || in(a, 0x7F000000, 8)    // 127/8: loopback
           || in(a, 0xA9FE0000, 16)   // 169.254/16: link-local, cloud metadata
           || in(a, 0xAC100000, 12)   // 172.16/12
           || in(a, 0xC0000000, 24)   // 192.0.0/24: IETF protocol assignments
           || in(a, 0xC0A80000, 16)   // 192.168/16
           || in(a, 0xC6120000, 15)   // 198.18/15: benchmarking
           || in(a, 0xE0000000, 4)    // 224/4: multicast
           || in(a, 0xF0000000, 4);   // 240/4: reserved, and the broadcast address
}

bool is_internal_v6(const unsigned char a[16]) {
    static const unsigned char zero[16] = {};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
    // IPv4 inside IPv6: what counts is the IPv4 address (::ffff:127.0.0.1 is loopback).
    if (std::memcmp(a, mapped, 12) == 0 || std::memcmp(a, nat64, 12) == 0) {
        uint32_t v4 = uint32_t(a[12]) << 24 | uint32_t(a[13]) << 16 | uint32_t(a[14]) << 8 | a[15];
        return is_internal_v4(v4);
    }
    // ::/96 holds the unspecified address, loopback (::1) and the deprecated IPv4-compatible ones.
    if (std::memcmp(a, zero, 12) == 0) return true;
    if (a[0] == 0xFF) return true;                                 // ff00::/8 multicast
    if ((a[0] & 0xFE) == 0xFC) return true;                        // fc00::/7 unique-local
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) return true;        // fe80::/10 link-local
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) return true;        // fec0::/10 site-local (deprecated)
    return false;
}

bool is_internal(const struct sockaddr *address, size_t length) {
    if (!address) return true;
    if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
        const auto *in4 = reinterpret_cast<const sockaddr_in *>(address);
        return is_internal_v4(ntohl(in4->sin_addr.s_addr));
    }
    if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
        const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(address);
        return is_internal_v6(in6->sin6_addr.s6_addr);
    }
    return true;  // AF_UNIX and anything else: never a provider
}

bool is_internal_address(const std::string &text) {
    std::string t = normalize(text);
    in_addr v4;
    if (inet_pton(AF_INET, t.c_str(), &v4) == 1) return is_internal_v4(ntohl(v4.s_addr));
    in6_addr v6;
    if (inet_pton(AF_INET6, t.c_str(), &v6) == 1) return is_internal_v6(v6.s6_addr);
    return false;
}

Destination check_destination(const std::string &url, const std::vector<std::string> &allowed) {
    Destination d;
    std::unique_ptr<CURLU, UrlFree> u(curl_url());
    if (!u) throw std::bad_alloc();
    // The same parser libcurl uses for the transfer, so both read the same host.
    if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
        d.refusal = "destination not allowed: unreadable URL";
        return d;
    }
    d.scheme = normalize(url_part(u.get(), CURLUPART_SCHEME));
    d.host = url_part(u.get(), CURLUPART_HOST);
    d.host_allowed = host_allowed(allowed, d.host);
    if (d.scheme == "https") return d;
    if (d.scheme == "http" && d.host_allowed) return d;
    d.refusal = "destination not allowed: " + (d.scheme.size() <= 16 ? d.scheme : d.scheme.substr(0, 16));
    return d;
}

}  // namespace sms_otp::http
