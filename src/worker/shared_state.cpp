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
bool wake_pending = false;
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
            if (wake_pending) wake_now();
            wake_pending = false;
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:  // COMMIT PREPARED happens elsewhere; the poll picks it up
            wake_pending = false;
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

void wake_on_commit() {
    if (!state) return;  // not preloaded: no worker to wake
    if (!callback_registered) {
        RegisterXactCallback(on_xact, nullptr);
        callback_registered = true;
    }
    wake_pending = true;
}

bool worker_running(Role role) {
    if (!state) return false;
    SpinLockAcquire(&state->mutex);
    bool running = state->workers[role].procno >= 0;
    SpinLockRelease(&state->mutex);
    return running;
}

// Both workers: the commit may have queued a code (the code worker's) or another message (the
// delivery worker's), and a worker finds nothing to claim in well under a millisecond.
void wake_now() {
    if (!state) return;
    int procnos[kRoles];
    SpinLockAcquire(&state->mutex);
    for (int r = 0; r < kRoles; r++) procnos[r] = state->workers[r].procno;
    SpinLockRelease(&state->mutex);
    if (procnos[kDelivery] >= 0) pg_atomic_fetch_add_u64(&state->wakeups, 1);
    for (int procno : procnos)
        if (procno >= 0) SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

}  // namespace sms_otp::worker
