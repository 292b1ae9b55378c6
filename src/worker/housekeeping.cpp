#include "worker/housekeeping.h"

#include "worker/plan.h"
#include "worker/transaction.h"

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

}  // namespace

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
