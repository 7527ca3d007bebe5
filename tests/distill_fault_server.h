#pragma once
// A fault-injecting OpenAI-compatible teacher for the distillation tests (issue 16), listening on
// 127.0.0.1 on a free port: POST /v1/chat/completions answers each request as its script says
// for (prompt, attempt): a chat completion (whole, or streamed as server-sent events when the
// request asks for a stream), an HTTP status (429 with Retry-After, 500, 401, ...), a hung
// connection (held until released, the server stops, or 30 s pass), a malformed JSON body, a
// body cut short of its Content-Length, a stream that ends without data: [DONE], or a slow
// answer. Every request is recorded (prompt, attempt, arrival time, Authorization header, body),
// and the most requests ever in flight at once is kept.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace distilltest {

struct Fault {
    enum class Kind { Answer, Status, Hang, Malformed, TruncatedBody, TruncatedStream, Slow };
    Kind kind = Kind::Answer;
    int status = 200;
    std::string retryAfter;    // the Retry-After header of a Status fault ("" : none)
    std::string body;          // the body of a Status fault
    int delayMs = 0;           // Slow: the wait before the answer

    static Fault answer() { return Fault{}; }
    static Fault http(int status, std::string retryAfter = "", std::string body = "") {
        Fault f;
        f.kind = Kind::Status;
        f.status = status;
        f.retryAfter = std::move(retryAfter);
        f.body = body.empty() ? nlohmann::json{{"error", {{"message", "injected " + std::to_string(status)}, {"type", "test"}}}}.dump()
                              : std::move(body);
        return f;
    }
    static Fault of(Kind kind, int delayMs = 0) {
        Fault f;
        f.kind = kind;
        f.delayMs = delayMs;
        return f;
    }
};

// What an answer carries.
struct Answer {
    std::string content;
    std::string finish = "stop";
    std::string model = "fake-teacher";
    bool usage = true;
    int promptTokens = 10, completionTokens = 5;
};

struct SeenRequest {
    std::string prompt;
    int attempt = 0;              // 1 for the first request with this prompt
    double atSeconds = 0;         // since the server started
    std::string authorization;
    nlohmann::json body;
};

class FaultServer {
public:
    // Both are called on the server's threads: keep them pure (or lock what they share).
    std::function<Fault(const std::string& prompt, int attempt)> script = [](const std::string&, int) { return Fault::answer(); };
    std::function<Answer(const std::string& prompt)> answer = [](const std::string& prompt) {
        Answer a;
        a.content = "answer to: " + prompt;
        return a;
    };

    FaultServer() = default;
    ~FaultServer() { stop(); }
    FaultServer(const FaultServer&) = delete;
    FaultServer& operator=(const FaultServer&) = delete;

    void start() {
        t0_ = std::chrono::steady_clock::now();
        svr_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
        port_ = svr_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { svr_.listen_after_bind(); });
        for (int i = 0; i < 2000 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    void stop() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) {
            svr_.stop();
            thread_.join();
        }
    }
    void releaseHung() {
        {
            std::lock_guard<std::mutex> lock(m_);
            released_ = true;
        }
        cv_.notify_all();
    }

    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<SeenRequest> requests() const {
        std::lock_guard<std::mutex> lock(m_);
        return seen_;
    }
    int requestsFor(const std::string& prompt) const {
        std::lock_guard<std::mutex> lock(m_);
        return int(std::count_if(seen_.begin(), seen_.end(), [&](const SeenRequest& s) { return s.prompt == prompt; }));
    }
    int maxInFlight() const { return maxInFlight_.load(); }

