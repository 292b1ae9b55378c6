// Text that came from outside (a provider's answer, libcurl's error) made fit for a text
// column before it joins the results of a round: one bad value must not fail the statement
// that writes every other message's result too.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sms_otp::worker {

constexpr size_t kMaxMessageId = 128;  // provider message ids are 30-40 bytes in practice
constexpr size_t kMaxError = 200;

// NUL and other control characters dropped (tab, CR and LF become a space), invalid UTF-8
// (overlong forms, surrogates, stray bytes) replaced by U+FFFD, at most max bytes, never
// cutting a character in two.
std::string outside_text(std::string_view text, size_t max);

}  // namespace sms_otp::worker
