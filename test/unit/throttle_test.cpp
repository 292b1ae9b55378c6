// The delivery worker's send limits (src/worker/throttle): sliding second and minute windows
// widened by the margin, exact to the microsecond, for messages and segments; day counts that
// follow a moved day start; bounded memory; and the fair shares of allocate(). A randomized
// simulation checks every answer against a brute-force count over all sends.
#include "worker/throttle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace sms_otp::worker;

constexpr int64_t kSecond = 1000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kDay = 24 * 60 * kMinute;
constexpr int64_t kMargin = 20000;        // the default
constexpr int64_t T0 = 1700000040 * kSecond;  // on a whole minute, as a day start is

const std::string kProvider = "provider:twilio";
const std::vector<std::string> P = {kProvider};

Throttle with(const std::string &key, const Limits &limits, int64_t margin = kMargin) {
    Throttle t(margin);
    t.configure(key, limits);
    return t;
}

// --- sliding windows -----------------------------------------------------------------------

TEST(Throttle, PerSecondFiveThenTheSixthWaitsASecondAndTheMargin) {
    Limits l;
    l.per_second = 5;
    Throttle t = with(kProvider, l);
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(t.wait_until(P, 1, T0), 0) << "send " << i + 1;
        t.record(P, 1, T0);
    }
    EXPECT_EQ(t.wait_until(P, 1, T0), T0 + kSecond + kMargin);
    EXPECT_EQ(t.wait_until(P, 1, T0 + kSecond), T0 + kSecond + kMargin);
    EXPECT_EQ(t.wait_until(P, 1, T0 + kSecond + kMargin - 1), T0 + kSecond + kMargin);
    EXPECT_EQ(t.wait_until(P, 1, T0 + kSecond + kMargin), 0);
    EXPECT_EQ(t.budget(P, 1, T0 + kSecond + kMargin, 100), 5);

    Throttle plain = with(kProvider, l, 0);
    for (int i = 0; i < 5; i++) plain.record(P, 1, T0);
    EXPECT_EQ(plain.wait_until(P, 1, T0), T0 + kSecond);
}

TEST(Throttle, SlidingNotFixedSecond) {
    Limits l;
    l.per_second = 2;
    Throttle t = with(kProvider, l);
    t.record(P, 1, T0);
    t.record(P, 1, T0 + kSecond / 2);
    EXPECT_EQ(t.wait_until(P, 1, T0 + kSecond / 2 + 100000), T0 + kSecond + kMargin);
    EXPECT_EQ(t.wait_until(P, 1, T0 + kSecond + kMargin), 0);
    t.record(P, 1, T0 + kSecond + kMargin);
    // Now the window's oldest is the send at 0.5 s.
    EXPECT_EQ(t.wait_until(P, 1, T0 + kSecond + kMargin), T0 + kSecond / 2 + kSecond + kMargin);

    // A send one microsecond before the first one leaves: the first still counts until then.
    Throttle edge = with(kProvider, l);
    edge.record(P, 1, T0);
    edge.record(P, 1, T0 + kSecond + kMargin - 1);
    EXPECT_EQ(edge.wait_until(P, 1, T0 + kSecond + kMargin - 1), T0 + kSecond + kMargin);
}

TEST(Throttle, PerMinuteSegments) {
    Limits l;
    l.segments_per_minute = 10;
    Throttle t = with(kProvider, l);
    t.record(P, 3, T0);
    t.record(P, 3, T0 + 10 * kSecond);
    t.record(P, 3, T0 + 20 * kSecond);
    int64_t now = T0 + 30 * kSecond;
    EXPECT_EQ(t.wait_until(P, 3, now), T0 + kMinute + kMargin);
    EXPECT_EQ(t.budget(P, 3, now, 100), 0);
    EXPECT_EQ(t.budget(P, 1, now, 100), 1);
    ASSERT_EQ(t.wait_until(P, 1, now), 0);
    t.record(P, 1, now);
    // 10 held: three segments free once the first send leaves, five only once the second does.
    EXPECT_EQ(t.wait_until(P, 1, now), T0 + kMinute + kMargin);
    EXPECT_EQ(t.wait_until(P, 3, now), T0 + kMinute + kMargin);
    EXPECT_EQ(t.wait_until(P, 5, now), T0 + 10 * kSecond + kMinute + kMargin);
    EXPECT_EQ(t.wait_until(P, 7, now), T0 + 20 * kSecond + kMinute + kMargin);
    EXPECT_EQ(t.wait_until(P, 10, now), now + kMinute + kMargin);
    EXPECT_EQ(t.wait_until(P, 11, now), kNever);
    EXPECT_EQ(t.wait_until(P, 11, now + kDay), kNever);
}

