// The client address as X-Forwarded-For tells it, counted from the right past the trusted
// proxies (the left-hand entries are written by the client and can be forged). Plain C++
// without PostgreSQL, so the unit tests and the fuzzers link it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::identity {

// request.headers longer than this is not parsed, and the connection's address stands.
inline constexpr std::size_t kMaxHeadersBytes = 64 * 1024;
// Bytes of X-Forwarded-For read per trusted hop, from its right-hand end.
inline constexpr std::size_t kBytesPerHop = 64;

// The address in the x-forwarded-for member of request.headers (a JSON object, as PostgREST
// sets it) past `hops` proxies. Nothing when hops < 1, the headers are absent, longer than
// kMaxHeadersBytes or not a JSON object, the member is not a string, or the entry found is
// not an IPv4 or IPv6 address.
std::optional<std::string> forwarded_client(std::optional<std::string_view> headers, int hops);

// The same for the header's value itself. Only its last kBytesPerHop * hops bytes are read, so
// padding on the left cannot push the proxies' entries out of view; with fewer entries than
// hops, the left-most one read counts.
std::optional<std::string> forwarded_entry(std::string_view header, int hops);

// An IPv4 address in dotted-quad form or an IPv6 address (no zone, no port, no brackets).
bool is_ip_text(std::string_view s);

}  // namespace sms_otp::identity
