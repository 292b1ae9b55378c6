// A short transaction with SPI, for the worker. Aborted by the destructor unless committed,
// so an exception on the way out never leaves one open.
#pragma once

#include "pg/server.h"

extern "C" {
#include "utils/resowner.h"
}

namespace sms_otp::worker {

class Transaction {
public:
    explicit Transaction(const char *activity);
    ~Transaction();
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;
    void commit();

private:
    bool open_ = false;
};

// A subtransaction inside a Transaction (BeginInternalSubTransaction), rolled back by the
// destructor unless committed: what fails inside it undoes only its own work.
class Subtransaction {
public:
    Subtransaction();
    ~Subtransaction();
    Subtransaction(const Subtransaction &) = delete;
    Subtransaction &operator=(const Subtransaction &) = delete;
    void commit();

private:
    void restore();

    MemoryContext context_;
    ResourceOwner owner_;
    bool open_ = false;
};

}  // namespace sms_otp::worker
