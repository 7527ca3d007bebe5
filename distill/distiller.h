#pragma once
// Running a distillation job (issue 16): its pending prompts go to the teacher with bounded
// concurrency; every answer is validated and stored in the project the moment it arrives, so a
// crash, a Ctrl-C or a restart loses nothing and a resumed run never sends an answered prompt
// again. When no prompt is left pending, the dataset is built (distill/dataset_builder.h).
//
//   registerDistillationSchema();                       // once, before opening projects
//   PreparedJob p = prepareJob(project, spec);          // distill/job_setup.h
//   RunOptions o;  o.concurrency = 8;  o.maxSpend = 5.0;  o.apiKey = loadApiKey(spec.keySource);
//   DistillCallbacks cb;  cb.cancel = &stopFlag;  cb.progress = ...;  cb.item = ...;
//   DistillResult r = runDistillation(project, tokenizer, p.job.name, o, cb);
//
// The rules:
//  - Concurrency: at most `concurrency` requests out at once, one connection each (kept alive).
//  - Retries: 408/409/425/429/5xx, timeouts, cut connections, malformed or truncated answers are
//    tried again, up to retry.maxAttempts requests per prompt in a run, after
//    backoffSeconds(): base * 2^(n-1) capped at maxDelay, with jitter, and never sooner than the
//    server's Retry-After. A 429 with Retry-After pauses every worker until then (the limit is
//    the account's, not the prompt's). Other 4xx fail that prompt only; 401/403/404, an
//    exhausted quota and TLS verification stop the run (the prompt stays pending).
//  - Timeout: a request that has not completed within timeoutSeconds is cut (a watchdog on this
//    thread) and counts as a retryable failure.
//  - Spend cap: a request starts only if the job's stored spend, plus the worst case of every
//    request out, plus its own worst case stays within maxSpend. The worst case of a request is
//    (UTF-8 bytes of system + prompt + 64) input tokens and max_tokens output tokens at the
//    job's prices (no tokenizer makes more tokens than bytes), so the cap holds whenever the
//    teacher honours max_tokens. Costs are from the reported usage; an answer without usage is
//    counted with the GPT-2 tokenizer (usage_reported = 0).
//  - Request cap: at most maxRequests HTTP requests in this run, retries included.
//  - Cancel (callbacks.cancel): no new request starts; the requests out finish and their answers
//    are stored (they were paid for). Abort (callbacks.abort): the requests out are cut too and
//    their prompts return to pending. Either way every prompt ends the run accepted, rejected,
//    failed or pending, and the next run sends only the pending ones.
//  - After SIGKILL: prompts left "sending" return to pending on the next run (counted as
//    interrupted). Their answers, if the teacher finished them, never arrived: these are the only
//    prompts a resume can pay for twice, at most `concurrency` of them.
//  - A job runs in one process at a time (its runner column: pid@host; a dead holder on this
//    host is taken over).
//  - After maxConsecutiveFailures failed prompts in a row the run stops (a teacher that fails
//    everything does not burn through the prompt list).
#include "distill/distill_store.h"
#include "distill/retry_policy.h"

#include "core/project_store.h"
#include "core/tokenizer.h"

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace swarm::distill {

struct RunOptions {
    int concurrency = 4;               // requests out at once, 1..256
    int64_t maxRequests = 0;           // HTTP requests in this run, retries included; 0: no limit
    double maxSpend = 0;               // the job's total spend (the prices' currency); 0: no cap
    double timeoutSeconds = 120;       // per request, whole
    double connectTimeoutSeconds = 10;
    RetryPolicy retry;
    bool retryFailed = false;          // failed prompts go back to pending first
    int maxConsecutiveFailures = 20;   // 0: never stop for that
    bool build = true;                 // build the dataset when nothing is left pending
    std::string apiKey;                // in memory only: never stored, printed or logged
    std::string caCertPath;            // HTTPS: a CA bundle instead of the system's
    uint64_t jitterSeed = 0;           // 0: from the clock
    // Throws swarm::Error naming the option that is out of range.
    void check() const;
    nlohmann::json toJson() const;     // as stored with the run (no key)
};

struct DistillProgress {
    ItemCounts counts;                 // the job's items as stored now
    int inFlight = 0;                  // requests out
    int64_t requests = 0, retries = 0, answers = 0;   // this run
    int64_t completionTokens = 0;      // this run
    double elapsedSeconds = 0;
    double answersPerSecond = 0, completionTokensPerSecond = 0;   // this run
    double spent = 0;                  // the job's total, stored answers
    double reserved = 0;               // the worst case of the requests out
    double spendCap = 0;               // RunOptions::maxSpend
    double pausedSeconds = 0;          // > 0 while every worker waits out a Retry-After
    std::string phase;                 // sending, stopping, building, done
    std::string lastEvent;             // "item 12: HTTP 429, retry 2 in 1.0 s", ...
};

struct DistillCallbacks {
    // On the calling thread, about four times a second and once at the end.
    std::function<void(const DistillProgress&)> progress;
    // On a worker thread (one at a time), right after an item's outcome is stored:
    // accepted, rejected (with reason and detail) or failed (with the error).
    std::function<void(const DistillItem&)> item;
    // One-line events (retries, failures, stops), on any thread, one at a time.
    std::function<void(const std::string&)> log;
    const std::atomic<bool>* cancel = nullptr;   // graceful: the requests out are answered and stored
    const std::atomic<bool>* abort = nullptr;    // immediate: the requests out are cut
};

struct DistillResult {
    // done (nothing left pending), cancelled, aborted, spend_cap, request_cap, teacher_error
    // (401/403/404, quota, TLS), failing (too many failures in a row), built (nothing to do).
    std::string stopReason;
    std::string message;               // one line for people
    std::string status;                // the job's status afterwards
    ItemCounts counts;                 // the job's items afterwards
    int64_t requests = 0, retries = 0, answers = 0;   // this run
    int64_t interrupted = 0;           // prompts a killed run had left "sending"
    int64_t requeued = 0;              // failed prompts sent again (retryFailed)
    double seconds = 0;
    int64_t datasetId = 0;             // when the dataset exists (built now or before)
};

// Runs the named job. The project's connection is used from worker threads under the run's own
// lock: do not use the same ProjectStore elsewhere while it runs (open a second one to read).
// Throws swarm::Error for an unknown job, a job another process is running, bad options, or a
// build that fails; a cancel, a cap or a teacher that refuses the key return normally.
DistillResult runDistillation(ProjectStore& project, const Gpt2Tokenizer& tokenizer, const std::string& jobName,
                              const RunOptions& options, const DistillCallbacks& callbacks = {});

// The cost of `promptTokens` in and `completionTokens` out at per-million prices.
double tokenCost(int64_t promptTokens, int64_t completionTokens, double pricePerMIn, double pricePerMOut);

} // namespace swarm::distill
