#pragma once
// Comparing evaluated models on one split: a metrics table with deltas against a baseline, the
// per-example outputs side by side (with filters), the quantisation regression of an exported
// file against its source, the cost per million tokens, and reports (Markdown, CSV, HTML with
// inline SVG charts and no external resources).
//
//   std::vector<EvalRunInfo> runs;   // evaluate() each model with the same dataset/split/settings
//   Comparison c = compareRuns(project, {runs[0].id, runs[1].id}, 0, CostSettings{65, 0.30});
//   for (size_t i : filterExamples(c, {.onlyDisagreements = true})) ... c.examples[i]
//   writeReport(c, "report.html");
#include "eval/harness.h"

#include <limits>

namespace swarm::eval {

struct CostSettings {
    double watts = 65;                 // power draw of the machine while generating
    double pricePerKwh = 0.30;         // electricity price (any currency) per kWh
};

// Cost of a million tokens at `tokensPerSecond` (0 when the speed is unknown).
double costPerMillionTokens(double tokensPerSecond, const CostSettings& cost);

struct ModelColumn {
    EvalRunInfo run;
    std::map<std::string, double> values;   // summary values
    std::map<std::string, double> deltas;   // value - baseline's value (absent for the baseline)
    double prefillTokS = 0, decodeTokS = 0;
    double peakRssMiB = 0;
    double costPerMTokPrefill = 0, costPerMTokDecode = 0;
    // What the costs are: "electricity" (this machine's power at the run's speed) or, for an
    // answer column (addAnswerColumn), "API price" (the provider's price per million tokens).
    std::string costBasis = "electricity";
};

struct ComparedExample {
    int64_t exampleId = 0;
    int64_t position = 0;
    std::string prompt, reference;
    std::vector<std::string> outputs;              // per model (empty when that model lacks it)
    std::vector<metrics::ScoreMap> scores;         // per model
    std::vector<bool> present;
    bool disagree = false;                         // outputs differ (normalised)
};

struct Comparison {
    std::vector<ModelColumn> models;
    size_t baseline = 0;
    std::vector<std::string> metricNames;          // summary values, ordered: primary first
    std::string primary;                           // the headline metric
    std::string datasetName, split;
    CostSettings cost;
    std::vector<ComparedExample> examples;         // by position, union over the runs
    std::vector<std::string> notes;                // e.g. the runs used different settings
    nlohmann::json toJson() const;
};

// Throws swarm::Error when a run is unknown or the runs are not on the same dataset and split.
Comparison compareRuns(ProjectStore& project, const std::vector<int64_t>& runIds, size_t baseline = 0,
                       const CostSettings& cost = {});

// The per-example score that says "right" for a suite (sql_exec, json_exact, label_correct,
// exact_match, rouge_l ...), or "" when there is none.
std::string exampleMetric(const Comparison& c);

struct ExampleFilter {
    bool onlyDisagreements = false;
    int failuresOf = -1;                           // model index: only examples it got wrong
    std::string metric;                            // score range filter on model `scoreOf`
    int scoreOf = 0;
    double minScore = -std::numeric_limits<double>::infinity();
    double maxScore = std::numeric_limits<double>::infinity();
};
std::vector<size_t> filterExamples(const Comparison& c, const ExampleFilter& f);

// A column of answers that no evaluation run produced here: a teacher model's answers stored by
// a distillation job (issue 16, distill/teacher_column.h), compared on the same examples and
// scored with the same metrics as the runs.
struct AnswerColumn {
    std::string name;                               // e.g. "teacher:gpt-4o"
    std::string kind = "teacher";                   // shown as the column's model kind
    std::string path;                               // where the answers came from (the endpoint URL)
    int64_t datasetId = 0;                          // the dataset byExampleId's ids belong to
    std::map<int64_t, std::string> byExampleId;     // answers by example id (used when the runs are on datasetId)
    std::map<std::string, std::string> byPrompt;    // else by the prompt's text
    double costPerMTokPrefill = 0, costPerMTokDecode = 0;   // price per million prompt / completion tokens
    double decodeTokS = 0;                          // completion tokens per second of request latency
    std::string costBasis = "API price";
};

// Adds `column` after the runs' columns: each compared example gets its answer (absent when it
// has none), scored with the baseline run's metric families (all but loss, which needs the
// model), and the column's values are the aggregate over the examples it answered. With
// makeBaseline it becomes the baseline: every other column's deltas are then against it. Notes
// say how many examples it answered, that its cost is a price, and each model's cost per
// million decoded tokens beside it. Throws swarm::Error when `c` has no run to take the
// metrics from.
void addAnswerColumn(Comparison& c, const AnswerColumn& column, bool makeBaseline, const metrics::SqlOptions& sql = {});

struct QuantRegression {
    std::string metric;
    double source = 0, exported = 0, delta = 0;    // the example metric's mean
    double agreement = 0;                          // share of identical outputs
    int64_t regressions = 0;                       // right in the source, wrong in the export
    int64_t improvements = 0;
    int64_t compared = 0;
    double lossDelta = std::numeric_limits<double>::quiet_NaN();   // ref_loss export - source
    nlohmann::json toJson() const;
};
QuantRegression quantisationRegression(const Comparison& c, size_t sourceIndex, size_t exportedIndex);

// Reports. format: "md", "csv", "html"; writeReport picks it from the file extension.
std::string renderMarkdown(const Comparison& c, size_t maxExamples = 20);
std::string renderCsv(const Comparison& c);
std::string renderHtml(const Comparison& c, size_t maxExamples = 50);
void writeReport(const Comparison& c, const std::string& path);

} // namespace swarm::eval
