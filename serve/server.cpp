#include "serve/server.h"

#include "core/error.h"

#include <httplib.h>

#include <chrono>
#include <ctime>
#include <deque>
#include <exception>
#include <string_view>

namespace swarm {

using nlohmann::json;

// A request's place in the bounded queue; then, after acquire(), one of the workers.
class SwarmServer::Ticket {
public:
    explicit Ticket(SwarmServer& s) : s_(s) {}
    ~Ticket() {
        if (!admitted_) return;
        {
            std::lock_guard<std::mutex> lock(s_.mutex_);
            --s_.admitted_;
            if (working_) --s_.running_;
        }
        s_.cv_.notify_all();
    }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    bool admit() {
        std::lock_guard<std::mutex> lock(s_.mutex_);
        if (s_.admitted_ >= s_.options_.workers + s_.options_.maxQueue) return false;
        ++s_.admitted_;
        admitted_ = true;
        return true;
    }
    void acquire() {
        {
            std::unique_lock<std::mutex> lock(s_.mutex_);
            s_.cv_.wait(lock, [&] { return s_.running_ < s_.options_.workers; });
            ++s_.running_;
            working_ = true;
        }
        if (s_.options_.beforeInference) s_.options_.beforeInference();
    }

private:
    SwarmServer& s_;
    bool admitted_ = false;
    bool working_ = false;
};

namespace {

struct HttpError {
    int status;
    std::string message;
    std::string type;
};

[[noreturn]] void badRequest(const std::string& message) { throw HttpError{400, message, "invalid_request_error"}; }

void sendError(httplib::Response& res, int status, const std::string& message, const std::string& type) {
    res.status = status;
    res.set_content(json{{"error", {{"message", message}, {"type", type}, {"code", status}}}}.dump(),
                    "application/json");
}

const char* finishName(engine::FinishReason f) {
    switch (f) {
    case engine::FinishReason::MaxTokens:
    case engine::FinishReason::ContextFull: return "length";
    default: return "stop";
    }
}

struct Parsed {
    bool chat = false;
    bool stream = false;
    std::string model;
    DispatchRequest request;
};

Parsed parseRequest(const std::string& body, bool chat, const Swarm& swarm, int maxTokensCap) {
    Parsed p;
    p.chat = chat;
    json j;
    try {
        j = json::parse(body);
    } catch (const json::parse_error& e) {
        badRequest(std::string("malformed JSON: ") + e.what());
    }
    if (!j.is_object()) badRequest("the request body must be a JSON object");
    auto it = j.find("model");
    if (it == j.end() || !it->is_string()) badRequest("field 'model' is required: \"swarm\" or a specialist label");
    p.model = it->get<std::string>();
    if (p.model != "swarm" && !swarm.definition().specialist(p.model))
        throw HttpError{404, "unknown model '" + p.model + "': use \"swarm\" or one of GET /v1/models", "not_found_error"};
    p.request.label = p.model == "swarm" ? "" : p.model;

    if (chat) {
        it = j.find("messages");
        if (it == j.end() || !it->is_array() || it->empty()) badRequest("field 'messages' must be a non-empty list");
        bool found = false;
        for (size_t i = 0; i < it->size(); ++i) {
            const json& m = (*it)[i];
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
                !m["content"].is_string())
                badRequest("field 'messages[" + std::to_string(i) + "]' must have string 'role' and 'content'");
            if (m["role"] == "user") {
                p.request.input = m["content"].get<std::string>();
                found = true;
            }
        }
        if (!found) badRequest("field 'messages' has no message with role 'user'");
    } else {
        it = j.find("prompt");
        if (it == j.end()) badRequest("field 'prompt' is required");
        if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) p.request.input = (*it)[0].get<std::string>();
        else if (it->is_string()) p.request.input = it->get<std::string>();
        else badRequest("field 'prompt' must be a string");
    }

