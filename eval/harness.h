#pragma once
// The evaluation harness (issue 6): runs a model with the CPU engine over a dataset split of a
// project, scores every output with swarm_metrics, and keeps prompts, references, outputs,
// scores, latencies and token counts in the project ("evaluation" migration module). No LibTorch.
//
//   swarm::eval::registerEvaluationSchema();                 // once, before opening projects
//   auto project = swarm::ProjectStore::open("p.swarm");
//   swarm::eval::EvalSettings s;                             // test split, greedy, 128 new tokens
//   swarm::eval::EvalCallbacks cb;                           // progress (ETA), cancel flag
//   swarm::eval::EvalRunInfo run = swarm::eval::evaluate(project, "runs/r1", "nl2sql", s, cb);
//   run.summary["values"]["sql_exec"]
//
// A second evaluate() with the same model (path, file sizes and mtimes), dataset, split and
// settings returns the stored run without generating (or finishes it when it was cancelled:
// the examples already done are kept). Comparison and reports: see compare.h.
#include "eval/metrics.h"

#include "core/project_store.h"

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm::eval {

// Registers the "evaluation" migrations (eval_runs, eval_examples); idempotent.
void registerEvaluationSchema();

// What to evaluate: a Hugging Face folder, a training run folder (its final/, else its newest
// checkpoints/step-N), a checkpoint folder, or a .gguf file.
struct ModelRef {
    std::string input;               // as given
    std::string path;                // the folder or file loaded
    std::string kind;                // "hf", "run", "checkpoint", "gguf"
    std::string name;                // for tables: the folder/file name (run/final -> run name)
    std::string fingerprint;         // kind + absolute path + size and mtime of every file
    int64_t bytes = 0;               // weight bytes on disk
};
// Throws swarm::Error naming the path when it is none of the above.
ModelRef resolveModel(const std::string& path);

struct EvalSettings {
    std::string split = "test";
    int64_t limit = 0;               // first N examples of the split; 0: all
    std::string metrics = "auto";    // "auto" or families: exact,sql,json,classification,pii,rouge,chrf,commit,loss
    int maxNewTokens = 128;
    float temperature = 0.0f;        // 0: greedy
    int topK = 0;
    float topP = 1.0f;
    uint64_t seed = 0;
    int batchSize = 8;               // sequences decoded together (batched decode)
    int threads = 0;                 // engine threads; 0: all cores
    std::string dtype;               // engine weight type (f32, bf16, f16, q8_0); empty: as stored
    int sqlTimeLimitMs = 2000;       // SQL metric: the wall-clock last resort per query (metrics::SqlOptions)
    // The fields that change results (the reuse key): all but batchSize and threads.
    nlohmann::json key() const;
    nlohmann::json toJson() const;
};

struct EvalProgress {
    int64_t done = 0;                // examples finished (reused ones included)
    int64_t total = 0;
    int64_t reused = 0;              // of them, kept from an earlier, interrupted run
    double elapsedSeconds = 0;       // this call
    double etaSeconds = -1;          // -1 until the first batch ends
    std::string phase;               // "loading", "generating", "scoring", "done"
};

struct EvalCallbacks {
    std::function<void(const EvalProgress&)> progress;
    const std::atomic<bool>* cancel = nullptr;   // checked between decode steps
    std::function<void(const std::string&)> log; // one-line notes (reuse, warnings)
};

struct EvalRunInfo {
    int64_t id = 0;
    std::string modelPath, modelName, modelKind, fingerprint;
    int64_t datasetId = 0;
    std::string datasetName, preset, split;
    nlohmann::json settings;
    std::vector<std::string> metrics;          // families
    std::string status;                        // running, cancelled, done, failed
    std::string createdAt, updatedAt;
    int64_t total = 0, done = 0;
    nlohmann::json summary;                    // metrics::Summary::toJson()
    nlohmann::json perf;                       // prefill/decode tokens and seconds, tok/s, peak RSS, load time
    bool reused = false;                       // this call found it complete
    std::string message;
};

struct EvalExampleRow {
    int64_t exampleId = 0;
    int64_t position = 0;                      // index in the evaluated split
    std::string prompt, reference, output;
    bool hasReference = true;
    metrics::ScoreMap scores;
    nlohmann::json detail;                     // e.g. {"sql_error": "..."}
    double latencyMs = 0;
    int promptTokens = 0, outputTokens = 0;
    std::string finish;                        // eos, stop, max_tokens, context_full
};

// Evaluates (or reuses, or resumes). Throws swarm::Error for an unknown dataset, an empty split,
// an unloadable model. A cancel returns the run with status "cancelled".
EvalRunInfo evaluate(ProjectStore& project, const std::string& model, const std::string& dataset,
                     const EvalSettings& settings, const EvalCallbacks& callbacks = {});

// Stored runs.
class EvalStore {
public:
    explicit EvalStore(ProjectStore& project) : project_(project) {}
    std::vector<EvalRunInfo> runs(int64_t datasetId = 0) const;         // newest first; 0: all
    std::optional<EvalRunInfo> run(int64_t id) const;
    std::optional<EvalRunInfo> find(const std::string& fingerprint, int64_t datasetId, const std::string& split,
                                    const nlohmann::json& settingsKey) const;
    std::vector<EvalExampleRow> examples(int64_t runId) const;          // by position
    void deleteRun(int64_t id);
    // Recomputes and stores a run's summary from its examples.
    nlohmann::json resummarize(int64_t runId);

private:
    ProjectStore& project_;
};


} // namespace swarm::eval
