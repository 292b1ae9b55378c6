// A short transaction with SPI, for the worker. Aborted by the destructor unless committed,
// so an exception on the way out never leaves one open.
#pragma once

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

}  // namespace sms_otp::worker