private:
    static std::string completionBody(const Answer& a) {
        nlohmann::json j{{"id", "chatcmpl-test"},
                         {"object", "chat.completion"},
                         {"model", a.model},
                         {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", a.content}}}, {"finish_reason", a.finish}}}}};
        if (a.usage)
            j["usage"] = {{"prompt_tokens", a.promptTokens}, {"completion_tokens", a.completionTokens},
                          {"total_tokens", a.promptTokens + a.completionTokens}};
        return j.dump();
    }

    static std::vector<std::string> streamEvents(const Answer& a, bool done) {
        auto chunk = [&](const nlohmann::json& delta, const nlohmann::json& finish) {
            nlohmann::json j{{"id", "chatcmpl-test"}, {"object", "chat.completion.chunk"}, {"model", a.model},
                             {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}};
            return "data: " + j.dump() + "\n\n";
        };
        std::vector<std::string> ev;
        const size_t half = a.content.size() / 2;
        ev.push_back(chunk({{"role", "assistant"}, {"content", a.content.substr(0, half)}}, nullptr));
        ev.push_back(chunk({{"content", a.content.substr(half)}}, nullptr));
        if (!done) return ev;   // cut: neither the finish chunk, the usage chunk nor [DONE]
        ev.push_back(chunk(nlohmann::json::object(), a.finish));
        if (a.usage) {
            nlohmann::json u{{"id", "chatcmpl-test"}, {"object", "chat.completion.chunk"}, {"model", a.model},
                             {"choices", nlohmann::json::array()},
                             {"usage", {{"prompt_tokens", a.promptTokens}, {"completion_tokens", a.completionTokens}}}};
            ev.push_back("data: " + u.dump() + "\n\n");
        }
        ev.push_back("data: [DONE]\n\n");
        return ev;
    }

    void handle(const httplib::Request& req, httplib::Response& res) {
        const int now = ++inFlight_;
        int seenMax = maxInFlight_.load();
        while (now > seenMax && !maxInFlight_.compare_exchange_weak(seenMax, now)) {
        }
        struct Leave {
            std::atomic<int>& n;
            ~Leave() { --n; }
        } leave{inFlight_};

        const nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
        std::string prompt;
        if (body.is_object() && body.contains("messages"))
            for (const auto& m : body["messages"])
                if (m.value("role", "") == "user") prompt = m.value("content", "");
        int attempt = 0;
        {
            std::lock_guard<std::mutex> lock(m_);
            attempt = ++attempts_[prompt];
            seen_.push_back(SeenRequest{prompt, attempt,
                                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(),
                                        req.get_header_value("Authorization"), body});
        }
        const Fault f = script(prompt, attempt);
        const bool stream = body.is_object() && body.value("stream", false);
        switch (f.kind) {
        case Fault::Kind::Status:
            res.status = f.status;
            if (!f.retryAfter.empty()) res.set_header("Retry-After", f.retryAfter);
            res.set_content(f.body, "application/json");
            return;
        case Fault::Kind::Hang: {
            std::unique_lock<std::mutex> lock(m_);
            cv_.wait_for(lock, std::chrono::seconds(30), [&] { return stopping_ || released_; });
            res.status = 500;
            res.set_content("{}", "application/json");
            return;
        }
        case Fault::Kind::Malformed:
            res.set_content("{\"choices\": [{\"message\": {\"content\": \"cut", "application/json");
            return;
        case Fault::Kind::TruncatedBody: {
            const std::string whole = completionBody(answer(prompt));
            const std::string part = whole.substr(0, whole.size() / 2);
            res.set_content_provider(whole.size(), "application/json", [part](size_t offset, size_t, httplib::DataSink& sink) {
                if (offset == 0) sink.write(part.data(), part.size());
                return offset == 0;   // then false: the connection is closed short of Content-Length
            });
            return;
        }
        case Fault::Kind::TruncatedStream: {
            const std::vector<std::string> ev = streamEvents(answer(prompt), false);
            res.set_chunked_content_provider("text/event-stream", [ev](size_t, httplib::DataSink& sink) {
                for (const std::string& e : ev) sink.write(e.data(), e.size());
                sink.done();
                return true;
            });
            return;
        }
        case Fault::Kind::Slow:
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min(f.delayMs, 10000)));
            break;
        case Fault::Kind::Answer:
            break;
        }
        const Answer a = answer(prompt);
        if (stream) {
            const std::vector<std::string> ev = streamEvents(a, true);
            res.set_chunked_content_provider("text/event-stream", [ev](size_t, httplib::DataSink& sink) {
                for (const std::string& e : ev) sink.write(e.data(), e.size());
                sink.done();
                return true;
            });
            return;
        }
        res.set_content(completionBody(a), "application/json");
    }

    httplib::Server svr_;
    std::thread thread_;
    int port_ = 0;
    std::chrono::steady_clock::time_point t0_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    bool stopping_ = false, released_ = false;
    std::vector<SeenRequest> seen_;
    std::map<std::string, int> attempts_;
    std::atomic<int> inFlight_{0}, maxInFlight_{0};
};

} // namespace distilltest
