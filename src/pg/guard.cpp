#include "pg/guard.h"

namespace sms_otp::pg::detail {

void raise_caught(ErrorData *pg, int sqlstate, const char *message) {
    if (pg) ReThrowError(pg);
    ereport(ERROR, (errcode(sqlstate), errmsg("%s", message)));
    pg_unreachable();
}

}  // namespace sms_otp::pg::detail