TEST(Throttle, EveryKeyAndWindowCounts) {
    Limits provider, campaign;
    provider.per_second = 100;
    campaign.per_minute = 2;
    Throttle t;
    t.configure(kProvider, provider);
    t.configure("campaign:42", campaign);
    const std::vector<std::string> both = {kProvider, "campaign:42"};
    t.record(both, 1, T0);
    t.record(both, 1, T0 + kSecond);
    EXPECT_EQ(t.wait_until(both, 1, T0 + 2 * kSecond), T0 + kMinute + kMargin);
    EXPECT_EQ(t.wait_until(P, 1, T0 + 2 * kSecond), 0);
    EXPECT_EQ(t.wait_until({"campaign:7"}, 1, T0 + 2 * kSecond), 0);  // never configured
    EXPECT_EQ(t.budget(both, 1, T0 + 2 * kSecond, 1000), 0);
    EXPECT_EQ(t.budget(P, 1, T0 + 2 * kSecond, 1000), 99);
}

// --- days ------------------------------------------------------------------------------------

TEST(Throttle, DayCountFollowsTheMovedDayStart) {
    Limits l;
    l.per_day = 3;
    l.segments_per_day = 100;
    l.day_start_us = T0;
    Throttle t = with(kProvider, l);
    const int64_t next = T0 + kDay;
    t.record(P, 2, next - kSecond);  // still yesterday
    t.record(P, 2, next + kSecond);
    t.record(P, 2, next + 2 * kSecond);
    EXPECT_EQ(t.wait_until(P, 1, next + 3 * kSecond), kNextDay);  // the old day holds three

    l.day_start_us = next;  // the round after midnight
    t.configure(kProvider, l);
    EXPECT_EQ(t.room(kProvider, next + 3 * kSecond).messages, 1);
    EXPECT_EQ(t.room(kProvider, next + 3 * kSecond).segments, 96);
    ASSERT_EQ(t.wait_until(P, 1, next + 3 * kSecond), 0);
    t.record(P, 1, next + 3 * kSecond);
    EXPECT_EQ(t.wait_until(P, 1, next + 4 * kSecond), kNextDay);
    EXPECT_EQ(t.budget(P, 1, next + 4 * kSecond, 10), 0);

    // Configuring the same start again changes nothing.
    t.configure(kProvider, l);
    EXPECT_EQ(t.wait_until(P, 1, next + 4 * kSecond), kNextDay);
    EXPECT_EQ(t.wait_until(P, 101, next + 4 * kSecond), kNever);
}

TEST(Throttle, DaySegments) {
    Limits l;
    l.segments_per_day = 10;
    l.day_start_us = T0;
    Throttle t = with(kProvider, l);
    t.record(P, 4, T0 + kSecond);
    t.record(P, 4, T0 + 2 * kSecond);
    EXPECT_EQ(t.wait_until(P, 2, T0 + kMinute), 0);
    EXPECT_EQ(t.wait_until(P, 3, T0 + kMinute), kNextDay);
    t.record(P, 1, T0 - kSecond);  // before the day: not counted
    EXPECT_EQ(t.wait_until(P, 2, T0 + kMinute), 0);
}

