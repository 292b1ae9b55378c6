// The worker's statements: each prepared on first use and kept for the worker's life
// (SPI_keepplan); PostgreSQL re-plans a kept plan by itself after DDL. After an error every
// plan is dropped (forget_plans) and made anew on its next use.
#pragma once

#include "pg/server.h"

extern "C" {
#include "executor/spi.h"
}

#include <string>
#include <vector>

namespace sms_otp::worker {

class Statement {
public:
    Statement(const char *query, std::vector<Oid> types);
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;

    // Runs it inside an open transaction with SPI connected; SPI_tuptable and SPI_processed
    // hold the rows. SPI reports some failures by its return code: those throw too.
    int execute(const Datum *args, bool read_only, long count = 0);
    void forget();

private:
    const char *query_;
    std::vector<Oid> types_;
    SPIPlanPtr plan_ = nullptr;
};

// Drop every kept plan (after an error: a plan may belong to the failed transaction's state).
void forget_plans();

// Column col (1-based) of row `row` of the last result, as text; "" for NULL.
std::string value(uint64 row, int col);

}  // namespace sms_otp::worker
