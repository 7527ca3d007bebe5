#include "distill/distiller.h"

#include "distill/dataset_builder.h"
#include "distill/teacher_client.h"
#include "distill/validators.h"

#include "core/error.h"
#include "core/format.h"
#include "core/rng.h"
#include "datasets/prompt_template.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

namespace swarm::distill {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

void RunOptions::check() const {
    if (concurrency < 1 || concurrency > 256) throw Error("--concurrency must be in [1, 256]");
    if (maxRequests < 0) throw Error("--max-requests must not be negative");
    if (!std::isfinite(maxSpend) || maxSpend < 0) throw Error("--max-spend must be a non-negative number");
    if (!(timeoutSeconds > 0) || timeoutSeconds > 86400) throw Error("--timeout must be in (0, 86400] seconds");
    if (!(connectTimeoutSeconds > 0)) throw Error("the connect timeout must be positive");
    if (maxConsecutiveFailures < 0) throw Error("--max-consecutive-failures must not be negative");
    retry.check();
}

json RunOptions::toJson() const {
    return json{{"concurrency", concurrency},
                {"max_requests", maxRequests},
                {"max_spend", maxSpend},
                {"timeout_s", timeoutSeconds},
                {"retry", {{"max_attempts", retry.maxAttempts}, {"base_delay_s", retry.baseDelaySeconds},
                           {"max_delay_s", retry.maxDelaySeconds}, {"max_retry_after_s", retry.maxRetryAfterSeconds},
                           {"jitter", retry.jitter}}},
                {"retry_failed", retryFailed},
                {"max_consecutive_failures", maxConsecutiveFailures},
                {"authenticated", !apiKey.empty()}};
}

double tokenCost(int64_t promptTokens, int64_t completionTokens, double pricePerMIn, double pricePerMOut) {
    return (double(promptTokens) * pricePerMIn + double(completionTokens) * pricePerMOut) / 1e6;
}

namespace {

std::string hostName() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

std::string runnerId() { return std::to_string(getpid()) + "@" + hostName(); }

// The holder when it is a process of this host that no longer exists, else "".
std::string staleHolder(const std::string& holder) {
    const size_t at = holder.find('@');
    if (at == std::string::npos || holder.substr(at + 1) != hostName()) return "";
    const long pid = std::strtol(holder.substr(0, at).c_str(), nullptr, 10);
    if (pid <= 0) return holder;
    if (kill(pid_t(pid), 0) == 0 || errno == EPERM) return "";
    return holder;
}

std::string money(double v) { return formatNumber("%.4f", v); }

// Runs one job: this thread coordinates (flags, watchdog, progress), `concurrency` workers send.
class Distiller {
public:
    Distiller(ProjectStore& project, const Gpt2Tokenizer& tok, DistillJob job, const RunOptions& o, const DistillCallbacks& cb)
        : store_(project), project_(project), tok_(tok), job_(std::move(job)), o_(o), cb_(cb),
          validator_(job_.validation, tok, ChatFormat::parse(job_.chatFormat)),
          endpoint_(TeacherEndpoint::parse(job_.teacherUrl)) {}

    DistillResult run();

private:
    // Workers.
    void work(int worker);
    bool takeNext(DistillItem& item);
    bool acquire(const DistillItem& item, double& reservation);
    void processItem(TeacherClient& client, SplitMix64& rng, DistillItem& item);
    // Stores the answer, then trades the request's reservation for its cost.
    void storeAnswer(DistillItem& item, const TeacherReply& reply, double reservation);
    // A request is over: its reservation goes, its cost (0 without an answer) is spent, in one
    // step, so that the spend cap never sees a request neither reserved nor spent.
    void releaseRequest(double reservation, double cost);
    void storeFailure(DistillItem& item, const TeacherReply& reply, const std::string& detail);
    bool sleepFor(double seconds);          // false when the run stops meanwhile
    double worstCase(const DistillItem& item) const;

    // Shared.
    void stop(const std::string& reason, const std::string& message);
    void stopLocked(const std::string& reason, const std::string& message);
    void event(const std::string& line);
    template <class F>
    auto withDb(F&& f) {
        std::lock_guard<std::mutex> lock(dbMutex_);
        return f();
    }
    DistillProgress progress(const std::string& phase);

