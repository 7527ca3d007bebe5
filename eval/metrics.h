#pragma once
// Task metrics for evaluation (issue 6). Torch-free and engine-free: every function takes the
// model's output text and the reference text and never throws, crashes or hangs on bad output
// (empty, binary, huge, endless, not SQL, not JSON): such outputs simply score 0.
//
//   auto names = metrics::autoMetrics("sql");            // {"exact", "sql"}
//   metrics::ExampleInput in{prompt, reference, output, true};
//   metrics::ScoreMap s = metrics::scoreExample(names, in); // {"exact_match": 0, "sql_valid": 1, ...}
//   metrics::Summary sum = metrics::aggregate(names, examples);   // means, macro-F1, P/R/F1 ...
//
// Per-example scores are plain numbers (0/1 for checks, counts for PII entities) so that they can
// be stored, compared and re-aggregated without the texts.
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace swarm::metrics {

using ScoreMap = std::map<std::string, double>;

// Outputs longer than this are cut before scoring (a model that never stops still scores).
constexpr size_t kMaxScoredBytes = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Exact match

// Trims, collapses whitespace runs to one space, drops trailing semicolons, and lower-cases text
// outside single/double-quoted strings (SQL keywords and labels; literals keep their case).
std::string normalizeAnswer(std::string_view text);
bool exactMatch(std::string_view output, std::string_view reference);

// ---------------------------------------------------------------------------------------------
// SQL

struct SqlOptions {
    // Per query (reference and prediction each): at most this many SQLite virtual-machine
    // instructions. An operation count, not a time, so that a prediction gets the same verdict on
    // a fast idle machine and a loaded 2-core CI runner. 10M instructions take 0.2-0.3 s on one
    // core; the largest query of the sample data (a 3-way cross join over 30-row tables, ordered)
    // takes 0.5M.
    uint64_t maxVmSteps = 10'000'000;
    // Last resort, per query: a wall-clock limit for queries whose single instructions are slow
    // (one megabyte string built per row, say), which the operation count does not bound. It is
    // set far above what maxVmSteps takes, so that it decides only for such queries.
    int timeLimitMs = 2000;
    int rowsPerTable = 24;            // random rows per table besides those holding the literals
    size_t maxResultRows = 20000;     // a result larger than this counts as a failure
    uint64_t seed = 1;
};

struct SqlScore {
    bool parses = false;              // SQLite prepares the prediction against the schema
    bool syntax = false;              // valid SQL syntax (it may name tables or columns the schema lacks)
    bool referenceOk = false;         // the reference ran (else execution accuracy is undefined)
    bool executed = false;            // the prediction ran to completion
    bool correct = false;             // same result multiset (ordered when the reference has ORDER BY)
    std::string error;                // why the prediction failed: "refused: ...", "operation limit", ...
};

// The CREATE TABLE statements found in `text` (e.g. the prompt with the example's context).
std::vector<std::string> extractCreateTables(std::string_view text);
// The SQL in a model output: the content of a ``` fence when there is one, trimmed.
std::string extractSql(std::string_view output);
// `context`: text holding CREATE TABLE statements; `question`: text whose quoted strings and
// numbers are planted in the data (with the reference's literals).
SqlScore scoreSql(std::string_view prediction, std::string_view reference, std::string_view context,
                  std::string_view question, const SqlOptions& options = {});

// ---------------------------------------------------------------------------------------------
// JSON / function calling

struct JsonScore {
    bool valid = false;               // the output is one JSON value
    bool exact = false;               // equal to the reference as JSON values (key order free)
    bool nameMatch = false;           // same function name(s) ("name" fields), in order
    bool argumentsMatch = false;      // same "arguments"/"parameters" as JSON values
    double truePositive = 0;          // leaf fields (path=value) in both
    double predicted = 0;             // leaf fields in the output
    double expected = 0;              // leaf fields in the reference
};
// Parses text as JSON without throwing (nesting deeper than 128 or text over 1 MB: invalid).
bool parseJsonSafe(std::string_view text, nlohmann::json& out);
JsonScore scoreJson(std::string_view output, std::string_view reference);
// "path=value" for each leaf (arrays indexed, objects by key), sorted.
std::vector<std::string> jsonLeaves(const nlohmann::json& j);

// ---------------------------------------------------------------------------------------------
// Classification

struct ClassificationReport {
    int64_t n = 0;
    double accuracy = 0;
    double macroF1 = 0;                      // over the labels seen in references
    std::vector<std::string> labels;         // reference labels (sorted), then other predictions
    std::vector<std::vector<int64_t>> confusion;   // [reference][predicted], labels order
    nlohmann::json toJson() const;
};
// Labels are compared after normalizeAnswer.
ClassificationReport classificationReport(const std::vector<std::string>& outputs,
                                          const std::vector<std::string>& references);

// ---------------------------------------------------------------------------------------------
// PII masking

struct PiiScore {
    int64_t truePositive = 0, falsePositive = 0, falseNegative = 0;   // placeholders, by type
    int64_t values = 0;               // original PII values (from source vs reference)
    int64_t leaked = 0;               // of them, still present in the output
    std::map<std::string, std::array<int64_t, 3>> byType;   // type -> {tp, fp, fn}
};
// Placeholders are "[TYPE]" (upper case letters, digits, _). The original values are the parts
// of `source` that the reference replaced by placeholders.
std::vector<std::string> piiPlaceholders(std::string_view text);
std::vector<std::string> piiOriginalValues(std::string_view source, std::string_view reference);
PiiScore scorePii(std::string_view source, std::string_view output, std::string_view reference);

// ---------------------------------------------------------------------------------------------
// Text

double rougeL(std::string_view output, std::string_view reference);   // F1 of the LCS of words, lower-cased
double chrF(std::string_view output, std::string_view reference);     // chrF (n = 6, beta = 2), 0..100
// type(scope)!: subject, with a known type, a non-empty subject, header <= 72 characters.
bool conventionalCommit(std::string_view message, std::string* why = nullptr);

// ---------------------------------------------------------------------------------------------
// Suites

// Metric families: exact, sql, json, classification, pii, rouge, chrf, commit, loss (reference
// loss/perplexity, computed by the harness with the model).
const std::vector<std::string>& metricFamilies();
// From a dataset preset name: sql -> exact, sql; function/extract -> exact, json; router ->
// exact, classification; pii -> exact, pii; commit -> rouge, chrf, commit; summary/prompt ->
// rouge, chrf; anything else -> exact, rouge. Every suite also has loss.
std::vector<std::string> autoMetrics(const std::string& preset);
// "auto" or a comma-separated list of families; throws swarm::Error naming an unknown one.
std::vector<std::string> parseMetrics(const std::string& spec, const std::string& preset);
// Whether a family scores against a reference: all but commit (which checks the format alone).
bool needsReference(const std::string& family);

struct ExampleInput {
    std::string prompt;               // the rendered prompt (holds the SQL context, the PII source)
    std::string reference;
    std::string output;
    bool hasReference = true;
};
// `detail` (optional) receives explanations, e.g. {"sql_error": "refused: ..."}.
ScoreMap scoreExample(const std::vector<std::string>& families, const ExampleInput& in,
                      const SqlOptions& sql = {}, nlohmann::json* detail = nullptr);

struct Summary {
    std::map<std::string, double> values;        // e.g. exact_match, sql_exec, macro_f1, pii_f1
    std::map<std::string, int64_t> counts;       // examples each value averages over
    std::vector<std::string> notes;              // "sql: needs references (none in this split)"
    ClassificationReport classification;         // when the suite has classification
    nlohmann::json toJson() const;
};
struct ScoredExample {
    std::string output;
    std::string reference;
    bool hasReference = true;
    ScoreMap scores;
};
Summary aggregate(const std::vector<std::string>& families, const std::vector<ScoredExample>& examples);

// Whether a higher value is better ("ref_loss", "ref_ppl", "pii_leaked" are lower-is-better).
bool higherIsBetter(const std::string& metric);
// The headline metric of a suite (sql_exec, json_exact, macro_f1, pii_f1, rouge_l, exact_match, ...).
std::string primaryMetric(const std::vector<std::string>& families);

} // namespace swarm::metrics
