#include "serve/server_internal.h"

#include "core/error.h"

#include <arpa/inet.h>
#include <cstdlib>
#include <exception>

namespace swarm {

using nlohmann::json;

void sendError(httplib::Response& res, int status, const std::string& message, const std::string& type,
               const std::string& param) {
    res.status = status;
    res.set_content(openai::errorBody(status, message, type, param), "application/json");
}

bool isLoopbackHost(const std::string& host) {
    if (host == "localhost") return true;
    in_addr v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

// ---------------------------------------------------------------------------------------------
// Admission

SwarmServer::Ticket::~Ticket() {
    if (!admitted_) return;
    {
        std::lock_guard<std::mutex> lock(s_.mutex_);
        --s_.admitted_;
        if (working_) --s_.running_;
        if (s_.options_.maxConcurrentPerKey > 0 && --s_.perKey_[key_] == 0) s_.perKey_.erase(key_);
    }
    s_.cv_.notify_all();
}

SwarmServer::Ticket::Admission SwarmServer::Ticket::admit() {
    std::lock_guard<std::mutex> lock(s_.mutex_);
    const int limit = s_.options_.maxConcurrentPerKey;
    if (limit > 0) {
        auto it = s_.perKey_.find(key_);
        if (it != s_.perKey_.end() && it->second >= limit) return Admission::KeyLimit;
    }
    if (s_.admitted_ >= s_.options_.workers + s_.options_.maxQueue) return Admission::QueueFull;
    ++s_.admitted_;
    if (limit > 0) ++s_.perKey_[key_];
    admitted_ = true;
    return Admission::Admitted;
}

bool SwarmServer::Ticket::acquire(std::optional<std::chrono::steady_clock::time_point> deadline) {
    {
        std::unique_lock<std::mutex> lock(s_.mutex_);
        auto free = [&] { return s_.running_ < s_.options_.workers; };
        if (deadline) {
            if (!s_.cv_.wait_until(lock, *deadline, free)) return false;
        } else {
            s_.cv_.wait(lock, free);
        }
        ++s_.running_;
        working_ = true;
    }
    if (s_.options_.beforeInference) s_.options_.beforeInference();
    return true;
}

// ---------------------------------------------------------------------------------------------
// Life cycle

SwarmServer::SwarmServer(Swarm& swarm, ServerOptions options)
    : SwarmServer(std::shared_ptr<Swarm>(&swarm, [](Swarm*) {}), std::move(options)) {}

SwarmServer::SwarmServer(std::shared_ptr<Swarm> swarm, ServerOptions options)
    : swarm_(std::move(swarm)), options_(std::move(options)), metrics_(std::make_unique<ServerMetrics>()) {
    if (!swarm_) throw Error("serve: no swarm");
    if (options_.workers < 1) throw Error("serve: workers must be at least 1");
    if (options_.maxQueue < 0) throw Error("serve: max queue must be >= 0");
    if (options_.idleTimeoutSeconds < 1) throw Error("serve: the idle timeout must be at least 1 second");
    if (options_.requestReadSeconds < 1) throw Error("serve: the request read timeout must be at least 1 second");
    if (!(options_.deadlineSeconds >= 0)) throw Error("serve: the deadline must be >= 0 seconds");
    if (options_.maxConcurrentPerKey < 0) throw Error("serve: max concurrent per key must be >= 0");
    if (options_.apiKeys && !options_.apiKeys->empty()) keys_ = options_.apiKeys;
    if (options_.maxConcurrentPerKey > 0 && !keys_)
        throw Error("serve: a limit per API key needs API keys (--api-key-file)");
    http_ = std::make_unique<HttpTransport>(options_.requestReadSeconds);
    const size_t threads = options_.httpThreads > 0 ? size_t(options_.httpThreads)
                                                    : size_t(options_.workers + options_.maxQueue + 4);
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_->set_payload_max_length(options_.maxBodyBytes);
    http_->set_keep_alive_timeout(options_.idleTimeoutSeconds);
    http_->set_read_timeout(options_.idleTimeoutSeconds, 0);
    installErrorHandlers();
    installRequestTracking();
    installHealthRoutes();
    installInfoRoutes();
    installCompletionRoutes();
}

SwarmServer::~SwarmServer() {
    stop();
    wait();
}

int SwarmServer::active() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return running_;
}

int SwarmServer::queued() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return admitted_ - running_;
}

