#include "serve/request_log.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <random>

namespace swarm {

using nlohmann::json;

double RequestRecord::elapsedMs() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::string utcTimestampMs() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const long long ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03lldZ", ms);
    return buf;
}

std::string requestLogLine(const RequestRecord& r) {
    auto round1 = [](double v) { return double((long long)(v * 10 + (v >= 0 ? 0.5 : -0.5))) / 10; };
    json j{{"ts", utcTimestampMs()}, {"event", "request"}, {"id", r.id}, {"key", r.key}, {"method", r.method},
           {"path", r.path}, {"model", r.model}, {"route", r.route}, {"status", r.status}, {"stream", r.stream},
           {"prompt_tokens", r.promptTokens}, {"completion_tokens", r.completionTokens},
           {"latency_ms", round1(r.elapsedMs())}, {"queue_ms", round1(r.queueMs)}, {"remote", r.remote}};
    if (r.routerConfidence >= 0) j["router_confidence"] = r.routerConfidence;
    if (!r.error.empty()) j["error"] = r.error;
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string eventLogLine(const std::string& event, const json& fields) {
    json j{{"ts", utcTimestampMs()}, {"event", event}};
    if (fields.is_object())
        for (auto it = fields.begin(); it != fields.end(); ++it) j[it.key()] = it.value();
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string newRequestId() {
    static const std::string prefix = [] {
        std::random_device rd;
        const unsigned long long v = (static_cast<unsigned long long>(rd()) << 32) ^ rd();
        char buf[24];
        std::snprintf(buf, sizeof buf, "%016llx", v);
        return std::string(buf);
    }();
    static std::atomic<unsigned long long> counter{0};
    return prefix + "-" + std::to_string(++counter);
}

bool acceptableRequestId(const std::string& id) {
    if (id.empty() || id.size() > 128) return false;
    for (unsigned char c : id)
        if (!std::isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-') return false;
    return true;
}

} // namespace swarm
