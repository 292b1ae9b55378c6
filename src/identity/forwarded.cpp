#include "identity/forwarded.h"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <vector>

namespace sms_otp::identity {

namespace {
std::string_view trim_spaces(std::string_view s) {
    size_t b = s.find_first_not_of(' ');
    if (b == std::string_view::npos) return {};
    size_t e = s.find_last_not_of(' ');
    return s.substr(b, e - b + 1);
}
}  // namespace

bool is_ip_text(std::string_view s) {
    if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
    std::string text(s);  // inet_pton reads a C string: a NUL inside s must not end it early
    if (text.find('\0') != std::string::npos) return false;
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::optional<std::string> forwarded_entry(std::string_view header, int hops) {
    if (hops < 1) return std::nullopt;
    size_t keep = kBytesPerHop * static_cast<size_t>(hops);
    if (header.size() > keep) header = header.substr(header.size() - keep);
    std::vector<std::string_view> entries;
    for (size_t start = 0;;) {
        size_t comma = header.find(',', start);
        entries.push_back(header.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    size_t index = entries.size() > static_cast<size_t>(hops) ? entries.size() - hops : 0;
    std::string_view picked = trim_spaces(entries[index]);
    if (!is_ip_text(picked)) return std::nullopt;
    return std::string(picked);
}

std::optional<std::string> forwarded_client(std::optional<std::string_view> headers, int hops) {
    if (hops < 1 || !headers || headers->empty() || headers->size() > kMaxHeadersBytes) return std::nullopt;
    nlohmann::json doc = nlohmann::json::parse(headers->begin(), headers->end(), nullptr, false);
    if (!doc.is_object()) return std::nullopt;
    auto it = doc.find("x-forwarded-for");
    if (it == doc.end() || !it->is_string()) return std::nullopt;
    return forwarded_entry(it->get_ref<const std::string &>(), hops);
}

}  // namespace sms_otp::identity
