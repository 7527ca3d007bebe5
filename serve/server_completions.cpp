// POST /v1/completions and /v1/chat/completions: authenticate, parse, admit (queue and key
// limits), wait for a worker within the deadline, then answer whole or as a stream.
#include "serve/server_internal.h"

#include "core/format.h"

#include <ctime>
#include <deque>
#include <exception>
#include <string_view>

namespace swarm {

using nlohmann::json;

namespace {

std::string seconds(double s) { return formatNumber("%g", s) + " s"; }

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

std::string messageOf(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
    }
    return "internal error";
}

// What the answer tells the log and the metrics.
void noteDispatch(RequestRecord& record, const DispatchResult& r) {
    record.route = r.specialist;
    record.promptTokens = r.promptTokens;
    record.completionTokens = r.completionTokens;
    record.specialistMs = r.specialistMs;
    if (r.routed) {
        record.routerLabel = r.route.label;
        record.routerConfidence = r.route.confidence;
        record.routerMs = r.routerMs;
    }
}

std::string deadlineMessage(double deadlineSeconds, int tokens) {
    return "deadline of " + seconds(deadlineSeconds) + " passed while generating (after " + std::to_string(tokens) +
           " tokens)";
}

} // namespace

void SwarmServer::refuse(httplib::Response& res, RequestRecord& record, int status, const std::string& message,
                         const std::string& type, const std::string& param) const {
    record.error = message;
    sendError(res, status, message, type, param);
}

bool SwarmServer::authorize(const httplib::Request& req, httplib::Response& res, RequestRecord& record) const {
    std::shared_ptr<const ApiKeys> keys;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        keys = keys_;
    }
    if (!keys) return true;
    const std::string header = req.get_header_value("Authorization");
    const ApiKey* key = header.empty() ? nullptr : keys->match(header);
    if (key) {
        record.key = key->name;
        return true;
    }
    record.key = "unauthenticated";
    res.set_header("WWW-Authenticate", "Bearer");
    refuse(res, record, 401,
           header.empty() ? "missing API key: send the header 'Authorization: Bearer KEY'"
                          : "invalid API key (the Authorization header must be 'Bearer KEY' with a key of the server)",
           "authentication_error");
    return false;
}

void SwarmServer::handleCompletion(bool chat, const httplib::Request& req, httplib::Response& res) {
    auto call = std::make_shared<Call>();
    call->record = track(req);
    RequestRecord& record = *call->record;
    if (!authorize(req, res, record)) return;
    call->swarm = swarm();
    try {
        call->request = openai::parseCompletionRequest(req.body, chat, call->swarm->definition(), options_.maxTokensCap);
    } catch (const openai::HttpError& e) {
        refuse(res, record, e.status, e.message, e.type, e.param);
        return;
    }
    record.model = call->request.model;
    record.stream = call->request.stream;
    call->id = (chat ? "chatcmpl-" : "cmpl-") + record.id;
    call->created = (long long)std::time(nullptr);
    if (options_.deadlineSeconds > 0)
        call->deadline = record.start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                            std::chrono::duration<double>(options_.deadlineSeconds));
    if (!admitAndWait(*call, res)) return;
    if (call->request.stream) answerStream(call, res);
    else answerWhole(*call, res);
}

bool SwarmServer::admitAndWait(Call& call, httplib::Response& res) {
    RequestRecord& record = *call.record;
    call.ticket = std::make_unique<Ticket>(*this, record.key);
    switch (call.ticket->admit()) {
    case Ticket::Admission::Admitted: break;
    case Ticket::Admission::KeyLimit:
        res.set_header("Retry-After", "1");
        refuse(res, record, 429,
               "too many requests in flight for API key '" + record.key + "' (at most " +
                   std::to_string(options_.maxConcurrentPerKey) + "), retry later",
               "rate_limit_error");
        return false;
    case Ticket::Admission::QueueFull:
        ++rejected_;
        res.set_header("Retry-After", "1");
        refuse(res, record, 503, "server busy: the request queue is full, retry later", "overloaded");
        return false;
    }
    const auto waitStart = std::chrono::steady_clock::now();
    const bool got = call.ticket->acquire(call.deadline);
    record.queueMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - waitStart).count();
    metrics_->queueWait.observe({}, record.queueMs / 1000);
    if (!got) {
        ++rejected_;
        res.set_header("Retry-After", "1");
        refuse(res, record, 503,
               "server busy: the deadline of " + seconds(options_.deadlineSeconds) + " passed while waiting for a worker",
               "overloaded");
        return false;
    }
    return true;
}

void SwarmServer::answerWhole(Call& call, httplib::Response& res) {
    RequestRecord& record = *call.record;
    DispatchRequest request = call.request.dispatch;
    std::atomic<bool> expired{false};
    if (call.deadline)
        request.onToken = [&](const engine::TokenEvent&) {
            if (!call.pastDeadline()) return true;
            expired = true;
            return false;
        };
    DispatchResult r;
    try {
        r = call.swarm->dispatch(request);
    } catch (const std::exception& e) {
        refuse(res, record, 500, e.what(), "server_error");
        return;
    }
    noteDispatch(record, r);
    if (expired) {
        refuse(res, record, 504, deadlineMessage(options_.deadlineSeconds, r.completionTokens), "timeout");
        return;
    }
    ++served_;
    res.set_content(openai::dump(openai::completionBody(call.id, call.request.chat, call.created, r)), "application/json");
}

void SwarmServer::answerStream(std::shared_ptr<Call> call, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, call](size_t, httplib::DataSink& sink) {
        return streamAnswer(*call, sink);
    });
}

// Generates on a thread of its own while this (HTTP) thread writes the pieces as they come.
bool SwarmServer::streamAnswer(Call& call, httplib::DataSink& sink) {
    RequestRecord& record = *call.record;
    const bool chat = call.request.chat;
    PieceChannel channel;
    std::atomic<bool> expired{false};
    DispatchRequest request = call.request.dispatch;
    request.onToken = [&](const engine::TokenEvent& e) {
        if (call.pastDeadline()) {
            expired = true;
            return false;
        }
        return channel.push(e.text);
    };
    DispatchResult r;
    std::exception_ptr error;
    std::thread generator([&] {
        try {
            r = call.swarm->dispatch(request);
        } catch (...) {
            error = std::current_exception();
        }
        channel.close();
    });
    bool open = true, first = true;
    std::string piece;
    while (channel.pop(piece)) {
        if (!open) continue;
        const std::string s = openai::sse(openai::streamChunk(call.id, chat, call.created, piece, nullptr, first));
        first = false;
        open = sink.write(s.data(), s.size());
        if (!open) channel.cancel();
    }
    generator.join();
    // The worker and the swarm are free from here on, before the last bytes are written.
    call.ticket.reset();
    call.swarm.reset();
    if (!open) {
        record.error = "the client closed the connection";
        record.status = 499;
        return false;
    }
    std::string tail;
    if (error || expired) {
        const int status = error ? 500 : 504;
        record.error = error ? messageOf(error) : deadlineMessage(options_.deadlineSeconds, r.completionTokens);
        record.status = status;
        if (!error) noteDispatch(record, r);
        tail = openai::sse(openai::errorJson(status, record.error, error ? "server_error" : "timeout"));
    } else {
        noteDispatch(record, r);
        ++served_;
        tail = openai::sse(openai::finalChunk(call.id, chat, call.created, r, first)) + openai::kStreamDone;
    }
    if (!sink.write(tail.data(), tail.size())) return false;
    sink.done();
    return true;
}

} // namespace swarm
