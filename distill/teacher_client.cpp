#include "distill/teacher_client.h"

#include "distill/api_key.h"
#include "distill/retry_policy.h"

#include "core/error.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace swarm::distill {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Endpoint

namespace {

std::string lowerAscii(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Query parameters whose name says they carry a secret.
bool queryCarriesKey(const std::string& query) {
    size_t pos = 0;
    while (pos <= query.size()) {
        size_t amp = query.find('&', pos);
        if (amp == std::string::npos) amp = query.size();
        const std::string param = query.substr(pos, amp - pos);
        const std::string name = lowerAscii(param.substr(0, param.find('=')));
        for (const char* secret : {"key", "api_key", "api-key", "apikey", "token", "access_token", "auth"})
            if (name == secret) return true;
        pos = amp + 1;
    }
    return false;
}

} // namespace

TeacherEndpoint TeacherEndpoint::parse(const std::string& url) {
    auto fail = [&](const std::string& why) -> TeacherEndpoint { throw Error("teacher URL '" + url + "': " + why); };
    TeacherEndpoint e;
    std::string rest;
    if (lowerAscii(url.substr(0, 7)) == "http://") {
        rest = url.substr(7);
    } else if (lowerAscii(url.substr(0, 8)) == "https://") {
        rest = url.substr(8);
        e.https = true;
    } else {
        return fail("must start with http:// or https://");
    }
    for (char c : url)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return fail("contains a space or a control character");
    const size_t slash = rest.find_first_of("/?");
    const std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    if (authority.empty()) return fail("has no host");
    if (authority.find('@') != std::string::npos)
        return fail("carries credentials (user@host); give the key through an environment variable or a key file");
    const size_t colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']') == std::string::npos) {
        const std::string port = authority.substr(colon + 1);
        if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
            std::stoi(port) < 1 || std::stoi(port) > 65535)
            return fail("port '" + port + "' is not a number in 1..65535");
    }
    std::string query;
    const size_t q = path.find('?');
    if (q != std::string::npos) {
        query = path.substr(q + 1);
        path = path.substr(0, q);
    }
    if (queryCarriesKey(query))
        return fail("carries a key in its query string; give the key through an environment variable or a key file");
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (endsWith(path, "/chat/completions")) {
        // the full URL
    } else if (endsWith(path, "/v1")) {
        path += "/chat/completions";
    } else if (path.empty() || path == "/") {
        path = "/v1/chat/completions";
    } else {
        return fail("give the server's base URL (http://host:port or .../v1) or the full .../chat/completions URL");
    }
    e.schemeHostPort = (e.https ? "https://" : "http://") + authority;
    e.pathAndQuery = path + (query.empty() ? "" : "?" + query);
    e.url = e.schemeHostPort + e.pathAndQuery;
    return e;
}

// ---------------------------------------------------------------------------------------------
// Settings and the request body

json TeacherSettings::toJson() const {
    return json{{"model", model}, {"system", system}, {"max_tokens", maxTokens}, {"temperature", temperature}, {"stream", stream}};
}

TeacherSettings TeacherSettings::fromJson(const json& j) {
    TeacherSettings s;
    s.model = j.value("model", "");
    s.system = j.value("system", "");
    s.maxTokens = j.value("max_tokens", 1024);
    s.temperature = j.value("temperature", 0.0);
    s.stream = j.value("stream", false);
    return s;
}

json chatRequestBody(const TeacherSettings& s, const std::string& prompt) {
    json messages = json::array();
    if (!s.system.empty()) messages.push_back(json{{"role", "system"}, {"content", s.system}});
    messages.push_back(json{{"role", "user"}, {"content", prompt}});
    json body{{"model", s.model}, {"messages", messages}, {"max_tokens", s.maxTokens}, {"temperature", s.temperature}};
    body["stream"] = s.stream;
    if (s.stream) body["stream_options"] = json{{"include_usage", true}};
    return body;
}

const char* replyKindName(ReplyKind kind) {
    switch (kind) {
    case ReplyKind::Answer: return "answer";
    case ReplyKind::Retry: return "retry";
    case ReplyKind::PromptFailed: return "prompt_failed";
    case ReplyKind::Fatal: return "fatal";
    case ReplyKind::Cancelled: return "cancelled";
    }
    return "?";
}