TEST(Throttle, DayStartOffTheMinuteCountsThatWholeMinute) {
    // Documented: exact on whole minutes; otherwise that minute's earlier sends count too.
    Limits l;
    l.per_day = 10;
    l.day_start_us = T0;
    Throttle t = with(kProvider, l);
    t.record(P, 1, T0 + kDay + kSecond);
    t.record(P, 1, T0 + kDay + 40 * kSecond);
    l.day_start_us = T0 + kDay + 30 * kSecond;
    t.configure(kProvider, l);
    EXPECT_EQ(t.room(kProvider, T0 + kDay + 50 * kSecond).messages, 8);
}

// --- restore, memory, idle keys ---------------------------------------------------------------

TEST(Throttle, RecordInAnyOrderGivesTheSameAnswers) {
    Limits l;
    l.per_second = 4;
    l.segments_per_second = 9;
    l.per_minute = 20;
    l.segments_per_minute = 40;
    l.per_day = 50;
    l.day_start_us = T0;
    std::vector<std::pair<int64_t, int64_t>> sends;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 25; i++)
        sends.push_back({T0 + static_cast<int64_t>(rng() % (30 * kSecond)), 1 + static_cast<int64_t>(rng() % 3)});
    std::vector<std::pair<int64_t, int64_t>> ascending = sends;
    std::sort(ascending.begin(), ascending.end());

    Throttle in_order = with(kProvider, l), shuffled = with(kProvider, l);
    for (auto [at, seg] : ascending) in_order.record(P, seg, at);
    for (auto [at, seg] : sends) shuffled.record(P, seg, at);
    int64_t waits = 0;
    for (int64_t now = ascending.back().first; now < ascending.back().first + 2 * kMinute; now += 250000)
        for (int64_t seg = 1; seg <= 4; seg++) {
            waits += in_order.wait_until(P, seg, now) != 0;
            ASSERT_EQ(in_order.wait_until(P, seg, now), shuffled.wait_until(P, seg, now)) << now - T0 << " " << seg;
            ASSERT_EQ(in_order.budget(P, seg, now, 1000), shuffled.budget(P, seg, now, 1000));
        }
    EXPECT_GT(waits, 100);  // the limits bind, so a send left out would show
}

TEST(Throttle, MemoryFollowsTheWindowsNotTheDay) {
    Limits l;
    l.per_second = 1000;
    l.per_day = 1000000;
    l.day_start_us = T0;
    Throttle t = with(kProvider, l);
    for (int64_t i = 0; i < 1000000; i++) t.record(P, 1, T0 + i * 1000);  // 1000 s at 1000/s
    // One second and the margin of send times, and one total per minute.
    EXPECT_LE(t.held(), 1020u + 1 + 17);
    EXPECT_EQ(t.room(kProvider, T0 + 1000 * kSecond).messages, 0);
    EXPECT_EQ(t.wait_until(P, 1, T0 + 2000 * kSecond), kNextDay);
}

TEST(Throttle, ForgetIdleKeepsRecentHistory) {
    Limits l;
    l.per_second = 1;
    l.segments_per_day = 5;
    l.day_start_us = T0;
    Throttle t;
    t.configure("a", l);
    t.configure("b", l);
    t.record({"a", "b"}, 1, T0);
    t.forget_idle(T0);
    t.configure("a", l);  // "b" paused for a round
    t.forget_idle(T0 + 1);
    EXPECT_EQ(t.wait_until({"b"}, 1, T0 + 1), T0 + kSecond + kMargin);
    t.forget_idle(T0 + 2 * 60 * kMinute);  // hours later its day still holds that send
    EXPECT_EQ(t.room("b", T0 + 2 * 60 * kMinute).segments, 4);
    t.forget_idle(T0 + 27 * 60 * kMinute);
    EXPECT_EQ(t.wait_until({"a"}, 1, T0 + 1), 0);
    EXPECT_EQ(t.wait_until({"b"}, 1, T0 + 1), 0);
    EXPECT_EQ(t.held(), 0u);
}

