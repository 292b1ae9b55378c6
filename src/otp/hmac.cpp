#include "otp/hmac.h"

#include "pg/guard.h"

extern "C" {
#include "utils/resowner.h"
#include "common/base64.h"
#include "common/hmac.h"
#include "common/sha2.h"
}

#include <memory>

namespace sms_otp::otp {

namespace {
struct HmacFree {
    void operator()(pg_hmac_ctx *ctx) const { pg_hmac_free(ctx); }
};
}  // namespace

// The server's HMAC (OpenSSL) registers its context with the current resource owner. The
// worker signs requests between transactions, where there is none: lend it one of its own.
class OwnerScope {
public:
    OwnerScope() : saved_(CurrentResourceOwner) {
        if (!saved_) {
            static ResourceOwner idle = nullptr;
            if (!idle) idle = pg::pg_call([] { return ResourceOwnerCreate(nullptr, "sms_otp hmac"); });
            CurrentResourceOwner = idle;
        }
    }
    ~OwnerScope() { CurrentResourceOwner = saved_; }

private:
    ResourceOwner saved_;
};

std::string hmac_sha256(std::string_view key, std::string_view message) {
    OwnerScope owner;
    std::unique_ptr<pg_hmac_ctx, HmacFree> ctx(pg::pg_call([] { return pg_hmac_create(PG_SHA256); }));
    if (!ctx) throw std::bad_alloc();
    std::string mac(PG_SHA256_DIGEST_LENGTH, '\0');
    if (pg_hmac_init(ctx.get(), reinterpret_cast<const uint8 *>(key.data()), key.size()) < 0 ||
        pg_hmac_update(ctx.get(), reinterpret_cast<const uint8 *>(message.data()), message.size()) < 0 ||
        pg_hmac_final(ctx.get(), reinterpret_cast<uint8 *>(mac.data()), mac.size()) < 0)
        throw pg::Error(ERRCODE_INTERNAL_ERROR, std::string("HMAC failed: ") + pg_hmac_error(ctx.get()));
    return mac;
}

bool constant_time_equal(const void *a, std::size_t a_len, const void *b, std::size_t b_len) {
    if (a_len != b_len) return false;
    const volatile unsigned char *x = static_cast<const unsigned char *>(a);
    const volatile unsigned char *y = static_cast<const unsigned char *>(b);
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a_len; i++) diff |= x[i] ^ y[i];
    return diff == 0;
}

std::string base64_encode(std::string_view bytes) {
    std::string out(pg_b64_enc_len(static_cast<int>(bytes.size())), '\0');
    int n = pg_b64_encode(bytes.data(), static_cast<int>(bytes.size()), out.data(), static_cast<int>(out.size()));
    if (n < 0) throw pg::Error(ERRCODE_INTERNAL_ERROR, "base64 encoding failed");
    out.resize(n);
    return out;
}

bool base64_decode(std::string_view text, std::string &out) {
    out.assign(pg_b64_dec_len(static_cast<int>(text.size())), '\0');
    int n = pg_b64_decode(text.data(), static_cast<int>(text.size()), out.data(), static_cast<int>(out.size()));
    if (n < 0) return false;
    out.resize(n);
    return true;
}

}  // namespace sms_otp::otp
