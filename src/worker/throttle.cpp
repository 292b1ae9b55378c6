#include "worker/throttle.h"

#include <algorithm>
#include <array>
#include <unordered_set>

namespace sms_otp::worker {

namespace {

constexpr int64_t kSecond = 1000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();
// Minute totals kept for recounting a moved day start: a day is at most 25 hours (DST).
constexpr int64_t kHistoryMinutes = 26 * 60;

// An empty text still goes as one SMS.
int64_t parts(int64_t segments) { return std::max<int64_t>(segments, 1); }

bool limited(int64_t limit) { return limit > 0; }

bool has_day(const Limits &l) { return limited(l.per_day) || limited(l.segments_per_day); }

int64_t minute_of(int64_t at_us) {
    int64_t m = at_us / kMinute;
    return at_us % kMinute < 0 ? m - 1 : m;  // floor, for times before 1970 too
}

struct Window {
    int64_t span_us;
    int64_t messages, segments;  // limits
};

// The key's sliding windows, as long as they stay in effect (W + margin).
std::array<Window, 2> windows(const Limits &l, int64_t margin_us) {
    return {Window{kSecond + margin_us, l.per_second, l.segments_per_second},
            Window{kMinute + margin_us, l.per_minute, l.segments_per_minute}};
}

}  // namespace

Throttle::Throttle(int64_t margin_us) : margin_us_(std::max<int64_t>(margin_us, 0)) {}

Throttle::Throttle(const Throttle &other) {
    std::lock_guard<std::recursive_mutex> lock(other.mutex_);
    margin_us_ = other.margin_us_;
    keys_ = other.keys_;
}

Throttle &Throttle::operator=(const Throttle &other) {
    if (this == &other) return *this;
    std::scoped_lock lock(mutex_, other.mutex_);
    margin_us_ = other.margin_us_;
    keys_ = other.keys_;
    return *this;
}

void Throttle::configure(const std::string &name, const Limits &limits) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    auto [it, fresh] = keys_.try_emplace(name);
    Key &key = it->second;
    bool day_moved = fresh || limits.day_start_us != key.limits.day_start_us;
    key.limits = limits;
    key.configured = true;

    key.kept_us = limited(limits.per_minute) || limited(limits.segments_per_minute) ? kMinute + margin_us_
                  : limited(limits.per_second) || limited(limits.segments_per_second) ? kSecond + margin_us_
                                                                                        : 0;
    if (key.kept_us == 0 && !key.sent.empty()) {
        key.segments_before = key.sent.back().segments_through;
        key.sent.clear();
    }

    if (!has_day(limits)) {
        key.minutes.clear();
        key.day_messages = key.day_segments = 0;
    } else if (day_moved) {
        // Every minute that ends after the new start counts: exact for a start on a whole minute.
        key.day_messages = key.day_segments = 0;
        for (auto m = key.minutes.rbegin(); m != key.minutes.rend() && (m->minute + 1) * kMinute > limits.day_start_us;
             ++m) {
            key.day_messages += m->messages;
            key.day_segments += m->segments;
        }
    }
}

void Throttle::forget_idle(int64_t now_us) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    for (auto it = keys_.begin(); it != keys_.end();) {
        Key &key = it->second;
        if (!key.configured && key.last_at <= now_us - kHistoryMinutes * kMinute) {
            it = keys_.erase(it);
            continue;
        }
        // An idle key's old sends go too (record prunes only the keys it is given).
        while (!key.sent.empty() && key.sent.front().at <= now_us - key.kept_us) {
            key.segments_before = key.sent.front().segments_through;
            key.sent.pop_front();
        }
        key.configured = false;
        ++it;
    }
}

int64_t Throttle::window_wait(const Key &key, int64_t span_us, int64_t messages, int64_t segments_limit,
                              int64_t segments, int64_t now_us) const {
    const auto &sent = key.sent;
    int64_t until = 0;
    // The N-th newest send must have left: then at most N-1 remain with the new one.
    if (limited(messages) && sent.size() >= static_cast<size_t>(messages))
        until = sent[sent.size() - static_cast<size_t>(messages)].at + span_us;
    if (limited(segments_limit)) {
        auto first = std::upper_bound(sent.begin(), sent.end(), now_us - span_us,
                                      [](int64_t t, const Sent &s) { return t < s.at; });
        int64_t before = first == sent.begin() ? key.segments_before : std::prev(first)->segments_through;
        int64_t inside = (sent.empty() ? key.segments_before : sent.back().segments_through) - before;
        int64_t excess = inside + segments - segments_limit;
        if (excess > 0) {
            // The oldest sends inside whose segments add up to the excess must have left.
            auto last = std::lower_bound(first, sent.end(), before + excess,
                                         [](const Sent &s, int64_t v) { return s.segments_through < v; });
            until = std::max(until, last->at + span_us);
        }
    }
    return until;
}