TEST(Throttle, BudgetMatchesSimulatedSends) {
    Limits provider, campaign;
    provider.per_second = 10;
    provider.segments_per_second = 25;
    campaign.per_minute = 7;
    campaign.per_day = 40;
    campaign.day_start_us = T0;
    Throttle t;
    t.configure(kProvider, provider);
    t.configure("campaign:1", campaign);
    const std::vector<std::string> keys = {kProvider, "campaign:1"};
    t.record(keys, 2, T0 + 100);
    t.record(P, 3, T0 + 500000);
    for (int64_t seg = 1; seg <= 5; seg++) {
        for (int64_t now : {T0 + 600000, T0 + kSecond + 150, T0 + 2 * kSecond}) {
            Throttle copy = t;
            int64_t sent = 0;
            while (sent < 100 && copy.wait_until(keys, seg, now) == 0) {
                copy.record(keys, seg, now);
                sent++;
            }
            EXPECT_EQ(t.budget(keys, seg, now, 100), sent) << seg << " segments at " << now - T0;
            EXPECT_EQ(t.budget(keys, seg, now, 2), std::min<int64_t>(sent, 2));
        }
    }
}

// --- randomized: every answer against a brute-force count over all sends ---------------------

struct Reference {
    struct Log {
        Limits limits;
        std::vector<std::pair<int64_t, int64_t>> sends;  // (time, segments), in time order
    };
    std::map<std::string, Log> keys;
    int64_t margin;

    // Would a send at t break a sliding window (W + margin) of any key? All sends are <= t, so
    // the fullest window holding t is the one ending at t.
    bool sliding_ok(const std::vector<std::string> &names, int64_t seg, int64_t t) const {
        for (const auto &name : names) {
            const Log &k = keys.at(name);
            int64_t sec_n = 0, sec_s = 0, min_n = 0, min_s = 0;
            for (auto it = k.sends.rbegin(); it != k.sends.rend() && it->first > t - kMinute - margin; ++it) {
                min_n++, min_s += it->second;
                if (it->first > t - kSecond - margin) sec_n++, sec_s += it->second;
            }
            const Limits &l = k.limits;
            if ((l.per_second && sec_n + 1 > l.per_second) || (l.segments_per_second && sec_s + seg > l.segments_per_second) ||
                (l.per_minute && min_n + 1 > l.per_minute) || (l.segments_per_minute && min_s + seg > l.segments_per_minute))
                return false;
        }
        return true;
    }
    bool day_ok(const std::vector<std::string> &names, int64_t seg) const {
        for (const auto &name : names) {
            const Log &k = keys.at(name);
            const Limits &l = k.limits;
            if (!l.per_day && !l.segments_per_day) continue;
            int64_t n = 0, s = 0;
            for (auto it = k.sends.rbegin(); it != k.sends.rend() && it->first >= l.day_start_us; ++it) n++, s += it->second;
            if ((l.per_day && n + 1 > l.per_day) || (l.segments_per_day && s + seg > l.segments_per_day)) return false;
        }
        return true;
    }
    bool fits_at_all(const std::vector<std::string> &names, int64_t seg) const {
        for (const auto &name : names) {
            const Limits &l = keys.at(name).limits;
            for (int64_t limit : {l.segments_per_second, l.segments_per_minute, l.segments_per_day})
                if (limit && seg > limit) return false;
        }
        return true;
    }
};

constexpr int64_t kTestDay = 2 * kMinute;  // days of two minutes, to cross many of them

Limits random_limits(std::mt19937_64 &rng) {
    auto maybe = [&](int64_t low, int64_t span) { return rng() % 2 ? low + static_cast<int64_t>(rng() % span) : 0; };
    Limits l;
    l.per_second = maybe(1, 8);
    l.per_minute = maybe(5, 100);
    l.per_day = maybe(20, 300);
    l.segments_per_second = maybe(3, 15);
    l.segments_per_minute = maybe(10, 200);
    l.segments_per_day = maybe(50, 800);
    l.day_start_us = T0;
    return l;
}