    it = j.find("max_tokens");
    if (it != j.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > (1 << 20))
            badRequest("field 'max_tokens' must be a positive integer");
        p.request.maxTokens = int(it->get<long long>());
    }
    if (maxTokensCap > 0)
        p.request.maxTokens = p.request.maxTokens > 0 ? std::min(p.request.maxTokens, maxTokensCap) : maxTokensCap;
    it = j.find("temperature");
    if (it != j.end() && !it->is_null()) {
        if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 100)
            badRequest("field 'temperature' must be a number between 0 and 100");
        p.request.temperature = it->get<float>();
    }
    it = j.find("stop");
    if (it != j.end() && !it->is_null()) {
        if (it->is_string()) p.request.stop.push_back(it->get<std::string>());
        else if (it->is_array()) {
            for (const json& s : *it) {
                if (!s.is_string()) badRequest("field 'stop' must be a string or a list of strings");
                p.request.stop.push_back(s.get<std::string>());
            }
        } else badRequest("field 'stop' must be a string or a list of strings");
    }
    it = j.find("stream");
    if (it != j.end() && !it->is_null()) {
        if (!it->is_boolean()) badRequest("field 'stream' must be true or false");
        p.stream = it->get<bool>();
    }
    return p;
}

json swarmInfo(const DispatchResult& r) {
    json o{{"routed", r.routed}, {"specialist", r.specialist}, {"router_ms", r.routerMs},
           {"specialist_ms", r.specialistMs}};
    if (r.routed) {
        o["label"] = r.route.label;
        o["confidence"] = r.route.confidence;
    }
    return o;
}

json usage(const DispatchResult& r) {
    return json{{"prompt_tokens", r.promptTokens}, {"completion_tokens", r.completionTokens},
                {"total_tokens", r.promptTokens + r.completionTokens}};
}

std::string sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

// Text pieces from the swarm's decoding thread to the request's HTTP thread, so that a slow
// client's socket never holds up the batch the request decodes in.
class PieceChannel {
public:
    // The decoder's side: false once the client is gone (generation then stops).
    bool push(std::string_view piece) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (cancelled_) return false;
        if (!piece.empty()) {
            pieces_.emplace_back(piece);
            ready_.notify_one();
        }
        return true;
    }
    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        ready_.notify_one();
    }
    void cancel() {
        std::lock_guard<std::mutex> lock(mutex_);
        cancelled_ = true;
    }
    // The HTTP thread's side: false once closed and drained.
    bool pop(std::string& out) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !pieces_.empty() || closed_; });
        if (pieces_.empty()) return false;
        out = std::move(pieces_.front());
        pieces_.pop_front();
        return true;
    }

private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::string> pieces_;
    bool closed_ = false, cancelled_ = false;
};

} // namespace

SwarmServer::SwarmServer(Swarm& swarm, ServerOptions options)
    : swarm_(swarm), options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
    if (options_.workers < 1) throw Error("serve: workers must be at least 1");
    if (options_.maxQueue < 0) throw Error("serve: max queue must be >= 0");
    const size_t threads = options_.httpThreads > 0 ? size_t(options_.httpThreads)
                                                    : size_t(options_.workers + options_.maxQueue + 4);
    if (options_.idleTimeoutSeconds < 1) throw Error("serve: the idle timeout must be at least 1 second");
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_->set_payload_max_length(options_.maxBodyBytes);
    http_->set_keep_alive_timeout(options_.idleTimeoutSeconds);
    http_->set_read_timeout(options_.idleTimeoutSeconds, 0);
    routes();
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

