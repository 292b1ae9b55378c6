#include "worker/plan.h"

#include "pg/guard.h"

namespace sms_otp::worker {

using pg::pg_call;

namespace {

// Every Statement, to forget them all at once. Statements are namespace-scope objects that
// live as long as the process.
std::vector<Statement *> &registry() {
    static std::vector<Statement *> all;
    return all;
}

}  // namespace

Statement::Statement(const char *query, std::vector<Oid> types, Planning planning)
    : query_(query), types_(std::move(types)), planning_(planning) {
    registry().push_back(this);
}

int Statement::execute(const Datum *args, bool read_only, long count) {
    if (!plan_) {
        plan_ = pg_call([&] {
            int options = planning_ == Planning::Generic ? CURSOR_OPT_GENERIC_PLAN : 0;
            SPIPlanPtr plan = SPI_prepare_cursor(query_, static_cast<int>(types_.size()), types_.data(), options);
            if (!plan) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
            SPI_keepplan(plan);
            return plan;
        });
    }
    return pg_call([&] {
        int rc = SPI_execute_plan(plan_, const_cast<Datum *>(args), nullptr, read_only, count);
        if (rc < 0) elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
        return rc;
    });
}

void Statement::forget() {
    if (!plan_) return;
    SPIPlanPtr plan = plan_;
    plan_ = nullptr;
    try {
        pg_call([&] { SPI_freeplan(plan); });
    } catch (...) {
    }
}

void forget_plans() {
    for (Statement *s : registry()) s->forget();
}

std::string value(uint64 row, int col) {
    return pg_call([&] {
        char *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
        return std::string(v ? v : "");
    });
}

}  // namespace sms_otp::worker
