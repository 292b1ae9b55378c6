// otp/hmac.h over OpenSSL. The server's otp/hmac.cpp uses PostgreSQL's common library, which
// the unit tests and fuzz binaries do not link; the webhook adapter needs these symbols.
#include "otp/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace sms_otp::otp {

std::string hmac_sha256(std::string_view key, std::string_view message) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char *>(message.data()),
         message.size(), mac, &len);
    return std::string(reinterpret_cast<char *>(mac), len);
}

bool constant_time_equal(const void *a, std::size_t a_len, const void *b, std::size_t b_len) {
    return a_len == b_len && CRYPTO_memcmp(a, b, a_len) == 0;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(n);
    return out;
}

bool base64_decode(std::string_view text, std::string &out) {
    if (text.size() % 4 != 0) return false;
    out.assign(3 * text.size() / 4 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return false;
    size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad++;
    if (text.size() > 1 && text[text.size() - 2] == '=') pad++;
    out.resize(n - pad);
    return true;
}

}  // namespace sms_otp::otp
