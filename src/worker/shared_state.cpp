#include "worker/shared_state.h"

extern "C" {
#include "access/xact.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
}

#include <cstring>

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
        for (auto &w : state->workers) {
            w.procno = -1;
            pg_atomic_init_u32(&w.in_flight, 0);
        }
        pg_atomic_init_u64(&state->wakeups, 0);
        pg_atomic_init_u64(&state->sent, 0);
        pg_atomic_init_u64(&state->failed, 0);
        pg_atomic_init_u64(&state->attempts, 0);
    }
    LWLockRelease(AddinShmemInitLock);
}

SharedState *shared() { return state; }

Role my_role = kDelivery;

void wake_on_commit(Role role) {
    if (!state) return;  // not preloaded: no worker to wake
    if (!callback_registered) {
        RegisterXactCallback(on_xact, nullptr);
        callback_registered = true;
    }
    wake_pending |= 1u << role;
}

bool worker_running(Role role) {
    if (!state) return false;
    SpinLockAcquire(&state->mutex);
    bool running = state->workers[role].procno >= 0;
    SpinLockRelease(&state->mutex);
    return running;
}

void wake_now(unsigned roles) {
    if (!state) return;
    WorkerSlot slots[kRoles];
    SpinLockAcquire(&state->mutex);
    for (int r = 0; r < kRoles; r++) {
        slots[r].procno = state->workers[r].procno;
        slots[r].database = state->workers[r].database;
    }
    SpinLockRelease(&state->mutex);
    // No code worker running: the delivery worker sends codes.
    if ((roles & (1u << kCodes)) && slots[kCodes].procno < 0) roles |= 1u << kDelivery;
    for (int r = 0; r < kRoles; r++) {
        if (!(roles & (1u << r)) || slots[r].procno < 0) continue;
        if (OidIsValid(MyDatabaseId) && slots[r].database != MyDatabaseId) continue;
        if (r == kDelivery) pg_atomic_fetch_add_u64(&state->wakeups, 1);
        SetLatch(&ProcGlobal->allProcs[slots[r].procno].procLatch);
    }
}

}  // namespace sms_otp::worker
