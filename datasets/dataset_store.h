#pragma once
// The datasets of a project: their rows, examples (token ids with the prompt length), rejected
// records, validation reports and saved mapping presets, in the project file's core tables.
// A DatasetStore is a view over an open ProjectStore (it must outlive the view); every write that
// belongs together is one transaction, so an import is all-or-nothing.
#include "core/project_store.h"
#include "core/sqlite.h"

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swarm {

enum class Split { Train, Validation, Test };
const char* splitName(Split s);                      // "train", "validation", "test"
// Accepts train/training, validation/valid/val/dev, test/testing (any case); false otherwise.
bool parseSplit(std::string_view text, Split& out);

struct TrainingExample {
    int64_t exampleId = 0;
    std::vector<int32_t> ids;      // prompt tokens, then response tokens and <|endoftext|>
    int32_t promptLen = 0;         // labels: -100 for positions < promptLen, ids[t] otherwise
};

// One dataset as stored in the project.
struct DatasetInfo {
    int64_t id = 0;
    std::string name;
    std::string sourcePath;
    std::string sourceFormat;          // jsonl, json, csv, tsv
    std::string preset;                // empty: a custom mapping
    nlohmann::json mapping;            // {"prompt_template", "response_template", "chat_format", ...}
    int32_t maxLen = 1024;
    std::string overlong;              // "truncate" or "drop"
    nlohmann::json split;              // {"mode": "ratio", "train":..} or {"mode": "column", "column":..}
    uint64_t seed = 0;
    std::string createdAt;             // ISO 8601, UTC
    int64_t rowsRead = 0, rowsImported = 0, rowsRejected = 0;
    int64_t nTrain = 0, nValidation = 0, nTest = 0;
    int64_t nTruncated = 0, nTokens = 0;
};

// One stored example with its texts, for inspection and export.
struct StoredExample {
    int64_t id = 0;
    int64_t datasetId = 0;
    int64_t recordNumber = 0;          // the record in the source file (1-based)
    Split split = Split::Train;
    std::string prompt;                // the rendered prompt (before the chat format)
    std::string response;
    std::vector<int32_t> ids;
    int32_t promptLen = 0;
    int32_t truncatedTokens = 0;       // prompt tokens removed to fit max_len
    uint64_t contentHash = 0;
};

struct RejectedRow {
    int64_t recordNumber = 0;          // 1-based record in the source (0: the file as a whole)
    int64_t line = 0;                  // 1-based line where the record starts (0: unknown)
    std::string reason;                // a code: malformed_json, malformed_csv, invalid_utf8, ...
    std::string detail;                // the human-readable explanation
};

// What an import writes, given to ProjectStore::beginDataset.
struct NewDataset {
    std::string name;
    std::string sourcePath;
    std::string sourceFormat;
    std::string preset;
    nlohmann::json mapping = nlohmann::json::object();
    int32_t maxLen = 1024;
    std::string overlong = "truncate";
    nlohmann::json split = nlohmann::json::object();
    uint64_t seed = 0;
};

struct DatasetCounts {
    int64_t rowsRead = 0, rowsImported = 0, rowsRejected = 0;
    int64_t nTrain = 0, nValidation = 0, nTest = 0;
    int64_t nTruncated = 0, nTokens = 0;
};

// Writes one dataset inside one transaction. Nothing is visible to other connections until
// commit(); destroying the writer without commit() (an error, a cancel) rolls everything back.
class DatasetWriter {
public:
    DatasetWriter(DatasetWriter&&) noexcept;
    DatasetWriter& operator=(DatasetWriter&&) = delete;
    ~DatasetWriter();

    int64_t datasetId() const { return datasetId_; }
    int64_t addExample(int64_t recordNumber, Split split, std::string_view prompt, std::string_view response,
                       const std::vector<int32_t>& ids, int32_t promptLen, int32_t truncatedTokens,
                       uint64_t contentHash);
    void addRejected(const RejectedRow& row);
    void setSplit(int64_t exampleId, Split split);
    void commit(const DatasetCounts& counts, const nlohmann::json& report);
    void rollback();

private:
    friend class DatasetStore;
    DatasetWriter(sqlite3* db, int64_t datasetId, SqlTransaction&& tx);
    sqlite3* db_;
    int64_t datasetId_;
    SqlTransaction tx_;
    SqlStatement insertExample_, insertRejected_, updateSplit_;
};

class DatasetStore {
public:
    explicit DatasetStore(const ProjectStore& project) : db_(project.handle()), path_(project.path()) {}

    // Datasets.
    std::vector<DatasetInfo> datasets() const;
    std::optional<DatasetInfo> findDataset(const std::string& name) const;
    std::optional<DatasetInfo> findDataset(int64_t id) const;
    // By name, or by id when `nameOrId` is all digits and no dataset has that name; throws
    // naming the project and listing the datasets when there is none.
    DatasetInfo dataset(const std::string& nameOrId) const;
    void deleteDataset(int64_t datasetId);
    // Starts an import transaction; throws if a dataset with this name exists.
    DatasetWriter beginDataset(const NewDataset& info);

    nlohmann::json validationReport(int64_t datasetId) const;      // null json if none
    std::vector<RejectedRow> rejectedRows(int64_t datasetId, int64_t limit = -1, int64_t offset = 0) const;

    // Examples.
    int64_t exampleCount(int64_t datasetId, std::optional<Split> split = std::nullopt) const;
    std::vector<TrainingExample> trainingExamples(int64_t datasetId, Split split) const;
    std::optional<StoredExample> example(int64_t exampleId) const;
    // Examples in id order (the order of the source file), optionally of one split.
    std::vector<StoredExample> examples(int64_t datasetId, std::optional<Split> split, int64_t offset,
                                        int64_t limit) const;
    // Streams every example (for export) without loading them all; return false to stop.
    void forEachExample(int64_t datasetId, std::optional<Split> split,
                        const std::function<bool(const StoredExample&)>& fn) const;

    // Mapping presets saved in the project (edited copies of the built-in ones, or new ones).
    void savePreset(const std::string& name, const nlohmann::json& preset);
    std::vector<std::pair<std::string, nlohmann::json>> savedPresets() const;
    void deletePreset(const std::string& name);

private:
    DatasetInfo readDataset(const SqlStatement& st) const;

    sqlite3* db_;
    std::string path_;
};

// Token ids <-> BLOB of little-endian int32.
std::string packTokenIds(const std::vector<int32_t>& ids);
std::vector<int32_t> unpackTokenIds(std::string_view blob);

} // namespace swarm
