#include "worker/housekeeping.h"

#include "worker/plan.h"
#include "worker/transaction.h"

#include <string>

extern "C" {
#include "catalog/pg_type_d.h"
}

namespace sms_otp::worker {

namespace {

// Oldest first, through the index on expires_at.
Statement expired_keys(R"sql(
    DELETE FROM sms_otp.sms_idempotency_keys k
    WHERE k.key IN (SELECT x.key FROM sms_otp.sms_idempotency_keys x
                    WHERE x.expires_at <= pg_catalog.now()
                    ORDER BY x.expires_at
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED))sql",
                       {INT4OID});

// The dashboards' upkeep (sql/parts/dashboards.sql): closed hours folded, old rows deleted.
Statement compact_stats("SELECT sms_otp.stats_compact($1)", {INT4OID});
Statement prune_stats("SELECT greatest((r ->> 'log')::int, (r ->> 'sessions')::int, (r ->> 'delivery_events')::int) "
                      "FROM sms_otp.stats_prune($1) r",
                      {INT4OID});

int run_batch(Statement &statement, const char *what, int limit) {
    try {
        Transaction tx(what);
        Datum args[1] = {Int32GetDatum(limit)};
        statement.execute(args, false);
        std::string done = SPI_processed > 0 ? value(0, 1) : "";
        tx.commit();
        return done.empty() ? 0 : std::stoi(done);
    } catch (...) {
        forget_plans();
        throw;
    }
}

}  // namespace

int compact_stats_hours(int hours) { return run_batch(compact_stats, "sms_otp: compact dashboard rollups", hours); }

int prune_old_rows(int limit) { return run_batch(prune_stats, "sms_otp: delete rows past retention", limit); }

int delete_expired_idempotency_keys(int limit) {
    try {
        Transaction tx("sms_otp: delete expired idempotency keys");
        Datum args[1] = {Int32GetDatum(limit)};
        expired_keys.execute(args, false);
        int deleted = static_cast<int>(SPI_processed);
        tx.commit();
        return deleted;
    } catch (...) {
        forget_plans();
        throw;
    }
}

}  // namespace sms_otp::worker
