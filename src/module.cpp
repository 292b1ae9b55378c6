// Library entry: settings, shared memory and the delivery worker's registration.
#include "pg/server.h"
#include "settings.h"
#include "otp/guesses.h"
#include "worker/shared_state.h"
#include "worker/main.h"

extern "C" {
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

void _PG_init(void) {
    sms_otp::settings::define();
    // Shared memory and the worker exist only when preloaded; loaded later, the API still
    // works and messages wait in the outbox for a preloaded worker.
    if (!process_shared_preload_libraries_in_progress) return;
    sms_otp::worker::request_shared_memory();
    sms_otp::otp::request_guess_memory();
    sms_otp::worker::register_worker();
}
}
