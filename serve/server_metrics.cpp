// Request records (id, key, model, route, tokens, latency), the log line and metrics each
// request leaves, and GET /metrics.
#include "serve/server_internal.h"

#include "core/system.h"

namespace swarm {

namespace {

std::string endpointOf(const std::string& path) {
    for (const char* known : {"/v1/completions", "/v1/chat/completions", "/v1/models", "/metrics", "/health",
                              "/health/live", "/health/ready"})
        if (path == known) return known;
    return "other";
}

// Load balancer probes and scrapes that went well are not logged (they would drown the requests).
bool isProbe(const RequestRecord& r) {
    return r.status < 400 && (r.endpoint == "/health" || r.endpoint == "/health/live" || r.endpoint == "/health/ready" ||
                              r.endpoint == "/metrics");
}

} // namespace

std::shared_ptr<RequestRecord> SwarmServer::track(const httplib::Request& req, bool fresh) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::shared_ptr<RequestRecord>& slot = tracked_[&req];
    if (!slot || fresh) {
        slot = std::make_shared<RequestRecord>();
        const std::string asked = req.get_header_value("X-Request-Id");
        slot->id = acceptableRequestId(asked) ? asked : newRequestId();
        slot->method = req.method;
        slot->path = req.path;
        slot->endpoint = endpointOf(req.path);
        slot->remote = req.remote_addr;
    }
    return slot;
}

std::shared_ptr<RequestRecord> SwarmServer::tracked(const httplib::Request& req) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tracked_.find(&req);
    return it == tracked_.end() ? nullptr : it->second;
}

void SwarmServer::finishRequest(const httplib::Request& req, const httplib::Response& res) {
    std::shared_ptr<RequestRecord> record = track(req);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        tracked_.erase(&req);
    }
    RequestRecord& r = *record;
    if (r.status == 0) r.status = res.status;   // a stream that failed after its headers set its own
    ServerMetrics& m = *metrics_;
    m.requests.add({r.endpoint, r.model, r.route, std::to_string(r.status), r.key});
    m.latency.observe({r.endpoint, r.model}, r.elapsedMs() / 1000);
    if (r.promptTokens > 0) m.promptTokens.add({r.model, r.route, r.key}, r.promptTokens);
    if (r.completionTokens > 0) m.completionTokens.add({r.model, r.route, r.key}, r.completionTokens);
    if (r.routerConfidence >= 0) {
        m.routerConfidence.observe({r.routerLabel}, r.routerConfidence);
        m.routerLatency.observe({}, r.routerMs / 1000);
    }
    if (r.route != "-") m.specialistLatency.observe({r.route}, r.specialistMs / 1000);
    if (options_.requestLog && !isProbe(r)) options_.requestLog(requestLogLine(r));
    releaseRetiredSwarms();
}

std::string SwarmServer::metricsText() const {
    const std::shared_ptr<Swarm> swarm = this->swarm();
    const SwarmDefinition& def = swarm->definition();
    const engine::BatchDecoder::Stats batch = swarm->decoderStats();
    int admitted = 0, running = 0, retired = 0;
    long long steps = 0, tokens = 0, loads = 0;
    int widest = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        admitted = admitted_;
        running = running_;
        retired = int(retired_.size());
        steps = retiredDecodeSteps_;
        tokens = retiredDecodeTokens_;
        loads = retiredLoads_;
        widest = retiredWidest_;
        for (const std::shared_ptr<Swarm>& old : retired_) {
            const engine::BatchDecoder::Stats s = old->decoderStats();
            steps += s.steps;
            tokens += s.tokens;
            widest = std::max(widest, s.widest);
            loads += old->loads();
        }
    }
    steps += batch.steps;
    tokens += batch.tokens;
    widest = std::max(widest, batch.widest);
    loads += swarm->loads();

    std::string out;
    const ServerMetrics& m = *metrics_;
    m.requests.render(out);
    m.latency.render(out);
    m.queueWait.render(out);
    m.routerLatency.render(out);
    m.routerConfidence.render(out);
    m.specialistLatency.render(out);
    m.promptTokens.render(out);
    m.completionTokens.render(out);
    m.reloads.render(out);

    prom::renderGauge(out, "swarm_queue_depth", "Completion requests waiting for a worker", admitted - running);
    prom::renderGauge(out, "swarm_requests_generating", "Completion requests holding a worker", running);
    prom::renderGauge(out, "swarm_workers", "Requests that may generate at once (--workers)", options_.workers);
    prom::renderGauge(out, "swarm_queue_capacity", "Requests that may wait for a worker (--max-queue)", options_.maxQueue);
    prom::renderCounter(out, "swarm_decode_steps_total",
                        "Batched decode passes (batch width = rate of decode tokens / rate of decode steps)", double(steps));
    prom::renderCounter(out, "swarm_decode_tokens_total", "Tokens decoded in batched passes", double(tokens));
    prom::renderGauge(out, "swarm_decode_batch_widest", "Most sequences decoded in one pass so far", widest);
    std::vector<std::pair<std::vector<std::string>, double>> loaded;
    const std::vector<std::string> inMemory = swarm->loadedSpecialists();
    auto isLoaded = [&](const std::string& label) {
        return std::find(inMemory.begin(), inMemory.end(), label) != inMemory.end() ? 1.0 : 0.0;
    };
    for (const SpecialistDef& s : def.specialists) loaded.push_back({{s.label}, isLoaded(s.label)});
    if (def.fallback) loaded.push_back({{"fallback"}, isLoaded("fallback")});
    prom::renderGauge(out, "swarm_specialist_loaded", "1 when the specialist's weights are in memory", {"specialist"}, loaded);
    prom::renderGauge(out, "swarm_specialists_loaded_bytes", "Weight bytes of the loaded specialists",
                      double(swarm->loadedBytes()));
    prom::renderCounter(out, "swarm_specialist_loads_total", "Specialist loads (first use, or after an unload)", double(loads));
    prom::renderGauge(out, "swarm_swarms_retired", "Replaced swarms still answering requests", retired);
    prom::renderGauge(out, "swarm_info", "The swarm being served", {"swarm"}, {{{def.name}, 1.0}});
    prom::renderCounter(out, "swarm_http_connections_total", "TCP connections accepted", double(http_->connections()));
    prom::renderCounter(out, "swarm_http_slow_requests_dropped_total",
                        "Connections closed because a request did not arrive whole in time (--read-timeout)",
                        double(http_->slowRequestsDropped()));
    prom::renderGauge(out, "process_resident_memory_bytes", "Resident memory size in bytes", double(currentRssBytes()));
    prom::renderGauge(out, "process_start_time_seconds", "Start time of the process since the Unix epoch in seconds",
                      double(std::chrono::duration_cast<std::chrono::seconds>(startTime_.time_since_epoch()).count()));
    return out;
}

} // namespace swarm
