#include "worker/transaction.h"

#include "pg/guard.h"

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/snapmgr.h"
}

namespace sms_otp::worker {

Transaction::Transaction(const char *activity) {
    pg::pg_call([&] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        SPI_connect();
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, activity);
    });
    open_ = true;
}

void Transaction::commit() {
    pg::pg_call([] {
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
        // Tell the statistics system about the writes, so autovacuum keeps the queue lean.
        pgstat_report_stat(false);
        pgstat_report_activity(STATE_IDLE, nullptr);
    });
    open_ = false;
}

Transaction::~Transaction() {
    if (!open_) return;
    // Abort releases SPI, snapshots, locks and memory of the failed transaction, and of any
    // subtransaction still open inside it.
    try {
        pg::pg_call([] {
            AbortOutOfAnyTransaction();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
    } catch (...) {
    }
}

Subtransaction::Subtransaction() : context_(CurrentMemoryContext), owner_(CurrentResourceOwner) {
    pg::pg_call([] { BeginInternalSubTransaction(nullptr); });
    // Stay in the caller's memory (what it allocates must outlive a rollback of this one);
    // the resource owner stays the subtransaction's until it ends.
    MemoryContextSwitchTo(context_);
    open_ = true;
}

// As PL/pgSQL does after a subtransaction: back to the caller's memory and resource owner.
void Subtransaction::restore() {
    MemoryContextSwitchTo(context_);
    CurrentResourceOwner = owner_;
}

void Subtransaction::commit() {
    pg::pg_call([] { ReleaseCurrentSubTransaction(); });
    open_ = false;
    restore();
}

Subtransaction::~Subtransaction() {
    if (!open_) return;
    try {
        pg::pg_call([] { RollbackAndReleaseCurrentSubTransaction(); });
    } catch (...) {
    }
    restore();
}

}  // namespace sms_otp::worker
