#pragma once
// An OpenAI-compatible HTTP server over a swarm (cpp-httplib):
//   POST /v1/completions       {"model": "swarm"|LABEL, "prompt": "...", "max_tokens": N, "stream": bool, ...}
//   POST /v1/chat/completions  {"model": ..., "messages": [{"role": "user", "content": "..."}], ...}
//   GET  /v1/models            "swarm" (routed), every specialist label and "fallback"
//   GET  /metrics              Prometheus text format (serve/metrics.h)
//   GET  /health               readiness: 200 {"status": "ok"}, 503 {"status": "busy"} while the
//                              queue is full; GET /health/live: liveness, 200 while the process answers
// "model": "swarm" routes the request through the router; a label sends it to that specialist.
// Answers carry a "swarm" object: routed, label, confidence, specialist, router_ms, specialist_ms.
// "stream": true answers with server-sent events (data: {chunk}\n\n ... data: [DONE]\n\n).
//
// Authentication: with API keys (serve/api_keys.h), every route but /health needs
// "Authorization: Bearer KEY" (401 otherwise). Every answer carries X-Request-Id (the client's
// own when it sent a sane one) and every request but the probes of /health and /metrics is
// logged as one JSON line (serve/request_log.h) through `requestLog`.
//
// Errors are JSON {"error": {"message", "type", "param", "code"}}: 400 malformed JSON, invalid
// UTF-8 or a bad field, 401 missing or wrong key, 404 unknown model or path, 411 a body without
// Content-Length (chunked), 413 body over maxBodyBytes (refused before it is read), 429 over maxConcurrentPerKey, 503 when `workers` requests are generating and
// `maxQueue` more are waiting (or the deadline passed while waiting), 504 when the deadline
// passed while generating. stop() stops accepting connections and returns once the requests in
// flight (generating or queued) have been answered.
//
// Concurrency: up to `workers` requests generate at once, and the ones answered by the same
// specialist decode together (the swarm's BatchDecoder: one forward pass per step for all of
// them). Each connection holds an HTTP thread while it is open; a connection that sends nothing
// for idleTimeoutSeconds (between keep-alive requests too) is closed, and one whose request does
// not arrive whole within requestReadSeconds of its first byte is cut off (slowloris), so slow
// or idle clients cannot starve the others of threads.
//
// The swarm can be replaced while serving (replaceSwarm, for SIGHUP): new requests go to the new
// one, requests in flight finish on the one they started with, which is released after its last.
#include "serve/api_keys.h"
#include "serve/swarm.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace swarm {

class HttpTransport;
struct RequestRecord;
struct ServerMetrics;
}

namespace httplib {
struct Request;
struct Response;
class DataSink;
}

namespace swarm {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 0;                     // 0: any free port (see SwarmServer::port())
    int workers = 8;                  // requests generating (and batched together) at once
    int maxQueue = 16;                // requests waiting for a worker; more get 503
    size_t maxBodyBytes = 1 << 20;    // larger bodies get 413
    int maxTokensCap = 0;             // per-request cap on max_tokens (0: the specialist's only)
    int httpThreads = 0;              // connection threads; 0: workers + maxQueue + 4
    int idleTimeoutSeconds = 5;       // close connections silent this long (>= 1)
    int requestReadSeconds = 10;      // a request must arrive whole within this of its first byte (>= 1)
    double deadlineSeconds = 0;       // a request's whole time, queue wait included; 0: none
    int maxConcurrentPerKey = 0;      // requests in flight (queued or generating) per API key; 0: no limit
    std::shared_ptr<const ApiKeys> apiKeys;   // null or empty: no authentication
    // One JSON line per request (no newline), from the request's HTTP thread; keep it quick.
    std::function<void(const std::string&)> requestLog;
    // Called by a request that got a worker, before it generates (tests hold requests with it).
    std::function<void()> beforeInference;
};

// True for the addresses of this machine only: "localhost", 127.0.0.0/8 and ::1.
bool isLoopbackHost(const std::string& host);

