#include "worker/shared_state.h"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
}

#include <cstring>
#include <functional>
#include <unordered_map>

namespace sms_otp::worker {

namespace {
SharedState *state = nullptr;
shmem_request_hook_type prev_request_hook = nullptr;
shmem_startup_hook_type prev_startup_hook = nullptr;
unsigned wake_pending = 0;  // a bit per Role
bool callback_registered = false;

void on_request() {
    if (prev_request_hook) prev_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

void on_startup() {
    if (prev_startup_hook) prev_startup_hook();
    attach_shared_memory();
}

// One callback per backend, registered on first use and kept: it costs a flag test per
// transaction end, instead of a registration per transaction.
void on_xact(XactEvent event, void *) {
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            if (wake_pending) wake_now(wake_pending);
            wake_pending = 0;
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:  // COMMIT PREPARED happens elsewhere; the poll picks it up
            wake_pending = 0;
            break;
        default:
            break;
    }
}

// A backend's database, found once its workers have said which it is.
DatabaseState *database_of_backend() {
    static DatabaseState *found = nullptr;
    if (found || !state || !OidIsValid(MyDatabaseId)) return found;
    SpinLockAcquire(&state->mutex);
    for (auto &d : state->databases)
        if (d.database == MyDatabaseId) found = &d;
    SpinLockRelease(&state->mutex);
    return found;
}

// This process's provider entries (by name) and the slots it holds in each.
struct Held {
    ProviderLoad *load;
    uint32 held = 0;
};
std::unordered_map<std::string, Held> &held() {
    static std::unordered_map<std::string, Held> map;
    return map;
}

// The provider's entry in this database, made on first use (nullptr when all are taken).
ProviderLoad *load_of(const std::string &provider) {
    auto &map = held();
    auto it = map.find(provider);
    if (it != map.end()) return it->second.load;
    DatabaseState *db = my_database();
    if (!db) return nullptr;
    ProviderLoad *found = nullptr;
    SpinLockAcquire(&state->mutex);
    for (auto &l : db->loads)
        if (std::strncmp(l.name, provider.c_str(), sizeof(l.name)) == 0) found = &l;
    if (!found)
        for (auto &l : db->loads)
            if (l.name[0] == '\0') {
                strlcpy(l.name, provider.c_str(), sizeof(l.name));
                found = &l;
                break;
            }
    SpinLockRelease(&state->mutex);
    if (found) map.emplace(provider, Held{found});
    return found;
}
}  // namespace

void request_shared_memory() {
    prev_request_hook = shmem_request_hook;
    shmem_request_hook = on_request;
    prev_startup_hook = shmem_startup_hook;
    shmem_startup_hook = on_startup;
}

void attach_shared_memory() {
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    state = static_cast<SharedState *>(ShmemInitStruct("sms_otp", sizeof(SharedState), &found));
    if (!found) {
        std::memset(static_cast<void *>(state), 0, sizeof(SharedState));
        SpinLockInit(&state->mutex);
        for (auto &d : state->databases) {
            d.database = InvalidOid;
            for (auto &w : d.slots) {
                w.procno = -1;
                pg_atomic_init_u32(&w.in_flight, 0);
                pg_atomic_init_u64(&w.sent, 0);
            }
            pg_atomic_init_u64(&d.wakeups, 0);
            pg_atomic_init_u64(&d.sent, 0);
            pg_atomic_init_u64(&d.failed, 0);
            pg_atomic_init_u64(&d.attempts, 0);
            for (auto &l : d.loads) {
                pg_atomic_init_u32(&l.in_flight, 0);
                pg_atomic_init_u64(&l.backoff_until_us, 0);
                pg_atomic_init_u64(&l.backoff_version, 0);
            }
        }
    }
    LWLockRelease(AddinShmemInitLock);
}

SharedState *shared() { return state; }

Role my_role = kDelivery;
int my_database_index = -1;
int my_number = 1;

DatabaseState *my_database() {
    if (!state) return nullptr;
    if (my_database_index >= 0) return &state->databases[my_database_index];
    return database_of_backend();
}

WorkerSlot &my_slot() { return state->databases[my_database_index].slots[my_number]; }

void wake_on_commit(Role role) {
    if (!state) return;  // not preloaded: no worker to wake
    if (!callback_registered) {
        RegisterXactCallback(on_xact, nullptr);
        callback_registered = true;
    }
    wake_pending |= 1u << role;
}

bool code_worker_running() {
    DatabaseState *db = my_database();
    if (!db) return false;
    SpinLockAcquire(&state->mutex);
    bool running = db->slots[0].procno >= 0;
    SpinLockRelease(&state->mutex);
    return running;
}

void wake_now(unsigned roles) {
    DatabaseState *db = my_database();
    if (!db) return;
    int procnos[kSlotsPerDatabase];
    SpinLockAcquire(&state->mutex);
    for (int i = 0; i < kSlotsPerDatabase; i++) procnos[i] = db->slots[i].procno;
    SpinLockRelease(&state->mutex);
    // No code worker running: the delivery workers send codes.
    if ((roles & (1u << kCodes)) && procnos[0] < 0) roles |= 1u << kDelivery;
    if ((roles & (1u << kCodes)) && procnos[0] >= 0) SetLatch(&ProcGlobal->allProcs[procnos[0]].procLatch);
    if (!(roles & (1u << kDelivery))) return;
    pg_atomic_fetch_add_u64(&db->wakeups, 1);
    for (int i = 1; i < kSlotsPerDatabase; i++)
        if (procnos[i] >= 0) SetLatch(&ProcGlobal->allProcs[procnos[i]].procLatch);
}

bool take_provider_slot(const std::string &provider, int max_concurrent) {
    ProviderLoad *l = load_of(provider);
    if (!l) return true;  // more providers than entries: this one is capped per worker only
    l->max_concurrent = max_concurrent;
    uint32 open = pg_atomic_read_u32(&l->in_flight);
    for (;;) {
        if (max_concurrent > 0 && open >= static_cast<uint32>(max_concurrent)) return false;
        if (pg_atomic_compare_exchange_u32(&l->in_flight, &open, open + 1)) break;
    }
    held()[provider].held++;
    return true;
}

void give_provider_slot(const std::string &provider) {
    auto it = held().find(provider);
    if (it == held().end() || it->second.held == 0) return;
    it->second.held--;
    pg_atomic_fetch_sub_u32(&it->second.load->in_flight, 1);
}

void release_provider_slots() {
    for (auto &[name, h] : held()) {
        if (h.held) pg_atomic_fetch_sub_u32(&h.load->in_flight, h.held);
        h.held = 0;
    }
}

// Read for every message a worker routes, so without the mutex. A reader that meets a backoff
// and its version written a moment apart holds one message back, or lets one through, once.
void share_backoff(const std::string &provider, const std::string &version, int64_t until_us) {
    ProviderLoad *l = load_of(provider);
    if (!l) return;
    uint64 v = std::hash<std::string>{}(version);
    if (pg_atomic_exchange_u64(&l->backoff_version, v) != v) {
        pg_atomic_write_u64(&l->backoff_until_us, static_cast<uint64>(until_us));
        return;
    }
    uint64 seen = pg_atomic_read_u64(&l->backoff_until_us);
    while (seen < static_cast<uint64>(until_us) &&
           !pg_atomic_compare_exchange_u64(&l->backoff_until_us, &seen, static_cast<uint64>(until_us))) {
    }
}

int64_t shared_backoff(const std::string &provider, const std::string &version) {
    ProviderLoad *l = load_of(provider);
    if (!l || pg_atomic_read_u64(&l->backoff_version) != std::hash<std::string>{}(version)) return 0;
    return static_cast<int64_t>(pg_atomic_read_u64(&l->backoff_until_us));
}

}  // namespace sms_otp::worker
