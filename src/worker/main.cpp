// The worker's loop: sleep on the latch (a commit that queued a message sets it), claim a
// batch in a short transaction, keep its requests in flight through one libcurl multi
// handle with no transaction open, write the results back a few dozen per transaction. Between
// transactions it looks at the latch again: a code committed meanwhile is claimed and sent at once.
#include "worker/main.h"

#include "http/client.h"
#include "pg/guard.h"
#include "settings.h"
#include "worker/dispatcher.h"
#include "worker/housekeeping.h"
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
#include <string>
#include <vector>
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

// The loop's transport, while it runs: a process leaving without unwinding (postmaster death)
// stops its thread first, so nothing of libcurl runs while the process exits.
http::Multi *transport = nullptr;

void on_exit(int, Datum) {
    if (transport) {
        try {
            transport->stop();
        } catch (...) {
        }
        transport = nullptr;
    }
    SharedState *s = shared();
    if (!s) return;
    release_provider_slots();
    WorkerSlot &w = my_slot();
    SpinLockAcquire(&s->mutex);
    w.procno = -1;
    w.pid = 0;
    SpinLockRelease(&s->mutex);
    pg_atomic_write_u32(&w.in_flight, 0);
}

void announce(const char *database) {
    SharedState *s = shared();
    DatabaseState *db = my_database();
    WorkerSlot &w = my_slot();
    SpinLockAcquire(&s->mutex);
    db->database = MyDatabaseId;
    strlcpy(db->name, database, sizeof(db->name));
    w.procno = MyProc->pgprocno;
    w.pid = MyProcPid;
    w.started_at = GetCurrentTimestamp();
    SpinLockRelease(&s->mutex);
    pg_atomic_write_u64(&w.sent, 0);
}