    DistillStore store_;
    ProjectStore& project_;
    const Gpt2Tokenizer& tok_;
    DistillJob job_;
    const RunOptions& o_;
    const DistillCallbacks& cb_;
    AnswerValidator validator_;
    TeacherEndpoint endpoint_;
    std::vector<std::unique_ptr<TeacherClient>> clients_;
    Clock::time_point t0_ = Clock::now();

    std::mutex dbMutex_;                    // the connection, and the item and log callbacks
    std::mutex m_;                          // everything below
    std::condition_variable cv_;
    std::vector<DistillItem> queue_;
    size_t next_ = 0;
    bool stopping_ = false;
    std::string stopReason_ = "done", stopMessage_;
    int inFlight_ = 0, workersLeft_ = 0, consecutiveFailures_ = 0;
    int64_t requests_ = 0, retries_ = 0, answers_ = 0, completionTokens_ = 0;
    double spent_ = 0, reserved_ = 0;
    Clock::time_point pauseUntil_{};
    std::string lastEvent_;
    std::exception_ptr error_;
};

void Distiller::stopLocked(const std::string& reason, const std::string& message) {
    if (stopping_) return;
    stopping_ = true;
    stopReason_ = reason;
    stopMessage_ = message;
    lastEvent_ = message;
    cv_.notify_all();
}

void Distiller::stop(const std::string& reason, const std::string& message) {
    {
        std::lock_guard<std::mutex> lock(m_);
        if (stopping_) return;
        stopLocked(reason, message);
    }
    event(message);
}

void Distiller::event(const std::string& line) {
    {
        std::lock_guard<std::mutex> lock(m_);
        lastEvent_ = line;
    }
    if (cb_.log) {
        std::lock_guard<std::mutex> lock(dbMutex_);
        cb_.log(line);
    }
}

double Distiller::worstCase(const DistillItem& item) const {
    const int64_t in = int64_t(job_.teacher.system.size() + item.prompt.size()) + 64;
    return tokenCost(in, job_.teacher.maxTokens, job_.priceIn, job_.priceOut);
}

bool Distiller::takeNext(DistillItem& item) {
    std::lock_guard<std::mutex> lock(m_);
    if (stopping_ || next_ >= queue_.size()) return false;
    item = queue_[next_++];
    return true;
}

bool Distiller::acquire(const DistillItem& item, double& reservation) {
    std::unique_lock<std::mutex> lock(m_);
    const double worst = worstCase(item);
    while (true) {
        if (stopping_) return false;
        // The flags are read here too, so that no request starts once they are set.
        if (cb_.abort && cb_.abort->load()) {
            stopLocked("aborted", "aborted: the requests out were cut and their prompts stay pending");
            return false;
        }
        if (cb_.cancel && cb_.cancel->load()) {
            stopLocked("cancelled", "cancelled: no new requests; the answers still coming are stored");
            return false;
        }
        if (Clock::now() < pauseUntil_) {
            cv_.wait_until(lock, pauseUntil_);
            continue;
        }
        if (o_.maxRequests > 0 && requests_ >= o_.maxRequests) {
            stopLocked("request_cap", "request cap reached: " + std::to_string(requests_) + " requests sent in this run");
            return false;
        }
        if (o_.maxSpend > 0 && spent_ + reserved_ + worst > o_.maxSpend) {
            // The requests out may cost less than reserved: wait for them before deciding.
            if (inFlight_ > 0) {
                cv_.wait(lock);
                continue;
            }
            stopLocked("spend_cap", "spend cap reached: " + money(spent_) + " spent of " + money(o_.maxSpend) +
                                        "; the next request could cost up to " + money(worst));
            return false;
        }
        reserved_ += worst;
        reservation = worst;
        ++requests_;
        ++inFlight_;
        return true;
    }
}

void Distiller::releaseRequest(double reservation, double cost) {
    std::lock_guard<std::mutex> lock(m_);
    reserved_ -= reservation;
    spent_ += cost;
    --inFlight_;
    cv_.notify_all();
}

bool Distiller::sleepFor(double seconds) {
    std::unique_lock<std::mutex> lock(m_);
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    return !cv_.wait_until(lock, until, [&] { return stopping_; });
}

void Distiller::storeAnswer(DistillItem& item, const TeacherReply& reply, double reservation) {
    const Verdict v = validator_.check(item.prompt, reply.content, reply.finishReason);
    AnswerRecord r;
    r.state = v.accepted ? ItemState::Accepted : ItemState::Rejected;
    r.httpStatus = reply.httpStatus;
    r.rawResponse = reply.rawBody;
    r.answer = reply.content;
    r.response = v.response;
    r.finishReason = reply.finishReason;
    r.teacherModel = reply.model;
    r.usageReported = reply.usageReported;
    if (reply.usageReported) {
        r.promptTokens = reply.promptTokens;
        r.completionTokens = reply.completionTokens;
    } else {
        r.promptTokens = int64_t(tok_.encode(job_.teacher.system + "\n" + item.prompt, false).size());
        r.completionTokens = int64_t(tok_.encode(reply.content, false).size());
    }
    r.cost = tokenCost(r.promptTokens, r.completionTokens, job_.priceIn, job_.priceOut);
    r.latencyMs = reply.latencyMs;
    r.reason = v.reason;
    r.detail = v.detail;
    item.state = r.state;
    item.httpStatus = r.httpStatus;
    item.rawResponse = r.rawResponse;
    item.answer = r.answer;
    item.response = r.response;
    item.finishReason = r.finishReason;
    item.teacherModel = r.teacherModel;
    item.promptTokens = r.promptTokens;
    item.completionTokens = r.completionTokens;
    item.usageReported = r.usageReported;
    item.cost = r.cost;
    item.latencyMs = r.latencyMs;
    item.reason = r.reason;
    item.detail = r.detail;
    withDb([&] {
        store_.storeOutcome(job_.id, item.position, r);
        if (cb_.item) cb_.item(item);
    });
    releaseRequest(reservation, r.cost);
    std::lock_guard<std::mutex> lock(m_);
    ++answers_;
    completionTokens_ += r.completionTokens;
    consecutiveFailures_ = 0;
    if (o_.maxSpend > 0 && spent_ > o_.maxSpend)
        stopLocked("spend_cap", "spend cap exceeded: " + money(spent_) + " spent of " + money(o_.maxSpend) +
                                    " (the teacher reported more tokens than max_tokens allows)");
    cv_.notify_all();
}

void Distiller::storeFailure(DistillItem& item, const TeacherReply& reply, const std::string& detail) {
    AnswerRecord r;
    r.state = ItemState::Failed;
    r.httpStatus = reply.httpStatus;
    r.rawResponse = reply.rawBody;
    r.latencyMs = reply.latencyMs;
    r.reason = reply.errorClass;
    r.detail = detail;
    item.state = r.state;
    item.httpStatus = r.httpStatus;
    item.rawResponse = r.rawResponse;
    item.reason = r.reason;
    item.detail = r.detail;
    withDb([&] {
        store_.storeOutcome(job_.id, item.position, r);
        if (cb_.item) cb_.item(item);
    });
    bool failing = false;
    {
        std::lock_guard<std::mutex> lock(m_);
        ++consecutiveFailures_;
        failing = o_.maxConsecutiveFailures > 0 && consecutiveFailures_ >= o_.maxConsecutiveFailures;
    }
    event("item " + std::to_string(item.position) + " failed: " + detail);
    if (failing)
        stop("failing", std::to_string(o_.maxConsecutiveFailures) + " prompts in a row failed; stopped (last: " + detail + ")");
}

void Distiller::processItem(TeacherClient& client, SplitMix64& rng, DistillItem& item) {
    int failures = 0;
    while (true) {
        double reservation = 0;
        if (!acquire(item, reservation)) return;   // still pending in the project
        withDb([&] { store_.markSending(job_.id, item.position); });
        ++item.attempts;
        const TeacherReply reply = client.complete(item.prompt);
        if (reply.kind == ReplyKind::Answer) {
            storeAnswer(item, reply, reservation);
            return;
        }
        releaseRequest(reservation, 0);
        switch (reply.kind) {
        case ReplyKind::Answer:
            return;
        case ReplyKind::Cancelled:
            withDb([&] { store_.markPending(job_.id, item.position, reply.error); });
            return;
        case ReplyKind::Fatal:
            withDb([&] { store_.markPending(job_.id, item.position, reply.error); });
            stop("teacher_error", "the teacher refuses every request: " + reply.error);
            return;
        case ReplyKind::PromptFailed:
            storeFailure(item, reply, reply.error);
            return;
        case ReplyKind::Retry:
            break;
        }
        ++failures;
        if (failures >= o_.retry.maxAttempts) {
            storeFailure(item, reply, "gave up after " + std::to_string(failures) + " requests: " + reply.error);
            return;
        }
        withDb([&] { store_.markPending(job_.id, item.position, reply.error); });
        const double wait = backoffSeconds(o_.retry, failures, reply.retryAfterSeconds, rng.uniform());
        {
            std::lock_guard<std::mutex> lock(m_);
            ++retries_;
            // A rate limit with a stated wait holds for the whole account: every worker waits.
            if (reply.retryAfterSeconds >= 0 && (reply.httpStatus == 429 || reply.httpStatus == 503)) {
                const double pause = std::min(reply.retryAfterSeconds, o_.retry.maxRetryAfterSeconds);
                pauseUntil_ = std::max(pauseUntil_, Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                                       std::chrono::duration<double>(pause)));
            }
        }
        event("item " + std::to_string(item.position) + ": " + reply.error + "; retry " + std::to_string(failures) + " in " +
              formatNumber("%.2f", wait) + " s");
        if (!sleepFor(wait)) return;
    }
}

void Distiller::work(int worker) {
    try {
        SplitMix64 rng((o_.jitterSeed ? o_.jitterSeed : uint64_t(Clock::now().time_since_epoch().count())) +
                       uint64_t(worker) * 0x9E3779B97F4A7C15ull);
        DistillItem item;
        while (takeNext(item)) processItem(*clients_[size_t(worker)], rng, item);
    } catch (...) {
        std::lock_guard<std::mutex> lock(m_);
        if (!error_) error_ = std::current_exception();
        stopLocked("error", "stopped by an error");
    }
    std::lock_guard<std::mutex> lock(m_);
    --workersLeft_;
    cv_.notify_all();
}

DistillProgress Distiller::progress(const std::string& phase) {
    DistillProgress p;
    p.counts = withDb([&] { return store_.counts(job_.id); });
    std::lock_guard<std::mutex> lock(m_);
    p.inFlight = inFlight_;
    p.requests = requests_;
    p.retries = retries_;
    p.answers = answers_;
    p.completionTokens = completionTokens_;
    p.elapsedSeconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (p.elapsedSeconds > 0) {
        p.answersPerSecond = double(answers_) / p.elapsedSeconds;
        p.completionTokensPerSecond = double(completionTokens_) / p.elapsedSeconds;
    }
    p.spent = spent_;
    p.reserved = reserved_;
    p.spendCap = o_.maxSpend;
    const auto now = Clock::now();
    p.pausedSeconds = now < pauseUntil_ ? std::chrono::duration<double>(pauseUntil_ - now).count() : 0.0;
    p.phase = phase.empty() ? (stopping_ ? "stopping" : "sending") : phase;
    p.lastEvent = lastEvent_;
    return p;
}

DistillResult Distiller::run() {
    DistillResult result;
    const std::string me = runnerId();
    std::string holder;
    if (!store_.claimRunner(job_.id, me, "", holder)) {
        const std::string stale = staleHolder(holder);
        if (stale.empty() || !store_.claimRunner(job_.id, me, stale, holder))
            throw Error("distillation job '" + job_.name + "' is being run by process " + holder + " (one run at a time)");
    }
    struct Release {
        DistillStore& store;
        int64_t id;
        const std::string& me;
        ~Release() {
            try {
                store.releaseRunner(id, me);
            } catch (...) {
            }
        }
    } release{store_, job_.id, me};

    if (job_.datasetId != 0) {
        if (o_.retryFailed)
            throw Error("distillation job '" + job_.name + "' has built its dataset; delete dataset '" + job_.name +
                        "' first to send its failed prompts again");
        result.stopReason = "built";
        result.status = job_.status;
        result.datasetId = job_.datasetId;
        result.counts = store_.counts(job_.id);
        result.message = "the dataset '" + job_.name + "' is built; nothing to send";
        return result;
    }
    result.interrupted = store_.resetSending(job_.id);
    if (o_.retryFailed) result.requeued = store_.requeueFailed(job_.id);
    queue_ = store_.items(job_.id, ItemState::Pending);
    spent_ = store_.counts(job_.id).spent;
    const int workers = int(std::min<size_t>(size_t(o_.concurrency), queue_.size()));
    ClientOptions co;
    co.apiKey = o_.apiKey;
    co.timeoutSeconds = o_.timeoutSeconds;
    co.connectTimeoutSeconds = o_.connectTimeoutSeconds;
    co.caCertPath = o_.caCertPath;
    for (int w = 0; w < workers; ++w) clients_.push_back(std::make_unique<TeacherClient>(endpoint_, job_.teacher, co));

    const int64_t runId = store_.beginRun(job_.id, o_.toJson(), result.interrupted);
    store_.setStatus(job_.id, "running");
    if (result.interrupted)
        event(std::to_string(result.interrupted) + " prompts were out when the last run stopped; they are sent again");
    std::vector<std::thread> threads;
    workersLeft_ = workers;
    for (int w = 0; w < workers; ++w) threads.emplace_back([this, w] { work(w); });

    auto lastProgress = Clock::now() - std::chrono::seconds(1);
    bool aborted = false;
    while (true) {
        {
            std::unique_lock<std::mutex> lock(m_);
            cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return workersLeft_ == 0; });
            if (workersLeft_ == 0) break;
        }
        if (cb_.abort && cb_.abort->load() && !aborted) {
            aborted = true;
            stop("aborted", "aborted: the requests out were cut and their prompts stay pending");
            for (auto& c : clients_) c->abort();
        } else if (cb_.cancel && cb_.cancel->load()) {
            stop("cancelled", "cancelled: no new requests; the answers still coming are stored");
        }
        const auto now = Clock::now();
        for (auto& c : clients_)
            if (c->interruptIfOverdue(now)) event("a request passed the " + formatNumber("%.1f", o_.timeoutSeconds) + " s timeout and was cut");
        if (cb_.progress && now - lastProgress >= std::chrono::milliseconds(250)) {
            cb_.progress(progress(""));
            lastProgress = now;
        }
    }
    for (std::thread& t : threads) t.join();
    if (error_) {
        store_.endRun(runId, requests_, retries_, answers_, "error");
        store_.setStatus(job_.id, "stopped", "stopped by an error");
        std::rethrow_exception(error_);
    }

    result.stopReason = stopReason_;
    result.message = stopMessage_;
    result.requests = requests_;
    result.retries = retries_;
    result.answers = answers_;
    result.counts = store_.counts(job_.id);
    store_.endRun(runId, requests_, retries_, answers_, stopReason_);
    if (result.counts.pending == 0 && result.counts.sending == 0) {
        result.stopReason = "done";
        store_.setStatus(job_.id, "answered", "every prompt is answered, rejected or failed");
        if (o_.build && result.counts.accepted == 0) {
            result.message = "every prompt is accounted for, but no answer was accepted: nothing to build";
        } else if (o_.build) {
            if (cb_.progress) cb_.progress(progress("building"));
            job_ = *store_.find(job_.id);
            const BuildResult built = buildDistilledDataset(project_, tok_, job_);
            store_.setDataset(job_.id, built.datasetId);
            store_.setStatus(job_.id, "built", "dataset '" + job_.name + "' built: " + std::to_string(built.counts.rowsImported) + " examples");
            result.datasetId = built.datasetId;
        }
        if (result.message.empty()) result.message = "every prompt is accounted for";
    } else {
        const std::string status = stopReason_ == "cancelled" || stopReason_ == "aborted" || stopReason_ == "done" ? "stopped" : stopReason_;
        store_.setStatus(job_.id, status, stopMessage_);
    }
    const std::optional<DistillJob> after = store_.find(job_.id);
    result.status = after ? after->status : "";
    result.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (cb_.progress) cb_.progress(progress("done"));
    return result;
}

} // namespace

DistillResult runDistillation(ProjectStore& project, const Gpt2Tokenizer& tokenizer, const std::string& jobName,
                              const RunOptions& options, const DistillCallbacks& callbacks) {
    options.check();
    DistillJob job = DistillStore(project).job(jobName);
    Distiller d(project, tokenizer, std::move(job), options, callbacks);
    return d.run();
}

} // namespace swarm::distill
