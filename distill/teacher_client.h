#pragma once
// The teacher: any OpenAI-compatible POST /v1/chat/completions endpoint (a hosted generalist, a
// local llama-server or vLLM, `swarm serve`), one prompt per request (issue 16).
//
//   TeacherClient client(TeacherEndpoint::parse("http://127.0.0.1:8080"), settings, {key, 120});
//   TeacherReply r = client.complete("How many orders shipped?");
//   if (r.kind == ReplyKind::Answer) ... r.content, r.promptTokens, r.completionTokens, r.model
//
// complete() never throws for what the network or the server does: every outcome is a reply,
// classified so that the scheduler knows what to do next (distill/distiller.h): an answer; try
// again later (429, 5xx, timeouts, cut connections, malformed or truncated bodies); this prompt
// failed (other 4xx: the request itself is wrong for this prompt, e.g. too long); or stop the
// whole run (401/403/404, no quota, TLS verification: every further request would fail too).
// HTTPS through cpp-httplib's OpenSSL build, verifying the certificate against the system's CA
// store (or ClientOptions::caCertPath).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace httplib {
class Client;
}

namespace swarm::distill {

// Where the requests go. Accepts the server's base URL ("http://host:8080", ".../v1") or the full
// ".../chat/completions" URL (with a query string, e.g. an api-version). Refuses URLs that carry
// credentials (user:password@, a key= parameter): the URL is stored in the project.
struct TeacherEndpoint {
    std::string url;               // the chat completions URL in full
    std::string schemeHostPort;    // "https://api.example.com" (with ":port" when given)
    std::string pathAndQuery;      // "/v1/chat/completions"
    bool https = false;
    static TeacherEndpoint parse(const std::string& url);   // throws swarm::Error naming the URL
};

// What each request asks for; stored with the job (a resume asks the same).
struct TeacherSettings {
    std::string model;             // the teacher's model name, sent as "model"
    std::string system;            // a system message before each prompt; empty: none
    int maxTokens = 1024;          // "max_tokens"
    double temperature = 0.0;
    bool stream = false;           // server-sent events (with stream_options.include_usage)
    nlohmann::json toJson() const;
    static TeacherSettings fromJson(const nlohmann::json& j);
};

// The request body for one prompt.
nlohmann::json chatRequestBody(const TeacherSettings& settings, const std::string& prompt);

enum class ReplyKind {
    Answer,         // a chat completion arrived whole
    Retry,          // worth another try: 408/409/425/429/5xx, timeout, cut connection, malformed body
    PromptFailed,   // this prompt's request is refused (400, 413, 422, ...): no retry
    Fatal,          // every request would fail the same way (401, 403, 404, quota, TLS): stop the run
    Cancelled,      // abort() was called
};
const char* replyKindName(ReplyKind kind);   // answer, retry, prompt_failed, fatal, cancelled

struct TeacherReply {
    ReplyKind kind = ReplyKind::Retry;
    int httpStatus = 0;               // 0: no HTTP response (connection, timeout)
    std::string errorClass;           // timeout, connection, http_429, malformed_json, truncated_stream, ...
    std::string error;                // one line for people (with the server's own message when it gave one)
    double retryAfterSeconds = -1;    // Retry-After / retry-after-ms, -1 when absent
    std::string rawBody;              // the response body as received (at most maxBodyBytes)
    std::string content;              // the assistant's text
    std::string model;                // the model the teacher says answered
    std::string finishReason;         // stop, length, content_filter, ... ("" when not given)
    int64_t promptTokens = 0, completionTokens = 0;
    bool usageReported = false;       // the answer carried "usage"
    double latencyMs = 0;             // request sent to the last byte
};

// A whole chat completion body into `reply` (content, model, finish reason, usage). False, with
// reply.errorClass and reply.error set, when it is not one (not JSON, an error object, no choices).
bool parseChatCompletion(const std::string& body, TeacherReply& reply);
// A server-sent event stream of chat completion chunks. False when a chunk is malformed or the
// stream ends before "data: [DONE]" (errorClass truncated_stream).
bool parseChatStream(const std::string& body, TeacherReply& reply);
// What a non-2xx status means: Retry, PromptFailed or Fatal (with errorClass and error filled
// from the status and the body's {"error": {"message", "code"}} when present).
ReplyKind classifyStatus(int status, const std::string& body, TeacherReply& reply);

struct ClientOptions {
    std::string apiKey;                   // "Authorization: Bearer KEY" when not empty
    double timeoutSeconds = 120;          // a whole request; see complete()
    double connectTimeoutSeconds = 10;    // (capped by timeoutSeconds)
    std::string caCertPath;               // HTTPS: this CA bundle instead of the system's
    size_t maxBodyBytes = size_t(16) << 20;
    std::string userAgent = "swarm-workbench-distill";
};

class TeacherClient {
public:
    TeacherClient(TeacherEndpoint endpoint, TeacherSettings settings, ClientOptions options);
    ~TeacherClient();
    TeacherClient(const TeacherClient&) = delete;
    TeacherClient& operator=(const TeacherClient&) = delete;

    // Sends one prompt and waits for the whole answer. The socket gives up after timeoutSeconds
    // without a byte; interruptIfOverdue() (the scheduler's watchdog) and the body's own checks
    // bound the whole request by timeoutSeconds. The connection is kept alive between calls.
    TeacherReply complete(const std::string& prompt);

    // From another thread: ends the request in flight now (its reply is Cancelled).
    void abort();
    // From another thread: ends the request in flight when it started more than timeoutSeconds
    // ago (its reply is Retry, errorClass "timeout"). True when it did.
    bool interruptIfOverdue(std::chrono::steady_clock::time_point now);

    const TeacherEndpoint& endpoint() const { return endpoint_; }
    const TeacherSettings& settings() const { return settings_; }

private:
    enum class Interrupt { None, Abort, Timeout };
    Interrupt interruption() const;

    TeacherEndpoint endpoint_;
    TeacherSettings settings_;
    ClientOptions options_;
    std::unique_ptr<httplib::Client> http_;
    mutable std::mutex mutex_;                            // guards the three below
    bool inFlight_ = false;
    std::chrono::steady_clock::time_point started_{};
    Interrupt interrupt_ = Interrupt::None;
    std::atomic<bool> interrupted_{false};                // interrupt_ != None, read from callbacks
};

} // namespace swarm::distill