void mark_batch() {
    SharedState *s = shared();
    SpinLockAcquire(&s->mutex);
    my_slot().last_batch_at = GetCurrentTimestamp();
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

// After a claim: which lanes may hold more due messages than it took. A lane that filled its
// limit may; one that was not asked (no room left for it) keeps what was known of it.
void note_backlog(const Batch &batch, ClaimLimits limits, bool &codes, bool &others) {
    if (batch.legacy) {  // 1.0: one queue for every kind
        codes = others = batch.codes_claimed + batch.others_claimed >= limits.total;
        return;
    }
    codes = batch.codes_claimed >= limits.total;
    int others_limit = std::min(limits.others, limits.total - batch.codes_claimed);
    if (others_limit > 0) others = batch.others_claimed >= others_limit;
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

// Whether this process sends codes: the code worker does, and the delivery worker does while
// no code worker runs (sms_otp.code_worker = off, or it is being restarted).
bool sends_codes() { return my_role == kCodes || !settings::code_worker || !code_worker_running(); }

// What a round may claim now. Claims run ahead of the requests: a worker holds up to
// kClaimAhead times max_in_flight messages, in flight or ready for the next free slot, so
// answers that free slots while it writes results or claims find the next messages already
// there. The loop's turn (results of the last answers, then a claim) takes several
// milliseconds on a busy machine. With twice max_in_flight held, a drain of codes from a 20 ms
// provider kept 61 of its 64 requests open on average; with four times, 62.5, and it ended 4%
// sooner (bench/throughput.sh). A message that waits in the worker past half its lease goes
// back to the queue (Dispatcher::pump), so holding more never lets a lease run out. Codes may
// take all of it; transactional and promo messages what is beyond the slots kept for codes
// (sms_otp.otp_reserved_in_flight, leaving them one at least), kClaimAhead times over, so no
// backlog of theirs can take the slots a code needs. The code worker claims codes only; the
// delivery workers none while the code worker runs. Campaigns (promo) are delivery worker 1's
// alone: their throttles count requests in that one process, so they are exact.
constexpr int kClaimAhead = 4;
ClaimLimits room(const Dispatcher &dispatcher) {
    int max = settings::max_in_flight;
    int free = std::max(0, kClaimAhead * max - dispatcher.in_flight() - dispatcher.ready());
    int others = std::max(0, kClaimAhead * others_slots() - dispatcher.others_in_flight() - dispatcher.others_ready());
    ClaimLimits limits;
    limits.total = std::min(settings::batch_size, free);
    limits.others = my_role == kCodes ? 0 : std::min(limits.total, others);
    limits.codes = sends_codes() ? -1 : 0;
    limits.promo = my_number == 1 ? -1 : 0;
    return limits;
}

// A backlog is claimed once the room is at least this: half of max_in_flight (or batch_size,
// if smaller), so a drain claims in batches of dozens, not a message or two after each answer
// (every claim costs its statements and a commit). The messages claimed ahead keep the
// requests going meanwhile. A commit (a code, maybe) is claimed for at once, whatever the room.
int backlog_claim_min() { return std::max(1, std::min(settings::batch_size, settings::max_in_flight / 2)); }

// Lanes with more due messages than the last claim took, and room enough to take them now.
bool more_to_claim(ClaimLimits limits, bool backlog_codes, bool backlog_others) {
    int min = backlog_claim_min();
    return (backlog_codes && limits.total >= min) || (backlog_others && limits.others >= min && limits.total >= min);
}

// Results are written once a part is full, or the oldest has waited kResultsWaitUs, or no
// request is left open: a transaction per answer would cost more than the answer. A part is a
// quarter of max_in_flight, 32 results at least and 128 at most: at the defaults (64) a code
// committed meanwhile waits for 32 results at most; at 256 in flight, parts of 64 instead of
// 32 took a drain from 4,850 to 5,520 msg/s (220 instead of 250 µs of CPU a message,
// alternating builds in one run), each part's statements and commit spread over more results.
size_t results_per_transaction() { return size_t(std::clamp(settings::max_in_flight / 4, 32, 128)); }
constexpr int64_t kResultsWaitUs = 20 * 1000;
bool results_due(const Dispatcher &dispatcher) {
    size_t n = dispatcher.results();
    if (n == 0) return false;
    return n >= results_per_transaction() || dispatcher.in_flight() == 0 ||
           wall_clock_us() - dispatcher.oldest_result_us() >= kResultsWaitUs;
}

// Hand a claim's messages to the dispatcher, with the providers read in the same transaction.
void start_batch(Batch &batch, Dispatcher &dispatcher) {
    dispatcher.router().set_providers(std::move(batch.providers));
    // Receipts are asked for only where the database can take them (1.1).
    const char *callbacks = batch.legacy || !settings::callback_url ? "" : settings::callback_url;
    for (auto &c : batch.messages) {
        c.message.callback_base = callbacks;
        dispatcher.start(std::move(c));
    }
    if (batch.codes_claimed + batch.others_claimed > 0) mark_batch();
}

// Results are written results_per_transaction() at a time, each part in a transaction of its
// own (a code committed meanwhile waits for one part, not for every result held); and while
// commits come, that is within kHotMs of the last, the other lanes are claimed at most
// kOthersPerHotClaim at a time.
constexpr int kOthersPerHotClaim = 64;
constexpr int kHotMs = 1000;

// Expired idempotency keys go in batches this size: a pass starts once a minute at most and
// goes on batch after batch (one per turn of the loop, between claims) while they come full.
constexpr int kKeysPerBatch = 500;
constexpr int kHousekeepingMs = 60 * 1000;
// Rollup hours folded, and raw rows deleted past retention (of each table), per batch.
constexpr int kStatsHoursPerBatch = 6;
constexpr int kPrunePerBatch = 5000;

// One batch of chores; returns when the next is due.
TimestampTz housekeep() {
    int wait_ms = kHousekeepingMs;
    try {
        if (delete_expired_idempotency_keys(kKeysPerBatch) == kKeysPerBatch) wait_ms = 0;
    } catch (const std::exception &e) {
        warn(e, "delete expired idempotency keys");
    }
    try {
        if (compact_stats_hours(kStatsHoursPerBatch) == kStatsHoursPerBatch) wait_ms = 0;
    } catch (const std::exception &e) {
        warn(e, "compact the dashboards' rollups");
    }
    try {
        // A full batch from one of the tables: more are waiting.
        if (prune_old_rows(kPrunePerBatch) == kPrunePerBatch) wait_ms = 0;
    } catch (const std::exception &e) {
        warn(e, "delete rows past their retention");
    }
    return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);
}

void loop() {
    pin_search_path();
    warn_if_statements_logged();
    bool said_logged = statements_logged();

    http::Multi multi;
    transport = &multi;
    struct Forget {
        ~Forget() { transport = nullptr; }
    } forget;  // however the loop ends, before multi is gone
    Dispatcher dispatcher(multi, int64_t(settings::throttle_margin_ms) * 1000);
    dispatcher.set_limits();
    Results results;  // written by the next round that commits

    // Lanes that may have more due messages than the last claim took: claim again at once
    // (when there is room for them) instead of at the next poll. On start, messages may wait.
    bool backlog_codes = true, backlog_others = my_role == kDelivery;
    bool said_missing = false;
    bool current_schema = false;  // the extension is installed at 1.1 or later
    TimestampTz next_poll = 0;
    TimestampTz next_housekeeping = 0;
    TimestampTz last_woken = 0;
    bool woken_meanwhile = false;  // the latch was reset between transactions of a round

    // Codes claimed alone, in a short transaction, and their requests sent at once.
    auto claim_codes = [&] {
        ClaimLimits limits = room(dispatcher);
        if (!current_schema || limits.total == 0 || limits.codes == 0) return;
        ClaimLimits codes_only{limits.total, 0};
        Results none;
        try {
            Batch batch = round(none, codes_only, settings::lease_s, settings::max_send_attempts);
            if (batch.extension_present && !batch.legacy) {
                backlog_codes = batch.codes_claimed >= codes_only.total;
                start_batch(batch, dispatcher);
                dispatcher.run(0);
            }
        } catch (const std::exception &e) {
            warn(e, "claim codes (claimed codes are retried when their lease ends)");
        }
    };
    // Between the transactions of a round: a commit since the last look may have queued a code.
    // The other lanes are claimed by the round, which counts the commit as a wake-up.
    auto codes_if_woken = [&] {
        if (!MyLatch->is_set) return;
        ResetLatch(MyLatch);
        woken_meanwhile = true;
        last_woken = GetCurrentTimestamp();
        claim_codes();
    };

    while (!terminate_requested) {
        ClaimLimits limits = room(dispatcher);
        bool chores_due = my_number == 1 && current_schema && GetCurrentTimestamp() >= next_housekeeping;
        // Sleep only when there is nothing to do; otherwise just look at the latch.
        long sleep_ms = 0;
        if (dispatcher.in_flight() == 0 && dispatcher.ready() > 0 && dispatcher.waiting_for_provider()) {
            sleep_ms = 2;  // ready, held back by a provider's max_concurrent: other workers' requests
        } else if (dispatcher.in_flight() == 0 && dispatcher.ready() == 0 &&
                   !more_to_claim(limits, backlog_codes, backlog_others) && !dispatcher.has_results() && !chores_due) {
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
            dispatcher.set_limits();
            bool logged = statements_logged();
            if (logged && !said_logged) warn_if_statements_logged();
            said_logged = logged;
            limits = room(dispatcher);
        }

        // A commit woke the worker while results wait to be written: the codes it may have queued
        // are claimed first, in a short transaction of their own, and their requests leave
        // before the results of a hundred other messages are written.
        if ((rc & WL_LATCH_SET) && (dispatcher.has_results() || !results.empty())) {
            last_woken = GetCurrentTimestamp();
            claim_codes();
        }
        limits = room(dispatcher);

        // A commit that queued a message (the latch) or the poll: every lane may have some.
        bool woken = (rc & WL_LATCH_SET) || woken_meanwhile || GetCurrentTimestamp() >= next_poll;
        woken_meanwhile = false;
        if (rc & WL_LATCH_SET) last_woken = GetCurrentTimestamp();
        bool claiming = (woken && (limits.total > 0 || limits.others > 0)) ||
                        more_to_claim(limits, backlog_codes, backlog_others);
        bool written = true;
        if (claiming || results_due(dispatcher) || (woken && !results.empty())) {
            // Results in transactions of a few dozen, apart from the claim: a code committed
            // meanwhile waits for one of them at most, then is claimed on its own.
            dispatcher.take(results);
            while (!results.empty()) {
                Results part = results.split(results_per_transaction());
                size_t finals = part.finals.size();
                try {
                    Batch batch = round(part, ClaimLimits{}, settings::lease_s, settings::max_send_attempts);
                    current_schema = batch.extension_present && !batch.legacy;
                    dispatcher.written(finals);
                } catch (const std::exception &e) {
                    // Results not written stay in `results` for the next round.
                    results.put_back(std::move(part));
                    warn(e, "write results");
                    written = false;
                    break;
                }
                codes_if_woken();
                // Answers are read between parts too: a request whose answer waits unread past
                // sms_otp.request_timeout is given up and its message sent again.
                dispatcher.run(0);
            }
        }
        limits = room(dispatcher);  // codes claimed between the parts took some of it
        if (!written) {
            backlog_codes = backlog_others = false;
            next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), settings::poll_interval_ms);
        } else if (claiming && limits.total > 0) {
            // While commits keep waking the worker (codes may come any moment), the other lanes
            // are claimed a few dozen at a time, so no claim keeps a code waiting long.
            if (GetCurrentTimestamp() < TimestampTzPlusMilliseconds(last_woken, kHotMs))
                limits.others = std::min(limits.others, kOthersPerHotClaim);
            // Answers read since the last write go with the claim, in its transaction. Requests
            // open plus answers not written stay within twice max_in_flight (the dispatcher starts
            // no request past that), so a crash sends again at most that many.
            Results answered;
            dispatcher.take(answered);
            size_t finals = answered.finals.size();
            try {
                Batch batch = round(answered, limits, settings::lease_s, settings::max_send_attempts,
                                    my_number == 1 ? &dispatcher.throttle() : nullptr);
                current_schema = batch.extension_present && !batch.legacy;
                dispatcher.written(finals);
                next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), settings::poll_interval_ms);
                // A campaign's next recipient falls due, or its throttle opens, before the poll.
                if (batch.promo_wake_us > 0) {
                    TimestampTz at = batch.promo_wake_us -
                                     int64_t(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
                    next_poll = std::max(GetCurrentTimestamp(), std::min(next_poll, at));
                }
                if (!batch.extension_present) {
                    if (!said_missing)
                        pg::pg_call([] {
                            ereport(LOG, (errmsg("sms_otp worker: extension sms_otp is not installed in database \"%s\"; waiting",
                                                 my_database()->name)));
                        });
                    said_missing = true;
                    backlog_codes = backlog_others = false;
                } else {
                    said_missing = false;
                    note_backlog(batch, limits, backlog_codes, backlog_others);
                    start_batch(batch, dispatcher);
                }
            } catch (const std::exception &e) {
                if (!answered.empty()) results.put_back(std::move(answered));
                warn(e, "claim messages (claimed messages are retried when their lease ends)");
                backlog_codes = backlog_others = false;
                next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), settings::poll_interval_ms);
            }
            codes_if_woken();
        }

        if (chores_due) next_housekeeping = housekeep();

        // While requests are in flight, come back often enough to notice new commits; at once
        // when a lane with room has more waiting.
        dispatcher.run(more_to_claim(room(dispatcher), backlog_codes, backlog_others) ? 0 : 5);
    }
    // Requests still in flight end with the process; their leases bring them back.
}

}  // namespace