// ---------------------------------------------------------------------------------------------
// Parsing answers

namespace {

// The first `max` bytes of a body, on one line, for messages.
std::string excerpt(const std::string& body, size_t max = 200) {
    std::string out;
    for (char c : body.substr(0, std::min(body.size(), max))) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    if (body.size() > max) out += "...";
    return out;
}

int64_t nonNegativeInt(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return 0;
    return std::max<int64_t>(0, it->get<int64_t>());
}

void readUsage(const json& usage, TeacherReply& r) {
    if (!usage.is_object()) return;
    r.promptTokens = nonNegativeInt(usage, "prompt_tokens");
    r.completionTokens = nonNegativeInt(usage, "completion_tokens");
    r.usageReported = usage.contains("prompt_tokens") || usage.contains("completion_tokens");
}

bool malformed(TeacherReply& r, const std::string& errorClass, const std::string& why) {
    r.errorClass = errorClass;
    r.error = why;
    return false;
}

// The server's own message from {"error": {"message": ...}} or {"error": "..."}, else "".
std::string serverMessage(const json& j) {
    if (!j.is_object()) return "";
    auto it = j.find("error");
    if (it == j.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
        const std::string m = it->value("message", "");
        return m.empty() ? it->dump() : m;
    }
    return it->dump();
}

std::string serverCode(const json& j) {
    if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "";
    const json& e = j["error"];
    for (const char* key : {"code", "type"}) {
        auto it = e.find(key);
        if (it != e.end() && it->is_string()) return it->get<std::string>();
    }
    return "";
}

} // namespace

bool parseChatCompletion(const std::string& body, TeacherReply& r) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return malformed(r, "malformed_json", "the answer is not JSON: " + excerpt(body));
    if (!j.is_object()) return malformed(r, "malformed_json", "the answer is not a JSON object: " + excerpt(body));
    if (j.contains("error")) return malformed(r, "error_body", "the answer is an error: " + excerpt(serverMessage(j)));
    auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object())
        return malformed(r, "malformed_json", "the answer has no choices: " + excerpt(body));
    const json& choice = (*choices)[0];
    auto message = choice.find("message");
    if (message == choice.end() || !message->is_object())
        return malformed(r, "malformed_json", "choices[0] has no message object: " + excerpt(body));
    auto content = message->find("content");
    if (content != message->end() && !content->is_string() && !content->is_null())
        return malformed(r, "malformed_json", "choices[0].message.content is not a string");
    r.content = content != message->end() && content->is_string() ? content->get<std::string>() : "";
    auto finish = choice.find("finish_reason");
    r.finishReason = finish != choice.end() && finish->is_string() ? finish->get<std::string>() : "";
    r.model = j.contains("model") && j["model"].is_string() ? j["model"].get<std::string>() : "";
    if (j.contains("usage")) readUsage(j["usage"], r);
    return true;
}

bool parseChatStream(const std::string& body, TeacherReply& r) {
    std::string content;
    bool done = false;
    size_t pos = 0;
    int chunks = 0;
    while (pos < body.size() && !done) {
        size_t end = body.find('\n', pos);
        if (end == std::string::npos) end = body.size();
        std::string line = body.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("data:", 0) != 0) continue;   // blank separators, comments, event: and id: lines
        std::string payload = line.substr(5);
        if (!payload.empty() && payload[0] == ' ') payload.erase(0, 1);
        if (payload == "[DONE]") {
            done = true;
            break;
        }
        const json j = json::parse(payload, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            return malformed(r, "malformed_json", "stream chunk " + std::to_string(chunks + 1) + " is not a JSON object: " + excerpt(payload));
        if (j.contains("error")) return malformed(r, "error_body", "the stream carried an error: " + excerpt(serverMessage(j)));
        ++chunks;
        if (j.contains("model") && j["model"].is_string() && r.model.empty()) r.model = j["model"].get<std::string>();
        if (j.contains("usage") && j["usage"].is_object()) readUsage(j["usage"], r);
        auto choices = j.find("choices");
        if (choices == j.end() || !choices->is_array() || choices->empty()) continue;   // the usage chunk
        const json& choice = (*choices)[0];
        if (!choice.is_object()) return malformed(r, "malformed_json", "stream chunk " + std::to_string(chunks) + ": choices[0] is not an object");
        auto delta = choice.find("delta");
        if (delta != choice.end() && delta->is_object()) {
            auto c = delta->find("content");
            if (c != delta->end() && c->is_string()) content += c->get<std::string>();
        }
        auto finish = choice.find("finish_reason");
        if (finish != choice.end() && finish->is_string()) r.finishReason = finish->get<std::string>();
    }
    if (!done)
        return malformed(r, "truncated_stream",
                         "the stream ended after " + std::to_string(chunks) + " chunks without data: [DONE]");
    r.content = std::move(content);
    return true;
}

