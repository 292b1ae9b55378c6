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

// How a statement with parameters is planned. Custom: at each execution, for the values it
// gets (PostgreSQL's default; the claim's limits decide its row estimates). Generic: once, for
// any values: what the results statements take, whose parameters are documents that a
// custom plan would only parse once more to plan them.
enum class Planning { Custom, Generic };

class Statement {
public:
    Statement(const char *query, std::vector<Oid> types, Planning planning = Planning::Custom);
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;

    // Runs it inside an open transaction with SPI connected; SPI_tuptable and SPI_processed
    // hold the rows. SPI reports some failures by its return code: those throw too.
    int execute(const Datum *args, bool read_only, long count = 0);
    void forget();

private:
    const char *query_;
    std::vector<Oid> types_;
    Planning planning_;
    SPIPlanPtr plan_ = nullptr;
};

// Drop every kept plan (after an error: a plan may belong to the failed transaction's state).
void forget_plans();

// Column col (1-based) of row `row` of the last result, as text; "" for NULL.
std::string value(uint64 row, int col);

}  // namespace sms_otp::worker
