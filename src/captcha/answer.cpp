// Reading a siteverify answer, and the form sent to get one. No PostgreSQL here.
#include "captcha/captcha.h"
#include "http/request.h"

#include <nlohmann/json.hpp>

namespace sms_otp::captcha {

const char *verdict_name(Verdict v) {
    switch (v) {
        case Verdict::Passed: return "passed";
        case Verdict::Failed: return "failed";
        case Verdict::Unavailable: break;
    }
    return "unavailable";
}

std::string form(const std::string &secret, const std::string &token, const std::string &remoteip) {
    std::string body = "secret=" + http::url_encode(secret) + "&response=" + http::url_encode(token);
    if (!remoteip.empty()) body += "&remoteip=" + http::url_encode(remoteip);
    return body;
}

Reading read_answer(long status, std::string_view body) {
    if (status != 200) return {Verdict::Unavailable, "siteverify answered HTTP " + std::to_string(status)};
    // The JSON reader takes a NUL byte for the end of input: what follows one would go unread.
    if (body.find('\0') != std::string_view::npos) return {Verdict::Unavailable, "siteverify's answer holds a NUL byte"};
    nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return {Verdict::Unavailable, "siteverify's answer is not a JSON object"};
    auto success = doc.find("success");
    if (success == doc.end() || !success->is_boolean())
        return {Verdict::Unavailable, "siteverify's answer has no boolean success"};
    if (success->get<bool>()) return {Verdict::Passed, ""};
    // Error codes that say the fault is ours or the verifier's, not the token's: the client can
    // do nothing about them, and they must not read as "your token is wrong".
    std::string codes;
    bool ours = false;
    auto errors = doc.find("error-codes");
    if (errors != doc.end() && errors->is_array()) {
        for (const auto &e : *errors) {
            if (!e.is_string()) continue;
            const std::string &c = e.get_ref<const std::string &>();
            if (c == "missing-input-secret" || c == "invalid-input-secret" || c == "internal-error") ours = true;
            if (codes.size() < 200) codes += (codes.empty() ? "" : ",") + c.substr(0, 64);
        }
    }
    return {ours ? Verdict::Unavailable : Verdict::Failed, "siteverify refused the token: " + (codes.empty() ? "no error code" : codes)};
}

}  // namespace sms_otp::captcha
