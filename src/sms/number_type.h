// The kind of line an E.164 number belongs to (mobile, premium rate, pager, ...), from
// libphonenumber's metadata, for the SMS-pumping guard: premium-rate and shared-cost numbers
// are where toll fraud pays. Plain C++ without PostgreSQL, so the unit tests link it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sms_otp::sms {

// The type's name in lower case: fixed_line, mobile, fixed_line_or_mobile, toll_free,
// premium_rate, shared_cost, voip, personal_number, pager, uan, voicemail, or unknown (a number
// libphonenumber parses but matches no range of). Nothing for anything that is not '+' and
// digits within kMaxE164Bytes (src/sms/zones.h), or that does not parse.
std::optional<std::string> number_type(std::string_view e164);

// True for a name number_type() can return: what sms_otp.guard_number_types may list.
bool is_number_type_name(std::string_view name);

}  // namespace sms_otp::sms
