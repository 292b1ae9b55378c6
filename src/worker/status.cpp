// sms_otp.worker_status(): what the workers of the caller's database are doing, from shared memory.
#include "pg/guard.h"
#include "settings.h"
#include "worker/shared_state.h"

extern "C" {
#include "utils/jsonb.h"
}

#include <nlohmann/json.hpp>

#include <cstring>

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
        } else if (DatabaseState *db = my_database(); !db) {
            // No worker of this database has started (it is not in sms_otp.database, say).
            out = {{"running", false}, {"preloaded", true}, {"database", nullptr}, {"workers", nlohmann::json::array()}};
        } else {
            DatabaseState copy;
            SpinLockAcquire(&s->mutex);
            std::memcpy(static_cast<void *>(&copy), db, sizeof(copy));
            SpinLockRelease(&s->mutex);
            TimestampTz now = GetCurrentTimestamp();
            nlohmann::json providers = nlohmann::json::array();
            for (const auto &p : copy.providers) {
                if (!p.in_use) continue;
                bool backing_off = p.backoff_until > now;
                bool breaker_open = p.breaker_open_until > now;
                nlohmann::json in_flight = 0, max_concurrent = nullptr;
                for (int i = 0; i < kMaxProviders; i++)
                    if (std::strncmp(copy.loads[i].name, p.name, sizeof(p.name)) == 0) {
                        in_flight = pg_atomic_read_u32(&db->loads[i].in_flight);
                        if (copy.loads[i].max_concurrent > 0) max_concurrent = copy.loads[i].max_concurrent;
                    }
                providers.push_back({{"name", p.name},
                                     {"available", !backing_off && !breaker_open},
                                     {"credentials_refused", p.unhealthy},
                                     {"backoff_until", backing_off ? timestamp(p.backoff_until) : nullptr},
                                     {"breaker_open_until", breaker_open ? timestamp(p.breaker_open_until) : nullptr},
                                     {"consecutive_failures", p.consecutive_failures},
                                     {"last_status", p.last_status},
                                     {"sent", p.sent},
                                     {"failed", p.failed},
                                     {"in_flight", in_flight},
                                     {"max_concurrent", max_concurrent}});
            }
            auto slot = [&](int i) {
                const WorkerSlot &w = copy.slots[i];
                return nlohmann::json{{"running", w.procno >= 0},
                                      {"pid", w.procno >= 0 ? nlohmann::json(w.pid) : nlohmann::json()},
                                      {"started_at", timestamp(w.started_at)},
                                      {"last_batch_at", timestamp(w.last_batch_at)},
                                      {"in_flight", pg_atomic_read_u32(&db->slots[i].in_flight)},
                                      {"sent", pg_atomic_read_u64(&db->slots[i].sent)}};
            };
            // The delivery workers (sms_otp.workers of them), by number.
            nlohmann::json workers = nlohmann::json::array();
            uint32 in_flight = pg_atomic_read_u32(&db->slots[0].in_flight);
            for (int i = 1; i <= sms_otp::settings::workers && i < kSlotsPerDatabase; i++) {
                nlohmann::json w = slot(i);
                w["number"] = i;
                in_flight += pg_atomic_read_u32(&db->slots[i].in_flight);
                workers.push_back(std::move(w));
            }
            nlohmann::json code_worker = nullptr;  // sms_otp.code_worker = off
            if (sms_otp::settings::code_worker) {
                code_worker = slot(0);
                code_worker.erase("sent");
            }
            const WorkerSlot &first = copy.slots[1];
            out = {{"running", first.procno >= 0},
                   {"preloaded", true},
                   {"database", copy.name},
                   {"pid", first.procno >= 0 ? nlohmann::json(first.pid) : nlohmann::json()},
                   {"started_at", timestamp(first.started_at)},
                   {"last_batch_at", timestamp(first.last_batch_at)},
                   {"in_flight", in_flight},
                   {"workers", workers},
                   {"code_worker", code_worker},
                   {"sent", pg_atomic_read_u64(&db->sent)},
                   {"failed", pg_atomic_read_u64(&db->failed)},
                   {"attempts", pg_atomic_read_u64(&db->attempts)},
                   {"wakeups", pg_atomic_read_u64(&db->wakeups)},
                   {"providers", providers}};
        }
        std::string text = out.dump();
        return sms_otp::pg::pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
    });
}

}  // extern "C"
