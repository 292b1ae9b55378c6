// State shared between the backends and the worker processes: each worker's latch (so a commit
// that enqueued a message wakes it at once), the counters, each provider's health, and what
// every provider has open now across the workers of a database (its max_concurrent).
#pragma once

#include "pg/server.h"

extern "C" {
#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

#include <string>

namespace sms_otp::worker {

constexpr int kMaxProviders = 32;
constexpr int kMaxDatabases = 8;         // names in sms_otp.database
constexpr int kMaxDeliveryWorkers = 16;  // sms_otp.workers
// Slot 0 of a database is its code worker; 1 .. sms_otp.workers its delivery workers.
constexpr int kSlotsPerDatabase = kMaxDeliveryWorkers + 1;

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

// A provider's requests open now, by all the workers of a database, and its 429 backoff as
// the last of them heard it: one worker's Retry-After holds the others back too.
struct ProviderLoad {
    char name[64];                // "" while the entry is free
    pg_atomic_uint32 in_flight;
    pg_atomic_uint64 backoff_until_us;  // Unix microseconds
    pg_atomic_uint64 backoff_version;   // hash of the provider row's version it was heard for
    int max_concurrent;           // 0: no cap (as last read from api_integrations)
};

// The worker processes: the delivery workers send every kind of message; the code worker
// (sms_otp.code_worker) only codes, and while it runs the delivery workers leave codes to it.
enum Role { kDelivery = 0, kCodes = 1 };

struct WorkerSlot {
    int procno;                   // -1 while the process does not run
    int pid;
    TimestampTz started_at;
    TimestampTz last_batch_at;
    pg_atomic_uint32 in_flight;   // its requests now open
    pg_atomic_uint64 sent;        // messages it sent since it started
};

struct DatabaseState {
    Oid database;                 // InvalidOid until one of its workers started
    char name[NAMEDATALEN];
    WorkerSlot slots[kSlotsPerDatabase];
    pg_atomic_uint64 wakeups;
    pg_atomic_uint64 sent;
    pg_atomic_uint64 failed;
    pg_atomic_uint64 attempts;
    ProviderHealth providers[kMaxProviders];  // as delivery worker 1 sees them
    ProviderLoad loads[kMaxProviders];
};

struct SharedState {
    slock_t mutex;                // guards everything below that is not atomic
    DatabaseState databases[kMaxDatabases];
};

// This process's place (set by a worker when it starts; backends never read them): the index
// of its database in sms_otp.database, and its number (0: the code worker).
extern Role my_role;
extern int my_database_index;
extern int my_number;

// Whether the code worker of this worker's database runs now.
bool code_worker_running();

// Reserve and attach the shared memory (called from _PG_init's hooks).
void request_shared_memory();
void attach_shared_memory();
SharedState *shared();
// The state of this process's database: a worker's own; a backend's, once one of the workers
// of its database has started (else nullptr).
DatabaseState *my_database();
// This worker's slot.
WorkerSlot &my_slot();

// Wake a worker when the current transaction commits (no-op if it aborts): the code worker for
// a code (the delivery workers while no code worker runs), the delivery workers for the rest.
// Only the workers of the database the transaction ran in are woken.
void wake_on_commit(Role role = kDelivery);
// Wake now the workers of `roles` (a bit per Role).
void wake_now(unsigned roles);

// A provider's share of the database's open requests: take one unless `max_concurrent`
// (0: no cap) are open; give it back when the request ends. A worker that stops gives back
// what it holds (release_all).
bool take_provider_slot(const std::string &provider, int max_concurrent);
void give_provider_slot(const std::string &provider);
void release_provider_slots();
// A 429's Retry-After, shared: the latest end of a backoff any worker of the database heard
// for this version of the provider's row (an edited row starts afresh, as its health does).
void share_backoff(const std::string &provider, const std::string &version, int64_t until_us);
int64_t shared_backoff(const std::string &provider, const std::string &version);

}  // namespace sms_otp::worker