int SwarmServer::bind() {
    if (options_.port == 0) {
        port_ = http_->bind_to_any_port(options_.host);
        if (port_ <= 0) throw Error("serve: cannot bind " + options_.host + " to a free port");
    } else {
        if (!http_->bind_to_port(options_.host, options_.port))
            throw Error("serve: cannot bind " + options_.host + ":" + std::to_string(options_.port) +
                        " (in use, or not an address of this machine)");
        port_ = options_.port;
    }
    http_->widenListenBacklog(1024);
    return port_;
}

void SwarmServer::run() { http_->listen_after_bind(); }

void SwarmServer::start() {
    bind();
    thread_ = std::thread([this] { run(); });
    // Ready once the accept loop runs.
    for (int i = 0; i < 500 && !http_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void SwarmServer::stop() { http_->stop(); }

bool SwarmServer::running() const { return http_->is_running(); }

void SwarmServer::wait() {
    if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------------------
// Replacing the swarm and the keys while serving

std::shared_ptr<Swarm> SwarmServer::swarm() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return swarm_;
}

void SwarmServer::replaceSwarm(std::shared_ptr<Swarm> next) {
    if (!next) throw Error("serve: replaceSwarm: no swarm");
    {
        std::lock_guard<std::mutex> lock(mutex_);
        retired_.push_back(std::move(swarm_));
        swarm_ = std::move(next);
    }
    releaseRetiredSwarms();
}

int SwarmServer::retiredSwarms() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return int(retired_.size());
}

// A retired swarm nobody but the server holds has answered its last request: its counters go
// into the running totals and it is destroyed (outside the lock: that unloads its models).
void SwarmServer::releaseRetiredSwarms() {
    std::vector<std::shared_ptr<Swarm>> done;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = retired_.begin(); it != retired_.end();) {
            if (it->use_count() == 1) {
                const engine::BatchDecoder::Stats s = (*it)->decoderStats();
                retiredDecodeSteps_ += s.steps;
                retiredDecodeTokens_ += s.tokens;
                retiredWidest_ = std::max(retiredWidest_, s.widest);
                retiredLoads_ += (*it)->loads();
                done.push_back(std::move(*it));
                it = retired_.erase(it);
            } else {
                ++it;
            }
        }
    }
    done.clear();
}

void SwarmServer::replaceApiKeys(std::shared_ptr<const ApiKeys> keys) {
    if (!keys || keys->empty()) throw Error("serve: replaceApiKeys: no keys (authentication cannot be switched off)");
    std::lock_guard<std::mutex> lock(mutex_);
    if (!keys_) throw Error("serve: the server started without API keys; restart it with --api-key-file");
    keys_ = std::move(keys);
}

void SwarmServer::countReload(bool ok) { metrics_->reloads.add({ok ? "ok" : "failed"}); }

// ---------------------------------------------------------------------------------------------
// Routes

void SwarmServer::installErrorHandlers() {
    // Bodies for the statuses httplib answers itself (404 no route, 413, 400 bad request line...).
    http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        // httplib refuses these before reading the body (or cannot parse the request): what
        // follows on the connection is not a request, so it closes after the answer.
        if (res.status == 400 || res.status == 413 || res.status == 414) {
            res.set_header("Connection", "close");
            HttpTransport::closeAfterResponse();
        }
        std::string message, type = "invalid_request_error";
        if (res.status == 413) message = "request body too large (over " + std::to_string(options_.maxBodyBytes) + " bytes)";
        else if (res.status == 404) message = "no route " + req.method + " " + req.path, type = "not_found_error";
        else if (res.status == 414) message = "request target too long";
        else if (res.status == 400) message = "malformed HTTP request";
        else message = "HTTP " + std::to_string(res.status), type = "error";
        if (auto record = tracked(req)) record->error = message;
        sendError(res, res.status, message, type);
    });
    http_->set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string message = "internal error";
        try {
            if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            message = e.what();
        } catch (...) {
        }
        if (auto record = tracked(req)) record->error = message;
        sendError(res, 500, message, "server_error");
    });
}

