// The worker's loop: sleep on the latch (a commit that queued a message sets it), claim a
// batch in a short transaction, keep its requests in flight through one libcurl multi
// handle with no transaction open, write the results back in one transaction per round.
#include "worker/main.h"

#include "http/client.h"
#include "pg/guard.h"
#include "settings.h"
#include "worker/dispatcher.h"
#include "worker/queue.h"
#include "worker/shared_state.h"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/wait_event.h"

PGDLLEXPORT void sms_otp_worker_main(Datum arg);
}

#include <algorithm>
#include <csignal>

namespace sms_otp::worker {

namespace {

volatile sig_atomic_t terminate_requested = false;

void on_sigterm(SIGNAL_ARGS) {
    int saved = errno;
    terminate_requested = true;
    SetLatch(MyLatch);
    errno = saved;
}

void on_exit(int, Datum) {
    SharedState *s = shared();
    if (!s) return;
    SpinLockAcquire(&s->mutex);
    s->worker_procno = -1;
    s->worker_pid = 0;
    SpinLockRelease(&s->mutex);
    pg_atomic_write_u32(&s->in_flight, 0);
}

void announce() {
    SharedState *s = shared();
    SpinLockAcquire(&s->mutex);
    s->worker_procno = MyProc->pgprocno;
    s->worker_pid = MyProcPid;
    s->started_at = GetCurrentTimestamp();
    SpinLockRelease(&s->mutex);
}

void mark_batch() {
    SharedState *s = shared();
    SpinLockAcquire(&s->mutex);
    s->last_batch_at = GetCurrentTimestamp();
    SpinLockRelease(&s->mutex);
}

// Log a failed round and carry on: the leases make sure nothing claimed is lost.
void warn(const std::exception &e, const char *what) {
    std::string message = e.what();
    pg::pg_call([&] { ereport(WARNING, (errmsg("sms_otp worker could not %s: %s", what, message.c_str()))); });
}

// The worker runs as a superuser in a database whose owner may set its search_path
// (ALTER DATABASE/ROLE ... SET): its statements must never find that owner's functions or
// operators. An override outranks every such setting and survives reloads.
void pin_search_path() {
    pg::pg_call([] { SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE); });
}

// Codes typed into otp_verify travel in the statement text: a server that logs statements
// writes them to its log.
bool statements_logged() { return log_statement == LOGSTMT_ALL || log_min_duration_statement >= 0; }

void warn_if_statements_logged() {
    pg::pg_call([] {
        if (log_statement == LOGSTMT_ALL)
            ereport(WARNING,
                    (errmsg("sms_otp: log_statement = 'all' writes the codes users enter in otp_verify to the server log"),
                     errhint("Set log_statement to 'ddl' or 'none' (ALTER SYSTEM SET log_statement = 'ddl'; "
                             "SELECT pg_reload_conf();).")));
        if (log_min_duration_statement >= 0)
            ereport(WARNING,
                    (errmsg("sms_otp: log_min_duration_statement = %d ms writes the codes users enter in otp_verify "
                            "to the server log",
                            log_min_duration_statement),
                     errhint("Set log_min_duration_statement to -1, or log durations without statements "
                             "(log_duration = on).")));
    });
}

void loop() {
    pin_search_path();
    warn_if_statements_logged();
    bool said_logged = statements_logged();

    http::Multi multi;
    multi.set_max_host_connections(settings::max_in_flight);
    Dispatcher dispatcher(multi);
    Results results;  // written by the next round that commits

    bool backlog = true;  // claim at once on start: messages may be waiting
    bool said_missing = false;
    TimestampTz next_poll = 0;

    while (!terminate_requested) {
        // Sleep only when there is nothing to do; otherwise just look at the latch.
        long sleep_ms = 0;
        if (dispatcher.in_flight() == 0 && !backlog && !dispatcher.has_results()) {
            long secs;
            int usecs;
            TimestampDifference(GetCurrentTimestamp(), next_poll, &secs, &usecs);
            sleep_ms = secs * 1000 + usecs / 1000;
        }
        int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        if (terminate_requested) break;
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            pg::pg_call([] { ProcessConfigFile(PGC_SIGHUP); });
            multi.set_max_host_connections(settings::max_in_flight);
            bool logged = statements_logged();
            if (logged && !said_logged) warn_if_statements_logged();
            said_logged = logged;
        }

        int room = settings::max_in_flight - dispatcher.in_flight();
        bool due = (rc & WL_LATCH_SET) || backlog || GetCurrentTimestamp() >= next_poll;
        int want = due && room > 0 ? std::min(settings::batch_size, room) : 0;
        if (want > 0 || dispatcher.has_results() || (due && !results.empty())) {
            // Results and the next claim share one transaction (one commit per round).
            dispatcher.take(results);
            try {
                Batch batch = round(results, want, settings::lease_s, settings::max_send_attempts);
                if (want > 0) {
                    next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), settings::poll_interval_ms);
                    if (!batch.extension_present) {
                        if (!said_missing)
                            pg::pg_call([] {
                                ereport(LOG, (errmsg("sms_otp worker: extension sms_otp is not installed in database \"%s\"; waiting",
                                                     settings::database)));
                            });
                        said_missing = true;
                        backlog = false;
                    } else {
                        said_missing = false;
                        backlog = static_cast<int>(batch.messages.size()) == want;
                        dispatcher.router().set_providers(std::move(batch.providers));
                        for (auto &c : batch.messages) dispatcher.start(std::move(c));
                        if (!batch.messages.empty()) mark_batch();
                    }
                }
            } catch (const std::exception &e) {
                // Results not written stay in `results` for the next round.
                warn(e, "write results and claim messages (claimed messages are retried when their lease ends)");
                backlog = false;
                next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), settings::poll_interval_ms);
            }
        }

        // While requests are in flight, come back often enough to notice new commits.
        dispatcher.run(backlog ? 0 : 5);
    }
    // Requests still in flight end with the process; their leases bring them back.
}

}  // namespace

void register_worker() {
    BackgroundWorker worker{};
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 1;
    strlcpy(worker.bgw_library_name, "sms_otp", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "sms_otp_worker_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "sms_otp delivery worker", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "sms_otp delivery worker", BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

}  // namespace sms_otp::worker

void sms_otp_worker_main(Datum) {
    using namespace sms_otp;
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, worker::on_sigterm);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(settings::database, nullptr, 0);
    before_shmem_exit(worker::on_exit, 0);
    worker::announce();
    pg::entry([] { worker::loop(); });
    // Exit code 1: the postmaster starts a new worker after bgw_restart_time, so a worker
    // stopped with pg_terminate_backend() comes back; at shutdown nothing is restarted.
    proc_exit(1);
}