struct Tally {
    int64_t sent = 0, waited = 0, at_the_microsecond = 0, next_day = 0, never = 0, budgets = 0;
};

void simulate(uint64_t seed, int attempts, Tally &tally) {
    std::mt19937_64 rng(seed);
    const int64_t margins[] = {0, kMargin, 1500, 250000};
    const int64_t margin = margins[rng() % 4];
    const std::vector<std::string> names = {"provider", "sender", "campaign"};
    Throttle t(margin);
    Reference ref{{}, margin};
    for (const auto &name : names) {
        Limits l = random_limits(rng);
        t.configure(name, l);
        ref.keys[name].limits = l;
    }
    std::vector<int64_t> day_starts = {T0};
    int64_t configure_at = -1;  // the round that learns of the new day, some seconds after it begins

    int64_t now = T0;
    for (int i = 0; i < attempts; i++) {
        switch (rng() % 10) {
            case 0: case 1: case 2: break;  // same instant
            case 8: now += static_cast<int64_t>(rng() % (2 * kSecond)); break;
            case 9: now += static_cast<int64_t>(rng() % (10 * kSecond)); break;
            default: now += static_cast<int64_t>(rng() % 50000);
        }
        if (now >= day_starts.back() + kTestDay && configure_at < 0) {
            day_starts.push_back(day_starts.back() + kTestDay);
            configure_at = now + static_cast<int64_t>(rng() % (10 * kSecond));
        }
        if (configure_at >= 0 && now >= configure_at) {
            configure_at = -1;
            for (auto &[name, log] : ref.keys) {
                log.limits.day_start_us = day_starts.back();
                t.configure(name, log.limits);
            }
        } else if (rng() % 50 == 0) {
            for (auto &[name, log] : ref.keys) t.configure(name, log.limits);  // a round, nothing changed
        }

        std::vector<std::string> keys;
        uint64_t mask = 1 + rng() % 7;
        for (size_t k = 0; k < names.size(); k++)
            if (mask & (1u << k)) keys.push_back(names[k]);
        int64_t seg = 1 + static_cast<int64_t>(rng() % (rng() % 20 ? 4 : 20));  // now and then a long text

        if (rng() % 100 == 0) {
            Throttle copy = t;
            int64_t expected = t.budget(keys, seg, now, 40), sent = 0;
            while (sent <= 40 && copy.wait_until(keys, seg, now) == 0) {
                copy.record(keys, seg, now);
                sent++;
            }
            ASSERT_EQ(expected, std::min<int64_t>(sent, 40)) << "seed " << seed << " attempt " << i;
            tally.budgets++;
        }

        int64_t w = t.wait_until(keys, seg, now);
        bool sliding = ref.sliding_ok(keys, seg, now), day = ref.day_ok(keys, seg);
        if (!ref.fits_at_all(keys, seg)) {
            ASSERT_EQ(w, kNever) << "seed " << seed << " attempt " << i;
            tally.never++;
            continue;
        }
        if (!day) {
            ASSERT_EQ(w, kNextDay) << "seed " << seed << " attempt " << i;
            tally.next_day++;
            continue;
        }
        if (!sliding) {
            // Denied only when sending now would break a window, and exactly until it would not.
            ASSERT_GT(w, now) << "seed " << seed << " attempt " << i;
            ASSERT_TRUE(ref.sliding_ok(keys, seg, w)) << "seed " << seed << " attempt " << i;
            ASSERT_FALSE(ref.sliding_ok(keys, seg, w - 1)) << "seed " << seed << " attempt " << i;
            tally.waited++;
            if (rng() % 2) continue;
            now = w;  // the worker sleeps until then and sends
            ASSERT_EQ(t.wait_until(keys, seg, now), 0) << "seed " << seed << " attempt " << i;
            tally.at_the_microsecond++;
        } else {
            ASSERT_EQ(w, 0) << "seed " << seed << " attempt " << i;
        }
        t.record(keys, seg, now);
        for (const auto &k : keys) ref.keys[k].sends.push_back({now, seg});
        tally.sent++;
    }

    // Every window of every key, over everything sent: W + margin (which implies W) and each day.
    for (const auto &[name, log] : ref.keys) {
        const Limits &l = log.limits;
        const auto &s = log.sends;
        for (size_t j = 0; j < s.size(); j++) {
            int64_t sec_n = 0, sec_s = 0, min_n = 0, min_s = 0;
            for (size_t i = j + 1; i-- > 0 && s[i].first > s[j].first - kMinute - margin;) {
                min_n++, min_s += s[i].second;
                if (s[i].first > s[j].first - kSecond - margin) sec_n++, sec_s += s[i].second;
            }
            if (l.per_second) { ASSERT_LE(sec_n, l.per_second) << "seed " << seed << " " << name; }
            if (l.segments_per_second) { ASSERT_LE(sec_s, l.segments_per_second) << "seed " << seed << " " << name; }
            if (l.per_minute) { ASSERT_LE(min_n, l.per_minute) << "seed " << seed << " " << name; }
            if (l.segments_per_minute) { ASSERT_LE(min_s, l.segments_per_minute) << "seed " << seed << " " << name; }
        }
        for (int64_t start : day_starts) {
            int64_t n = 0, segs = 0;
            for (auto [at, seg] : s)
                if (at >= start && at < start + kTestDay) n++, segs += seg;
            if (l.per_day) { ASSERT_LE(n, l.per_day) << "seed " << seed << " " << name; }
            if (l.segments_per_day) { ASSERT_LE(segs, l.segments_per_day) << "seed " << seed << " " << name; }
        }
    }
}

