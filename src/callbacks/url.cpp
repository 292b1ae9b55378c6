#include "callbacks/url.h"

namespace sms_otp::callbacks {

namespace {

bool ascii_iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
        if (x != b[i]) return false;
    }
    return true;
}

bool scheme_char(char c, bool first) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return first ? alpha : alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

}  // namespace

std::optional<Url> split_url(std::string_view url) {
    if (url.empty() || url.size() > kMaxUrlBytes) return std::nullopt;
    for (char c : url) {
        unsigned char b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b >= 0x7f || c == '#') return std::nullopt;
    }

    Url u;
    size_t sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) return std::nullopt;
    for (size_t i = 0; i < sep; i++)
        if (!scheme_char(url[i], i == 0)) return std::nullopt;
    u.scheme = url.substr(0, sep);

    size_t start = sep + 3;
    size_t end = url.find_first_of("/?", start);
    if (end == std::string_view::npos) end = url.size();
    u.authority = url.substr(start, end - start);
    if (u.authority.empty() || u.authority.find('@') != std::string_view::npos) return std::nullopt;

    // The port follows the last ':' unless that colon is inside an IPv6 literal ("[::1]:8443").
    size_t colon = u.authority.rfind(':');
    size_t bracket = u.authority.rfind(']');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        u.host = u.authority.substr(0, colon);
        u.port = u.authority.substr(colon + 1);
        if (u.port.empty() || u.port.size() > 5) return std::nullopt;
        for (char c : u.port)
            if (c < '0' || c > '9') return std::nullopt;
    } else {
        u.host = u.authority;
    }
    if (u.host.empty()) return std::nullopt;

    size_t q = url.find('?', end);
    u.path = url.substr(end, (q == std::string_view::npos ? url.size() : q) - end);
    if (q != std::string_view::npos) {
        u.has_query = true;
        u.query = url.substr(q + 1);
    }
    return u;
}

std::string_view default_port(std::string_view scheme) {
    if (ascii_iequal(scheme, "https")) return "443";
    if (ascii_iequal(scheme, "http")) return "80";
    return {};
}

std::optional<std::string> default_port_twin(const Url &url) {
    std::string_view port = default_port(url.scheme);
    if (port.empty()) return std::nullopt;
    std::string out(url.scheme);
    out += "://";
    out += url.host;
    if (url.port.empty()) {
        out += ':';
        out += port;
    } else if (url.port != port) {
        return std::nullopt;
    }
    out += url.path;
    if (url.has_query) {
        out += '?';
        out += url.query;
    }
    return out;
}

}  // namespace sms_otp::callbacks