ReplyKind classifyStatus(int status, const std::string& body, TeacherReply& r) {
    const json j = json::parse(body, nullptr, false);
    const std::string message = j.is_discarded() ? excerpt(body) : excerpt(serverMessage(j).empty() ? body : serverMessage(j));
    const std::string code = j.is_discarded() ? "" : serverCode(j);
    r.errorClass = "http_" + std::to_string(status);
    r.error = "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
    // A 429 for an exhausted quota or billing limit does not clear by waiting.
    if (status == 429 && (code == "insufficient_quota" || code == "billing_hard_limit_reached")) {
        r.errorClass = "quota";
        return ReplyKind::Fatal;
    }
    if (isRetryableStatus(status)) return ReplyKind::Retry;
    if (status == 401 || status == 403 || status == 404 || status == 405) return ReplyKind::Fatal;
    return ReplyKind::PromptFailed;
}

// ---------------------------------------------------------------------------------------------
// The client

namespace {

long wholeSeconds(double s) { return long(std::max(0.0, s)); }
long microsPart(double s) { return long((std::max(0.0, s) - double(wholeSeconds(s))) * 1e6); }

} // namespace

TeacherClient::TeacherClient(TeacherEndpoint endpoint, TeacherSettings settings, ClientOptions options)
    : endpoint_(std::move(endpoint)), settings_(std::move(settings)), options_(std::move(options)) {
    if (!(options_.timeoutSeconds > 0)) throw Error("teacher client: the request timeout must be positive");
    http_ = std::make_unique<httplib::Client>(endpoint_.schemeHostPort);
    if (!http_->is_valid()) throw Error("teacher URL '" + endpoint_.url + "': cpp-httplib cannot open it (no TLS support?)");
    const double connect = std::min(options_.connectTimeoutSeconds, options_.timeoutSeconds);
    http_->set_connection_timeout(wholeSeconds(connect), microsPart(connect));
    http_->set_read_timeout(wholeSeconds(options_.timeoutSeconds), microsPart(options_.timeoutSeconds));
    http_->set_write_timeout(wholeSeconds(options_.timeoutSeconds), microsPart(options_.timeoutSeconds));
    http_->set_keep_alive(true);
    http_->set_follow_location(false);
    if (endpoint_.https) {
        http_->enable_server_certificate_verification(true);
        if (!options_.caCertPath.empty()) http_->set_ca_cert_path(options_.caCertPath.c_str());
    }
}

TeacherClient::~TeacherClient() = default;

TeacherClient::Interrupt TeacherClient::interruption() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return interrupt_;
}

void TeacherClient::abort() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!inFlight_) return;
    interrupt_ = Interrupt::Abort;
    interrupted_ = true;
    http_->stop();
}

bool TeacherClient::interruptIfOverdue(std::chrono::steady_clock::time_point now) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!inFlight_ || interrupt_ != Interrupt::None) return false;
    if (std::chrono::duration<double>(now - started_).count() <= options_.timeoutSeconds) return false;
    interrupt_ = Interrupt::Timeout;
    interrupted_ = true;
    http_->stop();
    return true;
}

