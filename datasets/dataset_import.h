#pragma once
// The import pipeline: read -> map (templates over fields) -> chat format -> tokenise (all
// cores) -> mask -> length policy -> split -> duplicates and leakage -> one transaction.
// Every record read ends up either imported or rejected with its record/line number and a
// reason; the validation report (counts, rejections, token-length statistics with histograms,
// duplicates, leakage, warnings) is stored with the dataset. Cancel or error: rollback, the
// project is unchanged.
#include "datasets/dataset_presets.h"
#include "datasets/dataset_reader.h"
#include "core/error.h"
#include "core/project_store.h"
#include "datasets/prompt_template.h"
#include "core/tokenizer.h"
#include "datasets/dataset_store.h"

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace swarm {

enum class OverlongPolicy { Truncate, Drop };
const char* overlongName(OverlongPolicy p);                  // "truncate", "drop"
OverlongPolicy parseOverlong(const std::string& name);       // throws swarm::Error

struct SplitSpec {
    double train = 0.9, validation = 0.05, test = 0.05;
    std::string column;          // non-empty: each row's split comes from this field
    // "0.9,0.05,0.05", "90,5,5" or "0.8,0.2" (no test); normalised to sum to 1.
    static SplitSpec parse(const std::string& ratios);
    static SplitSpec fromColumn(const std::string& column);
    nlohmann::json toJson() const;
};

struct ImportProgress {
    uint64_t bytesRead = 0, bytesTotal = 0;
    int64_t recordsRead = 0, imported = 0, rejected = 0;
};

// Thrown when ImportOptions::cancel is set during an import; the project is unchanged.
class ImportCancelled : public Error {
public:
    ImportCancelled() : Error("import cancelled; the project is unchanged") {}
};

struct ImportOptions {
    std::string name;                          // the dataset's name in the project
    std::string sourcePath;
    ReaderOptions reader;
    // The mapping. A preset gives templates and chat format; explicit templates override its
    // parts. With no preset and no templates, the preset is detected from the columns.
    std::string presetName;                    // a built-in preset, or "auto"/"" to detect
    std::optional<DatasetPreset> preset;       // an explicit preset (edited, from a file or project)
    std::string promptTemplate;
    std::string responseTemplate;
    std::string chatFormat;                    // empty: the preset's, else ChatFormat::kDefault
    int maxLen = 1024;
    OverlongPolicy overlong = OverlongPolicy::Truncate;
    SplitSpec split;
    uint64_t seed = 42;
    bool dropDuplicates = true;                // exact duplicates (same prompt and response)
    int threads = 0;                           // tokeniser threads; 0: every core
    bool dryRun = false;                       // run everything, report, then roll back
    std::function<void(const ImportProgress&)> progress;
    const std::atomic<bool>* cancel = nullptr;
};

// The templates and format an import will use, and how they were chosen.
struct ResolvedMapping {
    std::string presetName;                    // empty: custom
    std::string explanation;                   // "preset 'sql' detected from the columns ..."
    TextTemplate prompt, response;
    ChatFormat format;
    nlohmann::json toJson() const;
};
// Throws swarm::Error explaining what to give when nothing matches.
ResolvedMapping resolveMapping(const ImportOptions& options, const std::vector<std::string>& columns);

struct ImportResult {
    int64_t datasetId = 0;                     // 0 for a dry run
    DatasetCounts counts;
    nlohmann::json report;
};

ImportResult importDataset(ProjectStore& store, const Gpt2Tokenizer& tokenizer, const ImportOptions& options);

// ---------------------------------------------------------------------------------------------
// Building one training sequence

struct EncodedExample {
    std::vector<int32_t> ids;
    int32_t promptLen = 0;          // labels: -100 below this position
    int32_t promptTokens = 0;       // before truncation
    int32_t responseTokens = 0;     // response + EOS
    int32_t truncated = 0;          // prompt tokens removed
    bool tooLong = false;           // dropped by the length policy
    std::string tooLongDetail;
};

class ExampleEncoder {
public:
    ExampleEncoder(const Gpt2Tokenizer& tokenizer, ChatFormat format, int maxLen, OverlongPolicy policy);
    // Prompt part "User: {prompt}\nAssistant:" and response part " {response}" + <|endoftext|>,
    // each tokenised as plain text. Over max_len: the prompt loses tokens from its start (after the
    // format's own leading words, e.g. "User:"), or the example is dropped.
    EncodedExample encode(std::string_view prompt, std::string_view response) const;
    const ChatFormat& format() const { return format_; }
    int maxLen() const { return maxLen_; }

private:
    const Gpt2Tokenizer& tok_;
    ChatFormat format_;
    int maxLen_;
    OverlongPolicy policy_;
    std::vector<int32_t> headIds_;
    size_t tailTokens_ = 0;
};

// Labels of a stored example: -100 for positions < promptLen, the id elsewhere.
std::vector<int32_t> labelsFor(const std::vector<int32_t>& ids, int32_t promptLen);

// min, max, mean, median, p95 and a histogram ({"bin_width", "counts"}) of `values`.
nlohmann::json lengthStats(std::vector<int32_t> values, int bins = 20);

uint64_t hashText(std::string_view text, uint64_t seed = 0);
uint64_t contentHash(std::string_view prompt, std::string_view response);

// ---------------------------------------------------------------------------------------------
// Preview of the first records of a file, before importing.

struct PreviewRow {
    int64_t number = 0, line = 0;
    nlohmann::json record;          // the raw fields (null when the record itself is bad)
    bool ok = false;
    std::string reason, detail;     // why the row would be rejected
    std::string prompt, response;   // rendered
    int32_t promptTokens = 0, responseTokens = 0;   // of the formatted parts (with EOS)
};

struct DatasetPreview {
    SourceFormat format = SourceFormat::Auto;
    std::vector<std::string> columns;
    std::string wrapperKey;
    bool bom = false;
    uint64_t fileSize = 0;
    std::optional<ResolvedMapping> mapping;
    std::string mappingError;       // when no mapping could be resolved
    std::vector<PreviewRow> rows;
};

// `tokenizer` may be null (no token counts).
DatasetPreview previewDataset(const ImportOptions& options, const Gpt2Tokenizer* tokenizer, int rows);

} // namespace swarm