void SwarmServer::routes() {
    http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 413) sendError(res, 413, "request body too large", "invalid_request_error");
        else if (res.status == 404) sendError(res, 404, "no route " + req.method + " " + req.path, "not_found_error");
        else sendError(res, res.status, "HTTP " + std::to_string(res.status), "error");
    });
    http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string message = "internal error";
        try {
            if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            message = e.what();
        } catch (...) {
        }
        sendError(res, 500, message, "server_error");
    });

    http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        json loaded = swarm_.loadedSpecialists();
        const engine::BatchDecoder::Stats batch = swarm_.decoderStats();
        res.set_content(json{{"status", "ok"}, {"swarm", swarm_.definition().name}, {"active", active()},
                             {"queued", queued()}, {"served", served()}, {"rejected", rejected()},
                             {"loaded", loaded}, {"loaded_bytes", swarm_.loadedBytes()},
                             {"batch", {{"steps", batch.steps}, {"tokens", batch.tokens}, {"widest", batch.widest}}}}
                            .dump(),
                        "application/json");
    });

    http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
        json data = json::array();
        auto add = [&](const std::string& id, const std::string& kind) {
            data.push_back(json{{"id", id}, {"object", "model"}, {"owned_by", swarm_.definition().name}, {"swarm_role", kind}});
        };
        add("swarm", "router");
        for (const SpecialistDef& s : swarm_.definition().specialists) add(s.label, "specialist");
        if (swarm_.definition().fallback) add("fallback", "fallback");
        res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
    });

    auto completions = [this](bool chat) {
        return [this, chat](const httplib::Request& req, httplib::Response& res) {
            Parsed p;
            try {
                p = parseRequest(req.body, chat, swarm_, options_.maxTokensCap);
            } catch (const HttpError& e) {
                sendError(res, e.status, e.message, e.type);
                return;
            }
            auto ticket = std::make_shared<Ticket>(*this);
            if (!ticket->admit()) {
                ++rejected_;
                res.set_header("Retry-After", "1");
                sendError(res, 503, "server busy: the request queue is full, retry later", "overloaded");
                return;
            }
            const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(nextId_++);
            const long long created = (long long)std::time(nullptr);
            const char* object = chat ? "chat.completion" : "text_completion";

            if (!p.stream) {
                ticket->acquire();
                DispatchResult r;
                try {
                    r = swarm_.dispatch(p.request);
                } catch (const std::exception& e) {
                    sendError(res, 500, e.what(), "server_error");
                    return;
                }
                ++served_;
                json choice{{"index", 0}, {"finish_reason", finishName(r.finish)}};
                if (chat) choice["message"] = {{"role", "assistant"}, {"content", r.answer}};
                else choice["text"] = r.answer;
                res.set_content(json{{"id", id}, {"object", object}, {"created", created}, {"model", r.specialist},
                                     {"choices", json::array({choice})}, {"usage", usage(r)}, {"swarm", swarmInfo(r)}}
                                    .dump(),
                                "application/json");
                return;
            }

            res.set_header("Cache-Control", "no-cache");
            auto shared = std::make_shared<Parsed>(std::move(p));
            res.set_chunked_content_provider(
                "text/event-stream",
                [this, ticket, shared, chat, id, created](size_t, httplib::DataSink& sink) {
                    ticket->acquire();
                    const char* chunkObject = chat ? "chat.completion.chunk" : "text_completion";
                    bool first = true;
                    auto chunk = [&](const std::string& piece, const json& finish) {
                        json choice{{"index", 0}, {"finish_reason", finish}};
                        if (chat) {
                            json delta = {{"content", piece}};
                            if (first) delta["role"] = "assistant";
                            choice["delta"] = delta;
                        } else {
                            choice["text"] = piece;
                        }
                        first = false;
                        return json{{"id", id}, {"object", chunkObject}, {"created", created},
                                    {"choices", json::array({choice})}};
                    };
                    PieceChannel channel;
                    DispatchRequest request = shared->request;
                    request.onToken = [&channel](const engine::TokenEvent& e) { return channel.push(e.text); };
                    DispatchResult r;
                    std::exception_ptr error;
                    std::thread generator([&] {
                        try {
                            r = swarm_.dispatch(request);
                        } catch (...) {
                            error = std::current_exception();
                        }
                        channel.close();
                    });
                    bool open = true;
                    std::string piece;
                    while (channel.pop(piece)) {
                        if (!open) continue;
                        const std::string s = sse(chunk(piece, nullptr));
                        open = sink.write(s.data(), s.size());
                        if (!open) channel.cancel();
                    }
                    generator.join();
                    if (!open) return false;
                    if (error) {
                        std::string message = "internal error";
                        try {
                            std::rethrow_exception(error);
                        } catch (const std::exception& e) {
                            message = e.what();
                        } catch (...) {
                        }
                        const std::string s = sse(json{{"error", {{"message", message}, {"type", "server_error"}, {"code", 500}}}});
                        sink.write(s.data(), s.size());
                    } else {
                        ++served_;
                        json last = chunk("", finishName(r.finish));
                        last["model"] = r.specialist;
                        last["usage"] = usage(r);
                        last["swarm"] = swarmInfo(r);
                        const std::string s = sse(last) + "data: [DONE]\n\n";
                        if (!sink.write(s.data(), s.size())) return false;
                    }
                    sink.done();
                    return true;
                });
        };
    };
    http_->Post("/v1/completions", completions(false));
    http_->Post("/v1/chat/completions", completions(true));
}

} // namespace swarm