TEST(ThrottleProperty, HundredThousandRandomAttemptsAgainstBruteForce) {
    Tally tally;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        simulate(seed, 5000, tally);
        if (HasFatalFailure()) return;
    }
    // Not vacuous: every kind of answer was checked many times.
    std::printf("sent %lld, waited %lld (then sent at that microsecond %lld), next day %lld, never %lld, budgets %lld\n",
                static_cast<long long>(tally.sent), static_cast<long long>(tally.waited),
                static_cast<long long>(tally.at_the_microsecond), static_cast<long long>(tally.next_day),
                static_cast<long long>(tally.never), static_cast<long long>(tally.budgets));
    EXPECT_GT(tally.sent, 10000);
    EXPECT_GT(tally.waited, 10000);
    EXPECT_GT(tally.at_the_microsecond, 5000);
    EXPECT_GT(tally.next_day, 100);
    EXPECT_GT(tally.never, 100);
    EXPECT_GT(tally.budgets, 500);
}

// --- allocate --------------------------------------------------------------------------------

Throttle provider_per_second(int64_t n, int64_t segments = 0) {
    Limits l;
    l.per_second = n;
    l.segments_per_second = segments;
    return with(kProvider, l);
}

Demand demand(int64_t campaign, int64_t due, int64_t segments = 1) { return {campaign, P, due, segments}; }

TEST(Allocate, TwoCampaignsShareTheProviderEvenly) {
    Throttle t = provider_per_second(10);
    auto got = allocate(t, {demand(1, 100), demand(2, 100)}, T0, 1000, 0);
    EXPECT_EQ(got, (std::map<int64_t, int64_t>{{1, 5}, {2, 5}}));
}

TEST(Allocate, WhatOneCampaignDoesNotNeedGoesToTheOther) {
    Throttle t = provider_per_second(10);
    EXPECT_EQ(allocate(t, {demand(1, 2), demand(2, 100)}, T0, 1000, 0), (std::map<int64_t, int64_t>{{1, 2}, {2, 8}}));
    EXPECT_EQ(allocate(t, {demand(1, 0), demand(2, 100)}, T0, 1000, 0), (std::map<int64_t, int64_t>{{1, 0}, {2, 10}}));
}

