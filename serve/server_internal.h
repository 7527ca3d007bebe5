#pragma once
// What server.cpp, server_completions.cpp and server_metrics.cpp share: the admission ticket,
// one completion request on its way (Call) and the metric families. Not part of the API.
#include "serve/http_transport.h"
#include "serve/metrics.h"
#include "serve/openai_protocol.h"
#include "serve/request_log.h"
#include "serve/server.h"

#include <chrono>
#include <optional>

namespace swarm {

// A request's place in the bounded queue (and in its key's share); then, after acquire(), one of
// the workers. Released when destroyed.
class SwarmServer::Ticket {
public:
    enum class Admission { Admitted, QueueFull, KeyLimit };

    Ticket(SwarmServer& server, std::string key) : s_(server), key_(std::move(key)) {}
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    Admission admit();
    // Waits for a worker; false when the deadline passes first.
    bool acquire(std::optional<std::chrono::steady_clock::time_point> deadline);

private:
    SwarmServer& s_;
    const std::string key_;
    bool admitted_ = false;
    bool working_ = false;
};

// One completion request, from its parsed body to its answer; shared with a stream's provider.
struct SwarmServer::Call {
    std::shared_ptr<Swarm> swarm;      // the swarm it started on (kept while it runs)
    std::shared_ptr<RequestRecord> record;
    openai::CompletionRequest request;
    std::unique_ptr<Ticket> ticket;
    std::string id;                    // "cmpl-..." / "chatcmpl-..."
    long long created = 0;
    std::optional<std::chrono::steady_clock::time_point> deadline;

    bool pastDeadline() const { return deadline && std::chrono::steady_clock::now() >= *deadline; }
};

struct ServerMetrics {
    prom::CounterFamily requests{"swarm_http_requests_total",
                                 "HTTP requests answered, by endpoint, requested model, answering specialist, status and API key",
                                 {"endpoint", "model", "route", "status", "key"}};
    prom::HistogramFamily latency{"swarm_http_request_duration_seconds",
                                  "Time from a request's headers to the end of its answer",
                                  {"endpoint", "model"},
                                  {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}};
    prom::HistogramFamily queueWait{"swarm_queue_wait_seconds", "Time a completion request waited for a worker", {},
                                    {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
    prom::HistogramFamily routerLatency{"swarm_router_duration_seconds", "Time the router took to choose a label", {},
                                        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
    prom::HistogramFamily specialistLatency{"swarm_specialist_duration_seconds",
                                            "Time a specialist took to answer (prefill and decoding)", {"specialist"},
                                            {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
    prom::HistogramFamily routerConfidence{"swarm_router_confidence",
                                           "The router's probability for the label it chose, by label", {"label"},
                                           {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99}};
    prom::CounterFamily promptTokens{"swarm_prompt_tokens_total", "Prompt tokens of answered requests",
                                     {"model", "route", "key"}};
    prom::CounterFamily completionTokens{"swarm_completion_tokens_total", "Tokens generated for answered requests",
                                         {"model", "route", "key"}};
    prom::CounterFamily reloads{"swarm_reloads_total", "Swarm definition reloads (SIGHUP), by result", {"result"}};
};

// Sets an OpenAI-style error body on res.
void sendError(httplib::Response& res, int status, const std::string& message, const std::string& type,
               const std::string& param = "");

} // namespace swarm
