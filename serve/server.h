#pragma once
// An OpenAI-compatible HTTP server over a swarm (cpp-httplib):
//   POST /v1/completions       {"model": "swarm"|LABEL, "prompt": "...", "max_tokens": N, "stream": bool, ...}
//   POST /v1/chat/completions  {"model": ..., "messages": [{"role": "user", "content": "..."}], ...}
//   GET  /v1/models            "swarm" (routed), every specialist label and "fallback"
//   GET  /health
// "model": "swarm" routes the request through the router; a label sends it to that specialist.
// Answers carry a "swarm" object: routed, label, confidence, specialist, router_ms, specialist_ms.
// "stream": true answers with server-sent events (data: {chunk}\n\n ... data: [DONE]\n\n).
//
// Errors are JSON {"error": {"message", "type", "code"}}: 400 malformed JSON or fields, 404
// unknown model or path, 413 body over maxBodyBytes, 503 when `workers` requests are generating
// and `maxQueue` more are waiting. stop() stops accepting connections and returns once the
// requests in flight (generating or queued) have been answered.
//
// Concurrency: up to `workers` requests generate at once, and the ones answered by the same
// specialist decode together (the swarm's BatchDecoder: one forward pass per step for all of
// them). Each connection holds an HTTP thread while it is open; a connection that sends nothing
// for idleTimeoutSeconds (between keep-alive requests too) is closed, so idle clients cannot
// starve the others of threads.
#include "serve/swarm.h"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
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
    // Called by a request that got a worker, before it generates (tests hold requests with it).
    std::function<void()> beforeInference;
};

class SwarmServer {
public:
    SwarmServer(Swarm& swarm, ServerOptions options);
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

    // Admission: a slot in the queue (or 503), then a worker.
    class Ticket;

private:
    void routes();

    Swarm& swarm_;
    ServerOptions options_;
    std::unique_ptr<httplib::Server> http_;
    std::thread thread_;
    int port_ = 0;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    int admitted_ = 0;                // running + waiting
    int running_ = 0;
    std::atomic<long long> served_{0}, rejected_{0}, nextId_{1};
};

} // namespace swarm
