// State shared between the backends and the delivery worker: the worker's latch (so a commit
// that enqueued a message wakes it at once), its counters, and each provider's health.
#pragma once

#include "pg/server.h"

extern "C" {
#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

namespace sms_otp::worker {

constexpr int kMaxProviders = 32;

struct ProviderHealth {
    char name[64];
    bool in_use;
    bool unhealthy;               // the provider refused our credentials (401/403)
    int consecutive_failures;     // reset by a success; opens the breaker at the threshold
    TimestampTz backoff_until;    // set from Retry-After on 429
    TimestampTz breaker_open_until;
    uint64 sent;
    uint64 failed;
    int last_status;
};

// The worker processes: the delivery worker sends every kind of message; the code worker
// (sms_otp.code_worker) only codes, and while it runs the delivery worker leaves codes to it.
enum Role { kDelivery = 0, kCodes = 1, kRoles = 2 };

struct WorkerSlot {
    int procno;                   // -1 while the process does not run
    int pid;
    Oid database;                 // the database it serves: commits elsewhere do not wake it
    TimestampTz started_at;
    TimestampTz last_batch_at;
    pg_atomic_uint32 in_flight;   // its requests now open
};

struct SharedState {
    slock_t mutex;                // guards everything below that is not atomic
    WorkerSlot workers[kRoles];
    pg_atomic_uint64 wakeups;
    pg_atomic_uint64 sent;
    pg_atomic_uint64 failed;
    pg_atomic_uint64 attempts;
    ProviderHealth providers[kMaxProviders];
};

// This process's role (set by a worker when it starts; backends never read it).
extern Role my_role;
// Whether the worker of `role` runs now.
bool worker_running(Role role);

// Reserve and attach the shared memory (called from _PG_init's hooks).
void request_shared_memory();
void attach_shared_memory();
SharedState *shared();

// Wake a worker when the current transaction commits (no-op if it aborts): the code worker for
// a code (the delivery worker while no code worker runs), the delivery worker for the rest.
// Only a commit in the database the worker serves wakes it.
void wake_on_commit(Role role = kDelivery);
// Wake now the workers of `roles` (a bit per Role).
void wake_now(unsigned roles);

}  // namespace sms_otp::worker