class SwarmServer {
public:
    SwarmServer(Swarm& swarm, ServerOptions options);                 // swarm: not owned, outlives the server
    SwarmServer(std::shared_ptr<Swarm> swarm, ServerOptions options);
    ~SwarmServer();                   // stop() and wait
    SwarmServer(const SwarmServer&) = delete;
    SwarmServer& operator=(const SwarmServer&) = delete;

    // Binds host:port; throws swarm::Error when it cannot. Returns the port.
    int bind();
    void run();                       // serves until stop() (call bind() first)
    void start();                     // bind() and run() on a background thread
    void stop();                      // stop accepting; in-flight requests finish; thread-safe
    void wait();                      // joins the thread start() made

    int port() const { return port_; }
    bool running() const;             // the accept loop runs
    int active() const;               // requests generating
    int queued() const;               // requests waiting for a worker
    long long served() const { return served_.load(); }
    long long rejected() const { return rejected_.load(); }   // 503s

    // The swarm new requests go to.
    std::shared_ptr<Swarm> swarm() const;
    // New requests go to `next`; the one replaced is released when its last request ends. Thread-safe.
    void replaceSwarm(std::shared_ptr<Swarm> next);
    int retiredSwarms() const;        // replaced swarms still answering requests
    // New requests are checked against `keys` (the server must have started with keys). Thread-safe.
    void replaceApiKeys(std::shared_ptr<const ApiKeys> keys);
    void countReload(bool ok);        // swarm_reloads_total{result}

    std::string metricsText() const;  // GET /metrics

    // Admission: a slot in the queue (or 503), then a worker.
    class Ticket;

private:
    struct Call;                      // one completion request on its way (server_completions.cpp)

    // The routes, installed in named steps (server.cpp).
    void installErrorHandlers();
    void installRequestTracking();
    void installHealthRoutes();
    void installInfoRoutes();
    void installCompletionRoutes();

    bool refuseUnboundedBody(const httplib::Request& req, httplib::Response& res, RequestRecord& record);

    // Requests (server_completions.cpp).
    void handleCompletion(bool chat, const httplib::Request& req, httplib::Response& res);
    bool admitAndWait(Call& call, httplib::Response& res);
    void answerWhole(Call& call, httplib::Response& res);
    void answerStream(std::shared_ptr<Call> call, httplib::Response& res);
    bool streamAnswer(Call& call, httplib::DataSink& sink);   // the stream's content provider
    // False (with 401 sent) when keys are on and the request presents none of them.
    bool authorize(const httplib::Request& req, httplib::Response& res, RequestRecord& record) const;
    void refuse(httplib::Response& res, RequestRecord& record, int status, const std::string& message,
                const std::string& type, const std::string& param = "") const;

    // Tracking and metrics (server_metrics.cpp).
    // The request's record; fresh: a new one (a new request at this address), else made if missing.
    std::shared_ptr<RequestRecord> track(const httplib::Request& req, bool fresh = false);
    std::shared_ptr<RequestRecord> tracked(const httplib::Request& req) const;   // null when none
    void finishRequest(const httplib::Request& req, const httplib::Response& res);
    void releaseRetiredSwarms();

    std::shared_ptr<Swarm> swarm_;
    ServerOptions options_;
    std::unique_ptr<HttpTransport> http_;
    std::unique_ptr<ServerMetrics> metrics_;
    std::thread thread_;
    int port_ = 0;
    const std::chrono::system_clock::time_point startTime_ = std::chrono::system_clock::now();

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    int admitted_ = 0;                // running + waiting
    int running_ = 0;
    std::map<std::string, int> perKey_;                    // requests in flight per key name
    std::vector<std::shared_ptr<Swarm>> retired_;          // replaced, still in use
    std::shared_ptr<const ApiKeys> keys_;
    long long retiredDecodeSteps_ = 0, retiredDecodeTokens_ = 0, retiredLoads_ = 0;
    int retiredWidest_ = 0;
    std::map<const void*, std::shared_ptr<RequestRecord>> tracked_;   // by httplib::Request address
    std::atomic<long long> served_{0}, rejected_{0};
};

} // namespace swarm
