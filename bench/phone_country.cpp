// The country of a number (sms_otp.phone_country, src/sms/zones.cpp) against libphonenumber's
// full parse of every number (phone_country_parsed), on the same numbers in the same run:
// microseconds a number for each, alternating rounds, medians. Every answer of the two is
// compared first; the run stops at the first that differs.
//   bench/phone_country NUMBERS ROUNDS   (run by bench/phone_country.sh)
#include "sms/zones.h"

#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <string>
#include <vector>

namespace {

using sms_otp::sms::phone_country;
using sms_otp::sms::phone_country_parsed;

struct Set {
    const char *label;
    int code;            // the calling code
    const char *prefix;  // the number's start, then digits to 12 in all after the '+'
};

// One code of one country, then codes several countries share (the main country's numbers and
// another's), as the dashboards' rollups meet them.
const Set kSets[] = {
    {"+33 6… (France, mobile)", 33, "+336"},
    {"+44 74… (United Kingdom, mobile)", 44, "+4474"},
    {"+44 7781… (Guernsey, mobile)", 44, "+447781"},
    {"+1 212… (New York)", 1, "+1212"},
    {"+1 876… (Jamaica)", 1, "+1876"},
    {"+7 912… (Russia, mobile)", 7, "+7912"},
};

size_t sharing(int code) {
    std::list<std::string> regions;
    i18n::phonenumbers::PhoneNumberUtil::GetInstance()->GetRegionCodesForCountryCallingCode(code, &regions);
    return regions.size();
}

std::vector<std::string> numbers_of(const Set &set, int n) {
    std::vector<std::string> out;
    size_t digits = 13 - std::string(set.prefix).size();  // '+' and 12 digits
    for (int i = 0; i < n; i++) {
        std::string tail = std::to_string((static_cast<long long>(i) * 7919) % 100000000);
        tail.insert(0, digits > tail.size() ? digits - tail.size() : 0, '0');
        out.push_back(set.prefix + tail.substr(tail.size() - digits));
    }
    return out;
}

template <typename F>
double us_each(const std::vector<std::string> &numbers, F f) {
    size_t found = 0;
    auto start = std::chrono::steady_clock::now();
    for (const auto &number : numbers) found += f(number).has_value();
    auto end = std::chrono::steady_clock::now();
    if (found == 0) std::fprintf(stderr, "no country for any number\n");
    return std::chrono::duration<double, std::micro>(end - start).count() / static_cast<double>(numbers.size());
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char **argv) {
    int n = argc > 1 ? std::atoi(argv[1]) : 20000;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
    if (n < 1 || rounds < 1) {
        std::fprintf(stderr, "usage: %s NUMBERS ROUNDS\n", argv[0]);
        return 2;
    }
    std::printf("| numbers | countries of the code | phone_country | full parse (baseline) | ratio | answer |\n"
                "|---|---:|---:|---:|---:|---|\n");
    for (const Set &set : kSets) {
        auto numbers = numbers_of(set, n);
        for (const auto &number : numbers)
            if (phone_country(number) != phone_country_parsed(number)) {
                std::fprintf(stderr, "%s: phone_country %s, the full parse %s\n", number.c_str(),
                             phone_country(number).value_or("none").c_str(),
                             phone_country_parsed(number).value_or("none").c_str());
                return 1;
            }
        std::vector<double> quick, parsed;
        for (int r = 0; r < rounds; r++) {
            quick.push_back(us_each(numbers, phone_country));
            parsed.push_back(us_each(numbers, phone_country_parsed));
        }
        double q = median(quick), p = median(parsed);
        std::printf("| %s | %zu | %.2f µs | %.2f µs | %.2f | %s |\n", set.label, sharing(set.code), q, p, q / p,
                    phone_country(numbers.front()).value_or("none").c_str());
    }
    return 0;
}
