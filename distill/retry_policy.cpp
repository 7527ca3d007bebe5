#include "distill/retry_policy.h"

#include "core/error.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace swarm::distill {

void RetryPolicy::check() const {
    if (maxAttempts < 1 || maxAttempts > 100) throw Error("retry policy: max attempts must be in [1, 100]");
    if (!(baseDelaySeconds >= 0) || baseDelaySeconds > 3600) throw Error("retry policy: the base delay must be in [0, 3600] s");
    if (!(maxDelaySeconds >= baseDelaySeconds) || maxDelaySeconds > 86400)
        throw Error("retry policy: the maximum delay must be at least the base delay and at most a day");
    if (!(maxRetryAfterSeconds >= 0) || maxRetryAfterSeconds > 86400)
        throw Error("retry policy: the Retry-After cap must be in [0, 86400] s");
    if (!(jitter >= 0) || jitter > 1) throw Error("retry policy: jitter must be in [0, 1]");
}

bool isRetryableStatus(int status) {
    switch (status) {
    case 408: case 409: case 425: case 429:
    case 500: case 502: case 503: case 504:
    case 520: case 521: case 522: case 523: case 524: case 529:
        return true;
    default:
        return false;
    }
}

double backoffSeconds(const RetryPolicy& p, int failedAttempts, double retryAfterSeconds, double unitRandom) {
    const int exponent = std::clamp(failedAttempts - 1, 0, 60);
    const double exponential = std::min(p.maxDelaySeconds, p.baseDelaySeconds * std::ldexp(1.0, exponent));
    const double u = std::clamp(unitRandom, 0.0, 1.0);
    double wait = exponential * (1.0 - p.jitter * u);
    if (retryAfterSeconds >= 0) wait = std::max(wait, std::min(retryAfterSeconds, p.maxRetryAfterSeconds));
    return wait;
}

namespace {

std::string trimmed(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

// A non-negative decimal number (digits with at most one '.'), or -1.
double parseNonNegative(const std::string& s) {
    if (s.empty() || s.size() > 20) return -1;
    int dots = 0;
    for (char c : s) {
        if (c == '.') ++dots;
        else if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    }
    if (dots > 1 || s == ".") return -1;
    return std::strtod(s.c_str(), nullptr);
}

// "Wed, 21 Oct 2015 07:28:00 GMT" (RFC 9110's IMF-fixdate) as Unix seconds, or -1.
int64_t parseImfFixdate(const std::string& s) {
    static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char weekday[4] = {}, month[4] = {}, zone[4] = {};
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    if (std::sscanf(s.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", weekday, &day, month, &year, &hour, &minute, &second, zone) != 8)
        return -1;
    if (std::string(zone) != "GMT") return -1;
    int mon = -1;
    for (int i = 0; i < 12; ++i)
        if (std::string(month) == kMonths[i]) mon = i;
    if (mon < 0 || day < 1 || day > 31 || year < 1970 || hour > 23 || minute > 59 || second > 60) return -1;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return int64_t(timegm(&tm));
}

} // namespace

double parseRetryAfter(const std::string& retryAfter, const std::string& retryAfterMs, int64_t nowUnixSeconds) {
    const double ms = parseNonNegative(trimmed(retryAfterMs));
    if (ms >= 0) return ms / 1000.0;
    const std::string v = trimmed(retryAfter);
    const double seconds = parseNonNegative(v);
    if (seconds >= 0) return seconds;
    const int64_t at = parseImfFixdate(v);
    if (at < 0) return -1;
    return double(std::max<int64_t>(0, at - nowUnixSeconds));
}

} // namespace swarm::distill
