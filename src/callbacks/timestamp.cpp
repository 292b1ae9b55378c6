#include "callbacks/timestamp.h"

#include <cstdio>

namespace sms_otp::callbacks {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t &y, int64_t &m, int64_t &d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);
    y = yoe + era * 400 + (m <= 2);
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int64_t days_in_month(int64_t y, int64_t m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

// `n` decimal digits at text[pos]; false when they are not all there.
bool digits(std::string_view text, size_t pos, size_t n, int64_t &out) {
    if (pos + n > text.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        out = out * 10 + (text[i] - '0');
    }
    return true;
}

std::optional<int64_t> from_fields(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s) {
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
        return std::nullopt;
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

// "YYYY-MM-DD?hh:mm:ss" at the start of text, with `sep` between date and time.
bool date_time(std::string_view text, char sep, int64_t (&f)[6]) {
    return text.size() >= 19 && digits(text, 0, 4, f[0]) && text[4] == '-' && digits(text, 5, 2, f[1]) &&
           text[7] == '-' && digits(text, 8, 2, f[2]) && text[10] == sep && digits(text, 11, 2, f[3]) &&
           text[13] == ':' && digits(text, 14, 2, f[4]) && text[16] == ':' && digits(text, 17, 2, f[5]);
}

}  // namespace

std::optional<int64_t> parse_unix_seconds(std::string_view text) {
    int64_t v;
    if (text.empty() || text.size() > 12 || !digits(text, 0, text.size(), v) || v > kMaxUnixSeconds) return std::nullopt;
    return v;
}

std::optional<int64_t> parse_iso8601(std::string_view text) {
    int64_t f[6];
    if (!date_time(text, 'T', f) && !date_time(text, 't', f)) return std::nullopt;
    size_t i = 19;
    if (i < text.size() && text[i] == '.') {
        size_t j = i + 1;
        while (j < text.size() && j - i <= 9 && text[j] >= '0' && text[j] <= '9') j++;
        if (j == i + 1 || (j < text.size() && text[j] >= '0' && text[j] <= '9')) return std::nullopt;
        i = j;
    }
    int64_t offset = 0;
    std::string_view zone = text.substr(i);
    if (zone == "Z" || zone == "z") {
        offset = 0;
    } else if (!zone.empty() && (zone[0] == '+' || zone[0] == '-')) {
        int64_t oh, om;
        bool colon = zone.size() == 6 && zone[3] == ':' && digits(zone, 1, 2, oh) && digits(zone, 4, 2, om);
        bool compact = zone.size() == 5 && digits(zone, 1, 2, oh) && digits(zone, 3, 2, om);
        if ((!colon && !compact) || oh > 23 || om > 59) return std::nullopt;
        offset = (zone[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    } else {
        return std::nullopt;
    }
    auto local = from_fields(f[0], f[1], f[2], f[3], f[4], f[5]);
    if (!local) return std::nullopt;
    int64_t utc = *local - offset;
    if (utc < 0 || utc > kMaxUnixSeconds) return std::nullopt;
    return utc;
}

std::optional<int64_t> parse_utc_datetime(std::string_view text) {
    int64_t f[6];
    if (text.size() != 19 || !date_time(text, ' ', f)) return std::nullopt;
    return from_fields(f[0], f[1], f[2], f[3], f[4], f[5]);
}

std::optional<int64_t> parse_yymmddhhmm(std::string_view text) {
    int64_t y, mo, d, h, mi;
    if (text.size() != 10 || !digits(text, 0, 2, y) || !digits(text, 2, 2, mo) || !digits(text, 4, 2, d) ||
        !digits(text, 6, 2, h) || !digits(text, 8, 2, mi))
        return std::nullopt;
    return from_fields(2000 + y, mo, d, h, mi, 0);
}

std::string iso8601_utc(int64_t unix_seconds) {
    if (unix_seconds < 0) unix_seconds = 0;
    if (unix_seconds > kMaxUnixSeconds) unix_seconds = kMaxUnixSeconds;
    int64_t days = unix_seconds / 86400, rest = unix_seconds % 86400;
    int64_t y, m, d;
    civil_from_days(days, y, m, d);
    char out[80];  // room for any int, as the compiler counts
    std::snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02dZ", static_cast<int>(y), static_cast<int>(m),
                  static_cast<int>(d), static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
                  static_cast<int>(rest % 60));
    return out;
}

}  // namespace sms_otp::callbacks
