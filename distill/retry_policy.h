#pragma once
// When a teacher request is tried again, and how long the distiller waits first (issue 16):
// exponential backoff with jitter, capped, and never shorter than what the server asked for in
// Retry-After (or OpenAI's retry-after-ms). Pure functions: the caller supplies the random number
// and the clock, so that the rules are tested without sleeping.
#include <cstdint>
#include <string>

namespace swarm::distill {

struct RetryPolicy {
    int maxAttempts = 6;                 // requests per prompt, the first one included
    double baseDelaySeconds = 1.0;       // the backoff after the first failure, before jitter
    double maxDelaySeconds = 60.0;       // the exponential backoff never exceeds this
    double maxRetryAfterSeconds = 600.0; // a longer Retry-After is cut to this
    double jitter = 0.5;                 // the backoff is drawn from [(1 - jitter) d, d]

    // Throws swarm::Error naming the field when a value is out of range.
    void check() const;
};

// Statuses worth another try: 408, 409, 425, 429, 500, 502, 503, 504 and the proxies' and
// providers' overload codes 520-524 and 529.
bool isRetryableStatus(int status);

// The wait after `failedAttempts` (>= 1) failed requests for one prompt:
// d = min(maxDelay, base * 2^(failedAttempts - 1)), scaled by a factor in [1 - jitter, 1] taken
// from `unitRandom` in [0, 1); at least retryAfterSeconds when that is >= 0 (itself capped by
// maxRetryAfterSeconds).
double backoffSeconds(const RetryPolicy& policy, int failedAttempts, double retryAfterSeconds, double unitRandom);

// The server's requested wait in seconds, or -1 when it gave none that can be read.
// `retryAfterMs`: the retry-after-ms header (milliseconds), preferred when present.
// `retryAfter`: delta-seconds ("120") or an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT"),
// the latter measured from nowUnixSeconds (a date in the past means 0).
double parseRetryAfter(const std::string& retryAfter, const std::string& retryAfterMs, int64_t nowUnixSeconds);

} // namespace swarm::distill
