// Where provider requests may go. A provider row is data an administrator (or whoever can
// write it) controls, so its URL could aim the worker at the database host itself or at the
// cloud's metadata service: only https to public addresses is allowed, unless the host is on
// sms_otp.http_allowed_hosts (a local mock, a gateway on the private network).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct sockaddr;

namespace sms_otp::http {

// The names or addresses of a list separated by commas or white space: lower-cased, IPv6
// brackets removed, empty entries dropped.
std::vector<std::string> parse_hosts(std::string_view list);

// host as a URL has it ("Example.com", "[::1]") is on a list made by parse_hosts().
bool host_allowed(const std::vector<std::string> &allowed, std::string_view host);

// Addresses no provider lives at: unspecified, loopback, private (RFC 1918), shared (RFC 6598),
// link-local, unique-local, multicast, reserved, and IPv4 ones inside IPv6 (::ffff:0:0/96,
// 64:ff9b::/96). Unknown address families count as internal.
bool is_internal_v4(uint32_t address);  // host byte order
bool is_internal_v6(const unsigned char address[16]);
bool is_internal(const struct sockaddr *address, size_t length);
// The same for an address in text ("10.0.0.1", "::ffff:127.0.0.1"); false for what is no address.
bool is_internal_address(const std::string &text);

// The scheme and host of url, and whether they may be asked at all.
struct Destination {
    std::string scheme;        // lower case
    std::string host;          // as the URL has it, IPv6 in brackets
    bool host_allowed = false; // on the allow-list: http and internal addresses are fine
    std::string refusal;       // why the URL may not be requested; empty when it may
};
Destination check_destination(const std::string &url, const std::vector<std::string> &allowed);

}  // namespace sms_otp::http