TeacherReply TeacherClient::complete(const std::string& prompt) {
    TeacherReply reply;
    const auto t0 = std::chrono::steady_clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(options_.timeoutSeconds));
    {
        std::lock_guard<std::mutex> lock(mutex_);
        inFlight_ = true;
        started_ = t0;
        interrupt_ = Interrupt::None;
        interrupted_ = false;
    }
    std::string body;
    bool tooLarge = false, pastDeadline = false;
    // Every chunk of the body: kept up to the limit; false ends the request (cancel, deadline).
    auto keepGoing = [&]() {
        if (interrupted_.load()) return false;
        if (std::chrono::steady_clock::now() > deadline) {
            pastDeadline = true;
            return false;
        }
        return true;
    };
    httplib::Request req;
    req.method = "POST";
    req.path = endpoint_.pathAndQuery;
    req.body = chatRequestBody(settings_, prompt).dump(-1, ' ', false, json::error_handler_t::replace);
    req.set_header("Content-Type", "application/json");
    req.set_header("Accept", settings_.stream ? "text/event-stream" : "application/json");
    req.set_header("User-Agent", options_.userAgent);
    if (!options_.apiKey.empty()) req.set_header("Authorization", "Bearer " + options_.apiKey);
    req.response_handler = [&](const httplib::Response&) { return keepGoing(); };
    req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
        if (body.size() + size > options_.maxBodyBytes) {
            tooLarge = true;
            return false;
        }
        body.append(data, size);
        return keepGoing();
    };
    req.progress = [&](uint64_t, uint64_t) { return keepGoing(); };

    httplib::Result result = http_->send(req);
    const Interrupt why = interruption();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        inFlight_ = false;
    }
    reply.latencyMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    reply.rawBody = redactKey(body, options_.apiKey);
    if (result) reply.httpStatus = result->status;

    if (why == Interrupt::Abort) {
        reply.kind = ReplyKind::Cancelled;
        reply.errorClass = "cancelled";
        reply.error = "cancelled while the request was in flight";
        return reply;
    }
    if (why == Interrupt::Timeout || pastDeadline) {
        reply.kind = ReplyKind::Retry;
        reply.errorClass = "timeout";
        reply.error = "no complete answer within " + std::to_string(int(options_.timeoutSeconds + 0.5)) + " s";
        return reply;
    }
    if (tooLarge) {
        reply.kind = ReplyKind::PromptFailed;
        reply.errorClass = "response_too_large";
        reply.error = "the answer is larger than " + std::to_string(options_.maxBodyBytes) + " bytes";
        return reply;
    }
    if (!result) {
        const httplib::Error e = result.error();
        reply.kind = ReplyKind::Retry;
        reply.error = httplib::to_string(e);
        switch (e) {
        case httplib::Error::ConnectionTimeout:
            reply.errorClass = "timeout";
            reply.error = "the connection was not made within the connect timeout";
            break;
        case httplib::Error::Read:
            // Without an interrupt a read error is the socket timing out or the connection being cut.
            reply.errorClass = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >=
                                        0.95 * options_.timeoutSeconds
                                    ? "timeout"
                                    : "connection";
            reply.error = reply.errorClass == "timeout" ? "no byte from the teacher within the timeout"
                                                        : "the connection was cut before the answer was complete";
            break;
        case httplib::Error::SSLServerVerification:
        case httplib::Error::SSLLoadingCerts:
            reply.kind = ReplyKind::Fatal;
            reply.errorClass = "tls";
            reply.error = "TLS: " + reply.error + " (the teacher's certificate could not be verified)";
            break;
        default:
            reply.errorClass = "connection";
            reply.error = "connection: " + reply.error;
        }
        reply.error = redactKey(reply.error, options_.apiKey);
        return reply;
    }
    const int status = result->status;
    const std::string ra = result->get_header_value("Retry-After"), raMs = result->get_header_value("retry-after-ms");
    if (!ra.empty() || !raMs.empty()) reply.retryAfterSeconds = parseRetryAfter(ra, raMs, int64_t(std::time(nullptr)));
    if (status < 200 || status >= 300) {
        reply.kind = classifyStatus(status, body, reply);
        reply.error = redactKey(reply.error, options_.apiKey);
        return reply;
    }
    const bool isStream = settings_.stream && result->get_header_value("Content-Type").find("text/event-stream") == 0;
    const bool ok = isStream ? parseChatStream(body, reply) : parseChatCompletion(body, reply);
    reply.kind = ok ? ReplyKind::Answer : ReplyKind::Retry;
    if (!ok) reply.error = redactKey(reply.error, options_.apiKey);
    return reply;
}

} // namespace swarm::distill
