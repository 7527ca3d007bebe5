#pragma once
// End-to-end evaluation of a swarm on a mixed dataset (examples from several tasks, each with its
// task label and reference): routing accuracy and the confusion matrix, each task's metrics when
// routed by the router versus when given the right specialist directly (the cost of routing
// mistakes), latency and cost per million generated tokens.
//
// Mixed dataset: JSONL, one {"task": LABEL, "input": TEXT, "reference": TEXT} per line.
#include "eval/metrics.h"
#include "serve/swarm.h"

#include "core/project_store.h"
#include "datasets/dataset_store.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace swarm {

struct SwarmEvalExample {
    std::string task;                 // the label that should route it (a specialist label)
    std::string input;
    std::string reference;
};

// Reads a mixed dataset; throws swarm::Error naming the file, line and field at fault.
std::vector<SwarmEvalExample> loadMixedDataset(const std::string& path);
// Writes one (atomically), in the format loadMixedDataset reads.
void saveMixedDataset(const std::string& path, const std::vector<SwarmEvalExample>& examples);

// A mixed dataset from datasets of a project: for each {task label, dataset name}, the examples of
// `split` (the prompt as rendered at import as input, the response as reference), the first
// perTask of each (0: all) in source order, the tasks taken in turn. Taking the test split of the
// datasets the specialists were trained on keeps every example unseen by them; the train split
// trains a router (import it with prompt {input}, response {task}). Throws naming a missing
// dataset or an empty split.
std::vector<SwarmEvalExample> mixFromProject(const ProjectStore& project,
                                             const std::vector<std::pair<std::string, std::string>>& taskDatasets,
                                             Split split, size_t perTask);

struct SwarmEvalOptions {
    // Task label -> metrics preset (metrics::autoMetrics); a task not listed uses its own label
    // as the preset ("sql", "pii", "router", ...; anything else: exact match and ROUGE-L).
    std::map<std::string, std::string> presets;
    int maxTokens = 0;                // 0: each specialist's max_tokens
    // Examples in flight at once (their decoding batches in the swarm). 1 measures each example's
    // latency alone; above 1 the latencies include waiting for each other, and the cost is
    // computed from the wall-clock time of the whole run.
    int concurrency = 1;
    double watts = 65;                // cost: power draw while generating
    double pricePerKwh = 0.30;
    // Called after each example (from the evaluating threads, one call at a time); return false to
    // stop early (the report covers the examples answered).
    std::function<bool(size_t done, size_t total)> progress;
};

struct SwarmTaskReport {
    std::string task;
    int64_t n = 0;
    int64_t routedCorrectly = 0;
    std::vector<std::string> families;
    std::string primary;              // headline metric
    metrics::Summary routed;          // answered by the specialist the router chose
    metrics::Summary direct;          // answered by the task's own specialist
};

struct SwarmEvalReport {
    int64_t n = 0;
    double routingAccuracy = 0;
    std::vector<std::string> labels;                 // route labels (+ fallback when it answered)
    std::vector<std::vector<int64_t>> confusion;     // [task][routed to], labels order
    std::vector<SwarmTaskReport> tasks;              // in labels order, tasks that have examples
    double routerMsMean = 0, specialistMsMean = 0;
    double latencyP50Ms = 0, latencyP99Ms = 0;       // router + specialist, per example
    int64_t promptTokens = 0, completionTokens = 0;
    double seconds = 0;                              // routed answers only
    double costPerMillionTokens = 0;                 // generated tokens, routed answers
    nlohmann::json toJson() const;
    std::string toMarkdown() const;
};

SwarmEvalReport evaluateSwarm(Swarm& swarm, const std::vector<SwarmEvalExample>& examples,
                              const SwarmEvalOptions& options = {});

} // namespace swarm
