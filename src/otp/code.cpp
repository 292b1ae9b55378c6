#include "otp/code.h"

#include "pg/guard.h"

#include <array>

namespace sms_otp::otp {

std::string generate_code(int digits) {
    std::string code;
    code.reserve(digits);
    std::array<unsigned char, 32> pool{};
    while (static_cast<int>(code.size()) < digits) {
        if (!pg_strong_random(pool.data(), pool.size()))
            throw pg::Error(ERRCODE_INTERNAL_ERROR, "could not generate random bytes");
        for (unsigned char b : pool) {
            // 250 is the largest multiple of 10 below 256: rejecting the rest keeps digits uniform.
            if (b < 250 && static_cast<int>(code.size()) < digits) code.push_back(static_cast<char>('0' + b % 10));
        }
    }
    return code;
}

}  // namespace sms_otp::otp