TEST(Allocate, TotalCap) {
    Throttle t = provider_per_second(10);
    auto got = allocate(t, {demand(1, 100), demand(2, 100)}, T0, 7, 0);
    EXPECT_EQ(got, (std::map<int64_t, int64_t>{{1, 4}, {2, 3}}));
    EXPECT_EQ(allocate(t, {demand(1, 100), demand(2, 100)}, T0, 0, 0), (std::map<int64_t, int64_t>{{1, 0}, {2, 0}}));
}

TEST(Allocate, TurnRotatesTheOddMessage) {
    Throttle t = provider_per_second(9);
    const std::vector<Demand> d = {demand(2, 100), demand(1, 100), demand(3, 100)};  // any row order
    Throttle eight = provider_per_second(8);
    EXPECT_EQ(allocate(eight, d, T0, 1000, 0), (std::map<int64_t, int64_t>{{1, 3}, {2, 3}, {3, 2}}));
    EXPECT_EQ(allocate(eight, d, T0, 1000, 1), (std::map<int64_t, int64_t>{{1, 2}, {2, 3}, {3, 3}}));
    EXPECT_EQ(allocate(eight, d, T0, 1000, 2), (std::map<int64_t, int64_t>{{1, 3}, {2, 2}, {3, 3}}));
    EXPECT_EQ(allocate(eight, d, T0, 1000, 3), allocate(eight, d, T0, 1000, 0));
    EXPECT_EQ(allocate(t, d, T0, 1000, 5), (std::map<int64_t, int64_t>{{1, 3}, {2, 3}, {3, 3}}));
}

TEST(Allocate, SegmentsAndCampaignKeys) {
    // 12 segments a second: one message of 1 and one of 3 a round.
    Throttle t = provider_per_second(100, 12);
    EXPECT_EQ(allocate(t, {demand(1, 100, 1), demand(2, 100, 3)}, T0, 1000, 0),
              (std::map<int64_t, int64_t>{{1, 3}, {2, 3}}));
    // A message larger than the limit gets nothing; the others get the room.
    EXPECT_EQ(allocate(t, {demand(1, 100, 13), demand(2, 100, 2)}, T0, 1000, 0),
              (std::map<int64_t, int64_t>{{1, 0}, {2, 6}}));
    Limits campaign;
    campaign.per_second = 2;
    t.configure("campaign:1", campaign);
    EXPECT_EQ(allocate(t, {{1, {kProvider, "campaign:1"}, 100, 1}, demand(2, 100, 1)}, T0, 1000, 0),
              (std::map<int64_t, int64_t>{{1, 2}, {2, 10}}));
}

TEST(Allocate, LargeCountsCostRoundsNotMessages) {
    Throttle t;  // nothing limits: due counts and the total decide
    auto got = allocate(t, {demand(1, 3000000000), demand(2, 1), demand(3, 5000000000)}, T0, 6000000001, 0);
    EXPECT_EQ(got, (std::map<int64_t, int64_t>{{1, 3000000000}, {2, 1}, {3, 3000000000}}));
}

TEST(Allocate, TheCampaignBehindGetsTheOddMessageFirst) {
    Throttle eight = provider_per_second(8);
    std::vector<Demand> d = {demand(1, 100), demand(2, 100), demand(3, 100)};
    d[2].behind = 1;
    EXPECT_EQ(allocate(eight, d, T0, 1000, 0), (std::map<int64_t, int64_t>{{1, 3}, {2, 2}, {3, 3}}));
    d[1].behind = 1;
    EXPECT_EQ(allocate(eight, d, T0, 1000, 0), (std::map<int64_t, int64_t>{{1, 2}, {2, 3}, {3, 3}}));
}

