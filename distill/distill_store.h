#pragma once
// The distillation tables in the project file (module "distillation", issue 16):
//
//   distill_jobs   one row per job: the dataset name it builds, the teacher (URL, model, system
//                  message, request settings), the prompt template and chat format, the task and
//                  its validators, the prompt source, split and prices, the key's source (never
//                  the key), status and the built dataset.
//   distill_items  one row per prompt, in source order, written as each answer arrives: state,
//                  requests sent, the HTTP status, the raw response, the answer and the response
//                  that trains, the teacher's model name, token usage, cost and latency, the
//                  rejection or failure reason with its detail.
//   distill_runs   one row per run of a job: when, how many requests and retries, why it stopped.
//
// Item states:
//   pending    not answered yet (never sent, or sent and not answered: a retry, a cancel, a spend cap)
//   sending    a request is out; a run that ends (even by SIGKILL) leaves none: the next run puts
//              them back to pending and counts them as interrupted
//   accepted   answered, the validators passed: the pair enters the dataset
//   rejected   answered and rejected (reason, detail), or rejected before sending (duplicate
//              prompt, a record that renders no prompt): kept and listed, never in the dataset
//   failed     no usable answer after the retries, or a request the teacher refused for this
//              prompt (reason: the error class; detail: the last error)
#include "distill/teacher_client.h"
#include "distill/validators.h"

#include "core/project_store.h"

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm::distill {

// Registers the "distillation" migrations; call before opening projects (idempotent).
void registerDistillationSchema();

enum class ItemState { Pending, Sending, Accepted, Rejected, Failed };
const char* itemStateName(ItemState state);                 // pending, sending, accepted, rejected, failed
bool parseItemState(const std::string& name, ItemState& out);

struct DistillJob {
    int64_t id = 0;
    std::string name;                  // the dataset it builds
    std::string teacherUrl;            // the chat completions URL (no credentials)
    TeacherSettings teacher;
    std::string promptTemplate;        // TextTemplate over the source records
    std::string chatFormat;            // ChatFormat of the dataset
    ValidationSettings validation;
    std::string sourceKind;            // "file" or "dataset"
    std::string source;                // the absolute path, or the dataset's name
    int64_t sourceDatasetId = 0;
    nlohmann::json split;              // SplitSpec::toJson() (file sources), or {"mode": "source"}
    uint64_t seed = 42;
    double priceIn = 0, priceOut = 0;  // per million prompt / completion tokens
    std::string keySource;             // ApiKeySource::describe()
    std::string status;                // ready, running, stopped, spend_cap, request_cap, failing, answered, built
    std::string message;
    int64_t datasetId = 0;             // 0 until built
    std::string createdAt, updatedAt;
};

struct DistillItem {
    int64_t jobId = 0;
    int64_t position = 0;              // 0-based, in source order
    int64_t recordNumber = 0;          // the record in the source file, or the source example's id
    int64_t sourceExampleId = 0;       // 0 for file sources
    std::string split;                 // the source example's split ("" for file sources)
    std::string prompt;
    std::string reference;             // the source example's response ("" when none)
    ItemState state = ItemState::Pending;
    int attempts = 0;                  // requests sent for this prompt, every run together
    int httpStatus = 0;
    std::string rawResponse, answer, response, finishReason, teacherModel;
    int64_t promptTokens = 0, completionTokens = 0;
    bool usageReported = false;
    double cost = 0, latencyMs = 0;
    std::string reason, detail;
    std::string answeredAt;
};

// Counts over a job's items.
struct ItemCounts {
    int64_t total = 0, pending = 0, sending = 0, accepted = 0, rejected = 0, failed = 0;
    int64_t requests = 0;              // every request ever sent (sum of attempts)
    int64_t answered = 0;              // items with a stored answer
    int64_t promptTokens = 0, completionTokens = 0;
    double spent = 0;                  // sum of the stored costs
    double latencyMs = 0;              // sum over the answered items
    nlohmann::json toJson() const;
};

struct DistillRunRow {
    int64_t id = 0, jobId = 0;
    std::string startedAt, endedAt;
    int64_t requests = 0, retries = 0, answers = 0, interrupted = 0;
    std::string stopReason;
    nlohmann::json settings;
};

// What a request's outcome writes to its item.
struct AnswerRecord {
    ItemState state = ItemState::Accepted;   // accepted, rejected or failed
    int httpStatus = 0;
    std::string rawResponse, answer, response, finishReason, teacherModel;
    int64_t promptTokens = 0, completionTokens = 0;
    bool usageReported = false;
    double cost = 0, latencyMs = 0;
    std::string reason, detail;
};

// A view over an open project (it must outlive the store). Not thread-safe by itself: the
// distiller serialises its writes.
class DistillStore {
public:
    explicit DistillStore(const ProjectStore& project) : db_(project.handle()), path_(project.path()) {}

    std::vector<DistillJob> jobs() const;
    std::optional<DistillJob> find(const std::string& name) const;
    std::optional<DistillJob> find(int64_t id) const;
    // Throws swarm::Error naming the project and listing its jobs when there is none.
    DistillJob job(const std::string& name) const;
    // The job and all its items, in one transaction; returns the job's id.
    int64_t createJob(const DistillJob& job, const std::vector<DistillItem>& items);
    void deleteJob(int64_t jobId);
    void setStatus(int64_t jobId, const std::string& status, const std::string& message = "");
    void setDataset(int64_t jobId, int64_t datasetId);
    void setKeySource(int64_t jobId, const std::string& keySource);
    // The process running the job ("pid@host"), so that two runs never send the same prompts.
    // claimRunner takes it when it is free, held by `me`, or held by `stale` (a process known to
    // be gone); otherwise returns false with the holder in `holder`.
    bool claimRunner(int64_t jobId, const std::string& me, const std::string& stale, std::string& holder);
    void releaseRunner(int64_t jobId, const std::string& me);

    ItemCounts counts(int64_t jobId) const;
    // (state, reason) -> count over rejected and failed items.
    std::map<std::pair<std::string, std::string>, int64_t> reasons(int64_t jobId) const;
    // Items in position order, optionally of one state; limit < 0: all.
    std::vector<DistillItem> items(int64_t jobId, std::optional<ItemState> state = std::nullopt, int64_t offset = 0,
                                   int64_t limit = -1) const;
    std::optional<DistillItem> item(int64_t jobId, int64_t position) const;

    // sending -> pending (left by a run that did not finish); returns how many.
    int64_t resetSending(int64_t jobId);
    // failed -> pending (for --retry-failed); returns how many.
    int64_t requeueFailed(int64_t jobId);
    // Before a request: state sending, attempts + 1.
    void markSending(int64_t jobId, int64_t position);
    // A request that ended without an answer and without a verdict: back to pending.
    void markPending(int64_t jobId, int64_t position, const std::string& lastError);
    // The outcome, in its own transaction: visible (and durable) when this returns.
    void storeOutcome(int64_t jobId, int64_t position, const AnswerRecord& record);

    int64_t beginRun(int64_t jobId, const nlohmann::json& settings, int64_t interrupted);
    void endRun(int64_t runId, int64_t requests, int64_t retries, int64_t answers, const std::string& stopReason);
    std::vector<DistillRunRow> runs(int64_t jobId) const;

private:
    sqlite3* db_;
    std::string path_;
};

} // namespace swarm::distill
