// The delivery worker: registered at preload, connected to sms_otp.database.
#pragma once

namespace sms_otp::worker {

void register_worker();

}  // namespace sms_otp::worker