TEST(Fed, OneMessageBehindAtMost) {
    Fed fed;
    EXPECT_EQ(fed.behind(1), 0);
    fed.add({{1, 4}, {2, 3}});
    EXPECT_EQ(fed.behind(1), 0);
    EXPECT_EQ(fed.behind(2), 1);
    // Far behind (less was due) still counts as one message, and a newcomer as none.
    fed.add({{1, 10}, {2, 0}, {3, 0}});
    EXPECT_EQ(fed.behind(2), 1);
    EXPECT_EQ(fed.behind(3), 1);
    EXPECT_EQ(fed.behind(4), 0);
    // A campaign left out of a round is forgotten.
    fed.add({{1, 1}, {2, 2}});
    EXPECT_EQ(fed.behind(1), 0);
    EXPECT_EQ(fed.behind(2), 0);
    EXPECT_EQ(fed.behind(3), 0);
}

// Room that comes in rounds of 7, 2 and 1 a second, as a sliding window lets it out: with the
// rotation alone the odd message of the first and last round fell on the same campaign every
// second; with what was fed remembered, the two stay within one message all along.
TEST(Allocate, TwoCampaignsStayEvenWhenRoomComesInSeveralRounds) {
    Throttle none;
    Fed fed;
    uint64_t turn = 0;
    int64_t a = 0, b = 0;
    for (int second = 0; second < 20; second++)
        for (int64_t room : {7, 2, 1}) {
            std::vector<Demand> d = {demand(1, 100), demand(2, 100)};
            for (Demand &x : d) x.behind = fed.behind(x.campaign);
            auto got = allocate(none, d, T0, room, turn++);
            fed.add(got);
            a += got[1];
            b += got[2];
            ASSERT_LE(std::abs(a - b), 1) << "second " << second << " room " << room;
        }
    EXPECT_EQ(a + b, 200);
}

// One message at a time through wait_until/record on a copy: what allocate must equal.
std::map<int64_t, int64_t> one_at_a_time(Throttle t, std::vector<Demand> demands, int64_t now, int64_t total,
                                         uint64_t turn) {
    std::sort(demands.begin(), demands.end(), [](const Demand &a, const Demand &b) { return a.campaign < b.campaign; });
    std::rotate(demands.begin(), demands.begin() + turn % demands.size(), demands.end());
    std::stable_partition(demands.begin(), demands.end(), [](const Demand &d) { return d.behind > 0; });
    std::map<int64_t, int64_t> given;
    for (const Demand &d : demands) given[d.campaign] = 0;
    for (bool progress = true; progress;) {
        progress = false;
        for (const Demand &d : demands) {
            if (total == 0 || given[d.campaign] >= d.due || t.wait_until(d.keys, d.segments_each, now) != 0) continue;
            t.record(d.keys, d.segments_each, now);
            given[d.campaign]++;
            total--;
            progress = true;
        }
    }
    return given;
}

TEST(Allocate, EqualsOneMessageAtATime) {
    std::mt19937_64 rng(11);
    for (int round = 0; round < 500; round++) {
        Throttle t(kMargin);
        std::vector<std::string> all = {"p", "s1", "s2", "c1", "c2", "c3", "c4"};
        for (const auto &k : all) t.configure(k, random_limits(rng));
        for (int i = 0; i < 30; i++)
            t.record({all[rng() % all.size()]}, 1 + static_cast<int64_t>(rng() % 3), T0 + static_cast<int64_t>(rng() % kMinute));
        std::vector<Demand> demands;
        size_t n = 1 + rng() % 4;
        for (size_t c = 0; c < n; c++)
            demands.push_back({static_cast<int64_t>(c + 1) * 10, {"p", rng() % 2 ? "s1" : "s2", all[3 + c]},
                               static_cast<int64_t>(rng() % 30), 1 + static_cast<int64_t>(rng() % 3),
                               static_cast<int64_t>(rng() % 2)});
        int64_t now = T0 + kMinute + static_cast<int64_t>(rng() % kSecond);
        int64_t total = static_cast<int64_t>(rng() % 100);
        uint64_t turn = rng() % 7;
        ASSERT_EQ(allocate(t, demands, now, total, turn), one_at_a_time(t, demands, now, total, turn)) << "round " << round;
    }
}

}  // namespace
