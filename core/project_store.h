#pragma once
// A workbench project is one SQLite file: WAL journal, foreign keys on, and a schema that grows
// by migrations. Each module owns a named migration line ("core" here; training, evaluation...
// register theirs with ProjectStore::registerMigration before opening a project). A file is
// migrated on open, inside one transaction; a file whose schema is newer than this build knows is
// refused with a message naming it. Every write that belongs together is one transaction: an
// import is all-or-nothing, and a crash mid-import leaves the project as it was.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

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

// ---------------------------------------------------------------------------------------------
// Small RAII helpers over the SQLite C API, for this module and for modules with their own tables.

// A prepared statement. Binding indices are 1-based (SQLite's); column indices 0-based.
// Every failure throws swarm::Error naming the database file and the statement.
class SqlStatement {
public:
    SqlStatement(sqlite3* db, std::string_view sql);
    ~SqlStatement();
    SqlStatement(SqlStatement&& o) noexcept;
    SqlStatement& operator=(SqlStatement&& o) noexcept;
    SqlStatement(const SqlStatement&) = delete;
    SqlStatement& operator=(const SqlStatement&) = delete;

    SqlStatement& bind(int index, int64_t value);
    SqlStatement& bind(int index, int value) { return bind(index, int64_t(value)); }
    SqlStatement& bind(int index, double value);
    SqlStatement& bind(int index, std::string_view text);             // copied by SQLite
    SqlStatement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    SqlStatement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    SqlStatement& bindBlob(int index, const void* data, size_t size);  // copied by SQLite
    SqlStatement& bindNull(int index);

    bool step();          // true: a row is available; false: done
    void run();           // steps to completion (statements that return no rows)
    void reset();         // ready to run again; bindings cleared

    bool isNull(int col) const;
    int64_t columnInt(int col) const;
    double columnDouble(int col) const;
    std::string columnText(int col) const;
    std::string_view columnTextView(int col) const;     // valid until the next step/reset
    std::string_view columnBlob(int col) const;         // valid until the next step/reset

    sqlite3_stmt* get() const { return stmt_; }

private:
    [[noreturn]] void fail(const char* what, int rc) const;
    sqlite3_stmt* stmt_ = nullptr;
    sqlite3* db_ = nullptr;
};

// Runs one or more statements that return no rows; throws naming the database on failure.
void sqlExec(sqlite3* db, const std::string& sql);

// A transaction (BEGIN IMMEDIATE ... COMMIT), or a savepoint when one is already open on the
// connection. Destroying it without commit() rolls back.
class SqlTransaction {
public:
    explicit SqlTransaction(sqlite3* db);
    ~SqlTransaction();
    SqlTransaction(SqlTransaction&& o) noexcept;
    SqlTransaction& operator=(SqlTransaction&&) = delete;
    SqlTransaction(const SqlTransaction&) = delete;
    SqlTransaction& operator=(const SqlTransaction&) = delete;
    void commit();
    void rollback();
    bool active() const { return db_ != nullptr; }

private:
    sqlite3* db_ = nullptr;
    std::string savepoint_;     // empty: a top-level transaction
};

// ---------------------------------------------------------------------------------------------

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
    friend class ProjectStore;
    DatasetWriter(sqlite3* db, int64_t datasetId, SqlTransaction&& tx);
    sqlite3* db_;
    int64_t datasetId_;
    SqlTransaction tx_;
    SqlStatement insertExample_, insertRejected_, updateSplit_;
};

// A schema migration: applied once, in version order within its module, inside the open's
// transaction. `apply` must not BEGIN/COMMIT itself.
struct Migration {
    std::string module;
    int version = 0;
    std::string name;
    std::function<void(sqlite3*)> apply;
};

class ProjectStore {
public:
    static constexpr const char* kCoreModule = "core";

    static ProjectStore create(const std::string& path);   // throws swarm::Error if it exists
    static ProjectStore open(const std::string& path);     // migrates older schemas; throws naming the file
    // For tests and tooling: a new file with the core schema only up to `coreVersion`.
    static ProjectStore createAtVersion(const std::string& path, int coreVersion);

    ProjectStore(ProjectStore&& o) noexcept;
    ProjectStore& operator=(ProjectStore&& o) noexcept;
    ProjectStore(const ProjectStore&) = delete;
    ProjectStore& operator=(const ProjectStore&) = delete;
    ~ProjectStore();

    // Registers a migration of `module` (any name but "core" for other modules). Idempotent for
    // the same (module, version, name); a different name for a taken version throws. Register
    // before opening projects (e.g. from the module's own registerSchema() called by main).
    static void registerMigration(const std::string& module, int version, const std::string& name,
                                  std::function<void(sqlite3*)> apply);
    static void registerMigration(const std::string& module, int version, const std::string& name,
                                  const std::string& sql);
    // Forgets a module's migrations (tests; a plugin being unloaded). "core" cannot be removed.
    static void unregisterModule(const std::string& module);
    static std::vector<Migration> registeredMigrations();          // every module, ordered
    static int latestVersion(const std::string& module = kCoreModule);   // 0 if the module is unknown

    const std::string& path() const { return path_; }
    int schemaVersion(const std::string& module = kCoreModule) const;    // as stored in the file
    // (module, version, name, applied_at) of every applied migration.
    std::vector<nlohmann::json> appliedMigrations() const;
    sqlite3* handle() { return db_; }

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

    std::string metaValue(const std::string& key) const;           // project_meta, "" if absent
    void setMetaValue(const std::string& key, const std::string& value);

private:
    ProjectStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    static ProjectStore openConnection(const std::string& path, bool create);
    void migrate(int coreLimit);
    DatasetInfo readDataset(const SqlStatement& st) const;

    sqlite3* db_ = nullptr;
    std::string path_;
};

// Token ids <-> BLOB of little-endian int32.
std::string packTokenIds(const std::vector<int32_t>& ids);
std::vector<int32_t> unpackTokenIds(std::string_view blob);

// Current time as ISO 8601 UTC ("2024-05-01T12:00:00Z").
std::string utcTimestamp();

} // namespace swarm
