// The public URL a provider called, in its parts: schemes sign the whole URL (Twilio,
// MessageBird), rebuild it from its parts (Plivo) or read parameters from its query.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::callbacks {

inline constexpr std::size_t kMaxUrlBytes = 8 * 1024;

struct Url {
    std::string_view scheme;     // as written ("https")
    std::string_view authority;  // host[:port], as written
    std::string_view host;       // authority without the port
    std::string_view port;       // digits, or empty
    std::string_view path;       // from the first '/' (may be empty)
    std::string_view query;      // after '?', without it
    bool has_query = false;      // a '?' was there, even with nothing after it
};

// scheme://authority[/path][?query] of at most kMaxUrlBytes visible ASCII characters, without
// a fragment or user info. Nothing for anything else. The parts point into `url`.
std::optional<Url> split_url(std::string_view url);

// 443 for https, 80 for http (any case), empty for other schemes.
std::string_view default_port(std::string_view scheme);

// The same URL with the scheme's default port written out, or without it when it is written:
// one string HTTP clients and providers may use for the other. Nothing when there is no such
// twin (another scheme, or a port that is not the default).
std::optional<std::string> default_port_twin(const Url &url);

}  // namespace sms_otp::callbacks
