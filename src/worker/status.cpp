// sms_otp.worker_status(): what the worker is doing, from shared memory.
#include "pg/guard.h"
#include "settings.h"
#include "worker/shared_state.h"

extern "C" {
#include "utils/jsonb.h"
}

#include <nlohmann/json.hpp>

namespace {

nlohmann::json timestamp(TimestampTz t) {
    if (t == 0) return nullptr;
    return std::string(sms_otp::pg::pg_call([&] { return pstrdup(timestamptz_to_str(t)); }));
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(sms_otp_worker_status);

Datum sms_otp_worker_status(PG_FUNCTION_ARGS) {
    using namespace sms_otp::worker;
    return sms_otp::pg::entry([&]() -> Datum {
        SharedState *s = shared();
        nlohmann::json out;
        if (!s) {
            out = {{"running", false}, {"preloaded", false}};
        } else {
            SharedState copy;
            SpinLockAcquire(&s->mutex);
            std::memcpy(static_cast<void *>(&copy), s, sizeof(copy));
            SpinLockRelease(&s->mutex);
            nlohmann::json providers = nlohmann::json::array();
            TimestampTz now = GetCurrentTimestamp();
            for (const auto &p : copy.providers) {
                if (!p.in_use) continue;
                bool backing_off = p.backoff_until > now;
                bool breaker_open = p.breaker_open_until > now;
                providers.push_back({{"name", p.name},
                                     {"available", !backing_off && !breaker_open},
                                     {"credentials_refused", p.unhealthy},
                                     {"backoff_until", backing_off ? timestamp(p.backoff_until) : nullptr},
                                     {"breaker_open_until", breaker_open ? timestamp(p.breaker_open_until) : nullptr},
                                     {"consecutive_failures", p.consecutive_failures},
                                     {"last_status", p.last_status},
                                     {"sent", p.sent},
                                     {"failed", p.failed}});
            }
            const WorkerSlot &w = copy.workers[kDelivery];
            const WorkerSlot &c = copy.workers[kCodes];
            uint32 delivery_in_flight = pg_atomic_read_u32(&s->workers[kDelivery].in_flight);
            uint32 codes_in_flight = pg_atomic_read_u32(&s->workers[kCodes].in_flight);
            nlohmann::json code_worker = nullptr;  // sms_otp.code_worker = off
            if (sms_otp::settings::code_worker)
                code_worker = {{"running", c.procno >= 0},
                               {"pid", c.procno >= 0 ? nlohmann::json(c.pid) : nlohmann::json()},
                               {"started_at", timestamp(c.started_at)},
                               {"last_batch_at", timestamp(c.last_batch_at)},
                               {"in_flight", codes_in_flight}};
            out = {{"running", w.procno >= 0},
                   {"preloaded", true},
                   {"database", sms_otp::settings::database ? sms_otp::settings::database : ""},
                   {"pid", w.procno >= 0 ? nlohmann::json(w.pid) : nlohmann::json()},
                   {"started_at", timestamp(w.started_at)},
                   {"last_batch_at", timestamp(w.last_batch_at)},
                   {"in_flight", delivery_in_flight + codes_in_flight},
                   {"code_worker", code_worker},
                   {"sent", pg_atomic_read_u64(&s->sent)},
                   {"failed", pg_atomic_read_u64(&s->failed)},
                   {"attempts", pg_atomic_read_u64(&s->attempts)},
                   {"wakeups", pg_atomic_read_u64(&s->wakeups)},
                   {"providers", providers}};
        }
        std::string text = out.dump();
        return sms_otp::pg::pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
    });
}

}  // extern "C"
