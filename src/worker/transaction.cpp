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
    // Abort releases SPI, snapshots, locks and memory of the failed transaction.
    try {
        pg::pg_call([] {
            AbortCurrentTransaction();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
    } catch (...) {
    }
}

}  // namespace sms_otp::worker
