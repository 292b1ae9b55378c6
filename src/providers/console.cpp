// console: no provider at all. The worker writes the message to the server log; the default
// for local development.
#include "providers/adapters.h"

namespace sms_otp::providers {

namespace {

class Console final : public Adapter {
public:
    std::optional<http::Request> build(const Provider &, const Message &) const override { return std::nullopt; }

    // Whatever the answer (there is none): the message is in the log, so it counts as sent.
    Result interpret(const Provider &, const http::Response &) const override {
        Result out;
        out.outcome = Outcome::Sent;
        return out;
    }
};

}  // namespace

const Adapter &console_adapter() {
    static const Console adapter;
    return adapter;
}

}  // namespace sms_otp::providers
