// Exact send limits for the delivery worker. Every promo message is subject to several keys at
// once ("provider:twilio", "sender:+15550001", "campaign:42"); each key may cap messages and
// segments per second, per minute and per day. Second and minute are sliding windows over the
// actual send times: no window ever holds N+1. Plain C++ without PostgreSQL, so the unit tests
// link it; one worker process owns one Throttle. Requests record their sends from the
// transport's thread (http::Multi), the worker reads and configures from its own: every
// method takes the lock.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sms_otp::worker {

// A key's limits; 0 (or less) is no limit.
struct Limits {
    int64_t per_second = 0, per_minute = 0, per_day = 0;
    int64_t segments_per_second = 0, segments_per_minute = 0, segments_per_day = 0;
    // Start of the key's current day (epoch microseconds), computed in SQL from its reset time
    // zone: the day limits count what was sent since then.
    int64_t day_start_us = 0;
};

// wait_until's answers that are not a time.
// The message has more segments than one of its keys allows at all: it can never go.
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// The day's allowance of a key is spent: only the caller, who computes day starts, knows when
// the next day begins, and configures it then.
inline constexpr int64_t kNextDay = std::numeric_limits<int64_t>::max() - 1;

// What one key still allows at an instant: messages and segments that could all go at once.
struct Room {
    int64_t messages;
    int64_t segments;
};

class Throttle {
public:
    // A send at time s occupies a window of W until s + W + margin: the provider's clock sees it
    // later than ours, by network jitter.
    explicit Throttle(int64_t margin_us = 20000);
    // A copy has the windows and day counts of the original, and a lock of its own.
    Throttle(const Throttle &other);
    Throttle &operator=(const Throttle &other);

    // Sets a key's limits (called every round; unchanged limits cost a lookup). When the day
    // start moves, the day counts become what was sent since the new start: exact when the start
    // is on a whole minute (every time zone's midnight is), else counting that minute's sends.
    void configure(const std::string &key, const Limits &limits);

    // Drops the keys not configured since the previous call that sent nothing in the last 26 hours
    // (longer than any day), so keys of finished campaigns do not pile up. Keys kept keep their
    // history: a campaign paused for a round must not get a fresh window when it resumes.
    void forget_idle(int64_t now_us);

    // 0 if a message of `segments` parts may go at now_us under all `keys`; else the earliest
    // time it may (exact: the moment enough earlier sends leave their windows), kNextDay, or
    // kNever. Keys never configured do not limit. Times are expected not to go backwards.
    int64_t wait_until(const std::vector<std::string> &keys, int64_t segments, int64_t now_us) const;

    // A send happened at at_us under `keys`. Also how the worker restores its windows and day
    // counts after a restart: sends from the log at their times, in-flight ones at now (any
    // order; configure the keys first, sends on unconfigured keys are not kept).
    void record(const std::vector<std::string> &keys, int64_t segments, int64_t at_us);

    // What `key` still allows at now_us (the least over its windows and its day); INT64_MAX for
    // no limit. Messages of more segments than a limit get nothing under it.
    Room room(const std::string &key, int64_t now_us) const;

    // How many messages of `segments_each` parts could go at now_us under all `keys`, at most cap.
    int64_t budget(const std::vector<std::string> &keys, int64_t segments_each, int64_t now_us,
                   int64_t cap) const;

    // Send times and day buckets held over all keys: memory is bounded by the limits, not by
    // the traffic (a key allowing a million a day keeps minute totals, not a million times).
    size_t held() const;

private:
    struct Sent {
        int64_t at;
        int64_t segments_through;  // segments of every send of the key up to this one
    };
    struct Minute {
        int64_t minute;  // at / 60 s, rounded down
        int64_t messages, segments;
    };
    struct Key {
        Limits limits;
        bool configured = true;  // since the last forget_idle
        int64_t kept_us = 0;     // how long sends stay in `sent`: the longest window + margin
        std::deque<Sent> sent;   // by time; what the sliding windows may still hold
        int64_t segments_before = 0;  // segments_through of the last send dropped from `sent`
        std::deque<Minute> minutes;   // sends per minute over 26 hours, to recount a moved day
        int64_t day_messages = 0, day_segments = 0;  // since limits.day_start_us
        int64_t last_at = std::numeric_limits<int64_t>::min();
    };

    void add(Key &key, int64_t segments, int64_t at_us);
    int64_t window_wait(const Key &key, int64_t span_us, int64_t messages, int64_t segments_limit,
                        int64_t segments, int64_t now_us) const;

    int64_t margin_us_;
    std::unordered_map<std::string, Key> keys_;
    mutable std::recursive_mutex mutex_;
};

// A campaign's due promo messages and the keys each of them is subject to. behind: 1 if the
// campaign was given one message fewer than the others so far (see Fed), else 0.
struct Demand {
    int64_t campaign;
    std::vector<std::string> keys;
    int64_t due;
    int64_t segments_each;
    int64_t behind = 0;
};

// Shares the keys' room at now_us among campaigns: round-robin one message at a time over the
// campaigns behind first, then in id order starting `turn` places in (so no campaign is always
// first), never beyond a key's room, a campaign's due count, or `total` in all. Every campaign
// of `demands` is in the result, with 0 if it gets nothing.
std::map<int64_t, int64_t> allocate(const Throttle &throttle, const std::vector<Demand> &demands,
                                    int64_t now_us, int64_t total, uint64_t turn);

// What allocate remembers between rounds: which campaigns got the odd message. Room that opens
// in several rounds a second would otherwise hand the odd message of each round by a rotation
// that can fall on the same campaign every second. A campaign is never more than one message
// behind: a newcomer, or a campaign that had less due, takes no backlog of credit with it.
class Fed {
   public:
    int64_t behind(int64_t campaign) const;
    // given: allocate's result; campaigns not in it are forgotten.
    void add(const std::map<int64_t, int64_t> &given);

   private:
    // The campaigns of the last round shared, each with whether it is one message behind the
    // most given. A campaign not here counts from one message behind in add(), though behind()
    // says 0 for it until then.
    std::map<int64_t, bool> behind_;
};

}  // namespace sms_otp::worker
