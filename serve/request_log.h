#pragma once
// What the server records of one HTTP request: the structured log line (one JSON object per
// request) and the values its metrics are labelled with. Request ids: a client's own
// X-Request-Id is kept when it is a sane token, otherwise the server makes one.
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace swarm {

struct RequestRecord {
    std::string id;                  // X-Request-Id (sent back on the answer)
    std::string method, path;
    std::string endpoint;            // the route's pattern ("/v1/completions"; "other" for unknown paths)
    std::string remote;              // client address
    std::string key = "-";           // API key name; "-" without authentication
    std::string model = "-";         // as requested ("swarm", a label); "-" when none
    std::string route = "-";         // the specialist that answered; "-" when none did
    bool stream = false;
    int status = 0;
    int promptTokens = 0, completionTokens = 0;
    std::string routerLabel;         // the router's choice (routed requests only)
    double routerConfidence = -1;    // its probability (routed requests only)
    double routerMs = 0, specialistMs = 0;
    double queueMs = 0;              // waiting for a worker
    std::string error;               // the error message of a refused or failed request
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

    double elapsedMs() const;
};

// {"ts": "2026-01-01T12:00:00.123Z", "event": "request", "id", "key", "method", "path", "model",
//  "route", "status", "stream", "prompt_tokens", "completion_tokens", "latency_ms", "queue_ms",
//  "remote"[, "router_confidence"][, "error"]} on one line, without a newline.
std::string requestLogLine(const RequestRecord& r);

// An operational event (start, reload, dropped connection) in the same JSON-lines shape:
// {"ts", "event": EVENT, ...fields} (fields: a JSON object).
std::string eventLogLine(const std::string& event, const nlohmann::json& fields);

// "2026-01-01T12:00:00.123Z"
std::string utcTimestampMs();

// A new request id: 16 hex digits, random per process, then a counter ("3f9a0c0e5b1d4e7a-42").
std::string newRequestId();
// A client-sent X-Request-Id is kept when it is 1..128 characters of [A-Za-z0-9._:-].
bool acceptableRequestId(const std::string& id);

} // namespace swarm