int64_t Throttle::wait_until(const std::vector<std::string> &names, int64_t segments, int64_t now_us) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    segments = parts(segments);
    int64_t until = 0;
    bool next_day = false;
    for (const auto &name : names) {
        auto it = keys_.find(name);
        if (it == keys_.end()) continue;
        const Key &key = it->second;
        const Limits &l = key.limits;
        for (int64_t limit : {l.segments_per_second, l.segments_per_minute, l.segments_per_day})
            if (limited(limit) && segments > limit) return kNever;
        if ((limited(l.per_day) && key.day_messages + 1 > l.per_day) ||
            (limited(l.segments_per_day) && key.day_segments + segments > l.segments_per_day))
            next_day = true;
        for (const Window &w : windows(l, margin_us_))
            until = std::max(until, window_wait(key, w.span_us, w.messages, w.segments, segments, now_us));
    }
    if (next_day) return kNextDay;
    return until > now_us ? until : 0;
}

void Throttle::add(Key &key, int64_t segments, int64_t at_us) {
    key.last_at = std::max(key.last_at, at_us);

    auto &sent = key.sent;
    if (key.kept_us > 0) {
        if (sent.empty() || at_us >= sent.back().at) {
            int64_t through = (sent.empty() ? key.segments_before : sent.back().segments_through) + segments;
            sent.push_back({at_us, through});
            while (sent.front().at <= at_us - key.kept_us) {
                key.segments_before = sent.front().segments_through;
                sent.pop_front();
            }
        } else if (at_us > sent.back().at - key.kept_us) {
            // Out of order (restoring from the log): insert, and carry its segments to later sends.
            auto pos = std::upper_bound(sent.begin(), sent.end(), at_us,
                                        [](int64_t t, const Sent &s) { return t < s.at; });
            int64_t before = pos == sent.begin() ? key.segments_before : std::prev(pos)->segments_through;
            pos = sent.insert(pos, {at_us, before + segments});
            for (++pos; pos != sent.end(); ++pos) pos->segments_through += segments;
        }
    }

    if (!has_day(key.limits)) return;
    auto &minutes = key.minutes;
    int64_t m = minute_of(at_us);
    if (minutes.empty() || m > minutes.back().minute) {
        minutes.push_back({m, 1, segments});
        while (minutes.front().minute <= m - kHistoryMinutes) minutes.pop_front();
    } else if (m == minutes.back().minute) {
        minutes.back().messages += 1;
        minutes.back().segments += segments;
    } else if (m > minutes.back().minute - kHistoryMinutes) {
        auto pos = std::lower_bound(minutes.begin(), minutes.end(), m,
                                    [](const Minute &b, int64_t v) { return b.minute < v; });
        if (pos == minutes.end() || pos->minute != m) pos = minutes.insert(pos, {m, 0, 0});
        pos->messages += 1;
        pos->segments += segments;
    }
    if (at_us >= key.limits.day_start_us) {
        key.day_messages += 1;
        key.day_segments += segments;
    }
}

void Throttle::record(const std::vector<std::string> &names, int64_t segments, int64_t at_us) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    segments = parts(segments);
    for (const auto &name : names) {
        auto it = keys_.find(name);
        if (it != keys_.end()) add(it->second, segments, at_us);
    }
}

Room Throttle::room(const std::string &name, int64_t now_us) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    Room room{kUnlimited, kUnlimited};
    auto it = keys_.find(name);
    if (it == keys_.end()) return room;
    const Key &key = it->second;
    const auto &sent = key.sent;
    const Limits &l = key.limits;
    for (const Window &w : windows(l, margin_us_)) {
        if (!limited(w.messages) && !limited(w.segments)) continue;
        auto first = std::upper_bound(sent.begin(), sent.end(), now_us - w.span_us,
                                      [](int64_t t, const Sent &s) { return t < s.at; });
        int64_t before = first == sent.begin() ? key.segments_before : std::prev(first)->segments_through;
        int64_t inside = (sent.empty() ? key.segments_before : sent.back().segments_through) - before;
        if (limited(w.messages)) room.messages = std::min<int64_t>(room.messages, w.messages - (sent.end() - first));
        if (limited(w.segments)) room.segments = std::min(room.segments, w.segments - inside);
    }
    if (limited(l.per_day)) room.messages = std::min(room.messages, l.per_day - key.day_messages);
    if (limited(l.segments_per_day)) room.segments = std::min(room.segments, l.segments_per_day - key.day_segments);
    room.messages = std::max<int64_t>(room.messages, 0);
    room.segments = std::max<int64_t>(room.segments, 0);
    return room;
}