// Every request gets a record (id, client, timing) before its handler runs; the answer carries
// X-Request-Id; once written, the record becomes a log line and metrics.
void SwarmServer::installRequestTracking() {
    http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        const std::shared_ptr<RequestRecord> record = track(req, true);
        res.set_header("X-Request-Id", record->id);
        return refuseUnboundedBody(req, res, *record) ? httplib::Server::HandlerResponse::Handled
                                                      : httplib::Server::HandlerResponse::Unhandled;
    });
    // Also for answers httplib gives before routing (413), which skip the pre-routing handler.
    http_->set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.has_header("X-Request-Id")) res.set_header("X-Request-Id", track(req)->id);
    });
    http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) { finishRequest(req, res); });
}

// Before a body is read: one declared larger than maxBodyBytes is refused at once (413), and so
// are bodies without a Content-Length (chunked, or up to the end of the connection: 411), which
// httplib would read whole whatever their size. The connection closes after the answer.
bool SwarmServer::refuseUnboundedBody(const httplib::Request& req, httplib::Response& res, RequestRecord& record) {
    const bool chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
    const bool hasLength = req.has_header("Content-Length");
    if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH" && !chunked && !hasLength) return false;
    if (chunked || !hasLength) {
        refuse(res, record, 411, "the request body needs a Content-Length header (chunked bodies are not accepted)",
               "invalid_request_error");
    } else {
        const std::string length = req.get_header_value("Content-Length");
        char* end = nullptr;
        const unsigned long long n = std::strtoull(length.c_str(), &end, 10);
        const bool valid = !length.empty() && end && *end == '\0' && length[0] != '-';
        if (valid && n <= options_.maxBodyBytes) return false;
        if (valid)
            refuse(res, record, 413, "request body too large (" + length + " bytes, over " +
                                         std::to_string(options_.maxBodyBytes) + ")", "invalid_request_error");
        else
            refuse(res, record, 400, "Content-Length '" + length + "' is not a number of bytes", "invalid_request_error");
    }
    res.set_header("Connection", "close");
    HttpTransport::closeAfterResponse();
    return true;
}

void SwarmServer::installHealthRoutes() {
    // Liveness: the process answers HTTP.
    http_->Get("/health/live", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"({"status":"ok"})", "application/json");
    });
    // Readiness: 503 while a new request would be refused (queue full), so that a load balancer
    // sends it to another replica.
    auto ready = [this](const httplib::Request&, httplib::Response& res) {
        const std::shared_ptr<Swarm> swarm = this->swarm();
        const engine::BatchDecoder::Stats batch = swarm->decoderStats();
        int admitted = 0, running = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            admitted = admitted_;
            running = running_;
        }
        const bool busy = admitted >= options_.workers + options_.maxQueue;
        res.status = busy ? 503 : 200;
        if (busy) res.set_header("Retry-After", "1");
        res.set_content(openai::dump(json{{"status", busy ? "busy" : "ok"}, {"swarm", swarm->definition().name},
                                          {"active", running}, {"queued", admitted - running}, {"served", served()},
                                          {"rejected", rejected()}, {"loaded", swarm->loadedSpecialists()},
                                          {"loaded_bytes", swarm->loadedBytes()},
                                          {"batch", {{"steps", batch.steps}, {"tokens", batch.tokens}, {"widest", batch.widest}}}}),
                        "application/json");
    };
    http_->Get("/health", ready);
    http_->Get("/health/ready", ready);
}

void SwarmServer::installInfoRoutes() {
    http_->Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, *track(req))) return;
        res.set_content(openai::dump(openai::modelList(swarm()->definition())), "application/json");
    });
    http_->Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res, *track(req))) return;
        res.set_content(metricsText(), "text/plain; version=0.0.4; charset=utf-8");
    });
}

void SwarmServer::installCompletionRoutes() {
    http_->Post("/v1/completions",
                [this](const httplib::Request& req, httplib::Response& res) { handleCompletion(false, req, res); });
    http_->Post("/v1/chat/completions",
                [this](const httplib::Request& req, httplib::Response& res) { handleCompletion(true, req, res); });
}

} // namespace swarm