// For each database of sms_otp.database: its code worker (number 0) and its delivery workers
// (1 .. sms_otp.workers). The argument carries both indexes; bgw_extra the database's name.
void register_worker() {
    std::vector<std::string> databases = settings::databases();
    // PostgreSQL skips a worker past max_worker_processes with a LOG line only: say it louder.
    int wanted = int(databases.size()) * (std::min(settings::workers, kMaxDeliveryWorkers) + (settings::code_worker ? 1 : 0));
    if (wanted >= max_worker_processes)
        ereport(WARNING,
                (errmsg("sms_otp needs %d background workers (%d databases, sms_otp.workers = %d, code worker %s), "
                        "and max_worker_processes is %d",
                        wanted, int(databases.size()), settings::workers, settings::code_worker ? "on" : "off",
                        max_worker_processes),
                 errhint("Raise max_worker_processes above %d (PostgreSQL and other extensions need some too), "
                         "or some sms_otp workers will not start.",
                         wanted)));
    for (size_t d = 0; d < databases.size() && d < size_t(kMaxDatabases); d++) {
        for (int number = 0; number <= settings::workers && number <= kMaxDeliveryWorkers; number++) {
            if (number == 0 && !settings::code_worker) continue;
            const char *type = number == 0 ? "sms_otp code worker" : "sms_otp delivery worker";
            BackgroundWorker worker{};
            worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
            worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
            worker.bgw_restart_time = 1;
            worker.bgw_main_arg = Int32GetDatum(int32(d) * kSlotsPerDatabase + number);
            strlcpy(worker.bgw_library_name, "sms_otp", BGW_MAXLEN);
            strlcpy(worker.bgw_function_name, "sms_otp_worker_main", BGW_MAXLEN);
            std::string name = type;
            if (number > 0 && settings::workers > 1) name += " " + std::to_string(number);
            if (databases.size() > 1) name += " for " + databases[d];
            strlcpy(worker.bgw_name, name.c_str(), BGW_MAXLEN);
            strlcpy(worker.bgw_type, type, BGW_MAXLEN);
            strlcpy(worker.bgw_extra, databases[d].c_str(), BGW_EXTRALEN);
            RegisterBackgroundWorker(&worker);
        }
    }
}

}  // namespace sms_otp::worker

void sms_otp_worker_main(Datum arg) {
    using namespace sms_otp;
    int32 place = DatumGetInt32(arg);
    worker::my_database_index = place / worker::kSlotsPerDatabase;
    worker::my_number = place % worker::kSlotsPerDatabase;
    worker::my_role = worker::my_number == 0 ? worker::kCodes : worker::kDelivery;
    char database[BGW_EXTRALEN];
    strlcpy(database, MyBgworkerEntry->bgw_extra, sizeof(database));
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, worker::on_sigterm);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(database, nullptr, 0);
    before_shmem_exit(worker::on_exit, 0);
    worker::announce(database);
    pg::entry([] { worker::loop(); });
    // Exit code 1: the postmaster starts a new worker after bgw_restart_time, so a worker
    // stopped with pg_terminate_backend() comes back; at shutdown nothing is restarted.
    proc_exit(1);
}
