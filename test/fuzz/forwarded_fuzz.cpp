// X-Forwarded-For and request.headers. Input: the hop count on the first line (sms_otp.trusted_proxies),
// then the header's value, which is also tried as a whole request.headers object.
#include "identity/forwarded.h"
#include "support/check.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <string>

namespace {

using namespace sms_otp::identity;

void check_address(const std::string &ip) {
    FUZZ_CHECK(!ip.empty() && ip.size() < INET6_ADDRSTRLEN, "address length");
    FUZZ_CHECK(ip.find_first_of(" ,\t\r\n") == std::string::npos, "separator inside an address");
    unsigned char buf[sizeof(struct in6_addr)];
    FUZZ_CHECK(inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1,
               "address does not parse again");
    FUZZ_CHECK(is_ip_text(ip), "is_ip_text disagrees with inet_pton");
}

void header_value(std::string_view header, int hops) {
    auto ip = forwarded_entry(header, hops);
    if (hops < 1) FUZZ_CHECK(!ip, "an address with no trusted proxy");
    if (!ip) return;
    check_address(*ip);
    // Only the right-hand end is read.
    size_t keep = kBytesPerHop * static_cast<size_t>(hops);
    std::string_view tail = header.size() > keep ? header.substr(header.size() - keep) : header;
    FUZZ_CHECK(tail.find(*ip) != std::string_view::npos, "address not taken from the right-hand end");
    // One more proxy appending its hop, counted as one more trusted hop, leaves the client as it
    // was, as long as more entries were seen than hops (else the left-most seen one counts).
    size_t entries = 1;
    for (char c : tail) entries += c == ',';
    if (entries > static_cast<size_t>(hops)) {
        auto again = forwarded_entry(std::string(header) + ", 10.0.0.1", hops + 1);
        FUZZ_CHECK(again == ip, "another trusted hop changed the client");
    }
}

void headers_object(std::string_view headers, int hops) {
    auto ip = forwarded_client(headers, hops);
    if (!ip) return;
    FUZZ_CHECK(hops >= 1 && headers.size() <= kMaxHeadersBytes, "address past a cap or with no trusted proxy");
    check_address(*ip);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size), line, rest;
    fuzz::split_first_line(in, line, rest);
    int hops = fuzz::small_int(line, 1);
    if (hops > 64) hops = 64;  // the setting allows 16
    fuzz::no_throw("forwarded_entry", [&] { header_value(rest, hops); });
    fuzz::no_throw("forwarded_client", [&] { headers_object(rest, hops); });
    return 0;
}