int64_t Throttle::budget(const std::vector<std::string> &names, int64_t segments_each, int64_t now_us,
                         int64_t cap) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    segments_each = parts(segments_each);
    int64_t n = std::max<int64_t>(cap, 0);
    for (const auto &name : names) {
        Room r = room(name, now_us);
        n = std::min({n, r.messages, r.segments / segments_each});
    }
    return n;
}

size_t Throttle::held() const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    size_t n = 0;
    for (const auto &[name, key] : keys_) n += key.sent.size() + key.minutes.size();
    return n;
}

std::map<int64_t, int64_t> allocate(const Throttle &throttle, const std::vector<Demand> &demands, int64_t now_us,
                                    int64_t total, uint64_t turn) {
    struct Share {
        int64_t campaign;
        std::vector<size_t> keys;  // into rooms
        int64_t left;              // due, not yet given
        int64_t segments;
        bool behind;
        int64_t given = 0;
    };
    std::unordered_map<std::string, size_t> index;
    std::vector<Room> rooms;
    std::vector<Share> shares;
    for (const Demand &d : demands) {
        Share s{d.campaign, {}, std::max<int64_t>(d.due, 0), parts(d.segments_each), d.behind > 0};
        for (const auto &name : std::unordered_set<std::string>(d.keys.begin(), d.keys.end())) {
            auto [it, fresh] = index.try_emplace(name, rooms.size());
            if (fresh) rooms.push_back(throttle.room(name, now_us));
            s.keys.push_back(it->second);
        }
        shares.push_back(std::move(s));
    }
    // Id order, so the result does not depend on the order of the caller's rows; then rotated.
    std::stable_sort(shares.begin(), shares.end(), [](const Share &a, const Share &b) { return a.campaign < b.campaign; });
    if (!shares.empty()) std::rotate(shares.begin(), shares.begin() + turn % shares.size(), shares.end());
    std::stable_partition(shares.begin(), shares.end(), [](const Share &s) { return s.behind; });

    auto fits = [&](const Share &s) {
        for (size_t k : s.keys)
            if (rooms[k].messages < 1 || rooms[k].segments < s.segments) return false;
        return true;
    };
    auto give = [&](Share &s, int64_t n) {
        s.given += n;
        s.left -= n;
        total -= n;
        for (size_t k : s.keys) {
            rooms[k].messages -= n;
            rooms[k].segments -= n * s.segments;
        }
    };

    // A campaign that cannot take one more never will (rooms only shrink): it leaves the ring.
    // Whole rounds are given at once, then one round message by message; each such step ends the
    // allocation or drops a campaign, so the cost does not grow with the number of messages.
    std::vector<Share *> ring;
    for (auto &s : shares) ring.push_back(&s);
    total = std::max<int64_t>(total, 0);
    while (!ring.empty() && total > 0) {
        int64_t rounds = total / static_cast<int64_t>(ring.size());
        std::vector<int64_t> users(rooms.size(), 0), segments(rooms.size(), 0);
        for (const Share *s : ring) {
            rounds = std::min(rounds, s->left);
            for (size_t k : s->keys) {
                users[k] += 1;
                segments[k] += s->segments;
            }
        }
        for (size_t k = 0; k < rooms.size(); k++)
            if (users[k] > 0) rounds = std::min({rounds, rooms[k].messages / users[k], rooms[k].segments / segments[k]});
        if (rounds > 0)
            for (Share *s : ring) give(*s, rounds);

        std::vector<Share *> still;
        for (Share *s : ring) {
            if (total == 0) break;
            if (s->left == 0 || !fits(*s)) continue;
            give(*s, 1);
            still.push_back(s);
        }
        ring = std::move(still);
    }

    std::map<int64_t, int64_t> out;
    for (const Share &s : shares) out[s.campaign] += s.given;
    return out;
}

int64_t Fed::behind(int64_t campaign) const {
    auto it = behind_.find(campaign);
    return it != behind_.end() && it->second ? 1 : 0;
}

void Fed::add(const std::map<int64_t, int64_t> &given) {
    // Counted from what is remembered: 0 one message behind (or new), 1 level with the most.
    std::map<int64_t, int64_t> total;
    int64_t most = std::numeric_limits<int64_t>::min();
    for (const auto &[campaign, n] : given) {
        auto it = behind_.find(campaign);
        int64_t t = (it == behind_.end() || it->second ? 0 : 1) + n;
        total[campaign] = t;
        most = std::max(most, t);
    }
    behind_.clear();
    for (const auto &[campaign, t] : total) behind_[campaign] = t < most;
}

}  // namespace sms_otp::worker
