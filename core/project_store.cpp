#include "core/project_store.h"

#include "core/error.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

namespace {

constexpr int32_t kApplicationId = 0x53574D57;   // "SWMW": identifies a Swarm Workbench project

std::string dbName(sqlite3* db) {
    const char* f = db ? sqlite3_db_filename(db, "main") : nullptr;
    return (f && *f) ? std::string(f) : std::string("project");
}

std::string shortSql(std::string_view sql) {
    std::string s(sql.substr(0, 80));
    for (char& c : s)
        if (c == '\n' || c == '\t') c = ' ';
    if (sql.size() > 80) s += "...";
    return s;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Splits

const char* splitName(Split s) {
    switch (s) {
    case Split::Train: return "train";
    case Split::Validation: return "validation";
    case Split::Test: return "test";
    }
    return "train";
}

bool parseSplit(std::string_view text, Split& out) {
    std::string t;
    for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        t += char(std::tolower(static_cast<unsigned char>(c)));
    }
    if (t == "train" || t == "training") { out = Split::Train; return true; }
    if (t == "validation" || t == "valid" || t == "val" || t == "dev" || t == "eval") { out = Split::Validation; return true; }
    if (t == "test" || t == "testing") { out = Split::Test; return true; }
    return false;
}

// ---------------------------------------------------------------------------------------------
// SqlStatement

SqlStatement::SqlStatement(sqlite3* db, std::string_view sql) : db_(db) {
    const int rc = sqlite3_prepare_v3(db, sql.data(), int(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = dbName(db) + ": cannot prepare '" + shortSql(sql) + "': " + sqlite3_errmsg(db);
        sqlite3_finalize(stmt_);
        stmt_ = nullptr;
        throw Error(msg);
    }
    if (!stmt_) throw Error(dbName(db) + ": empty SQL statement");
}

SqlStatement::~SqlStatement() { sqlite3_finalize(stmt_); }

SqlStatement::SqlStatement(SqlStatement&& o) noexcept : stmt_(o.stmt_), db_(o.db_) {
    o.stmt_ = nullptr;
}

SqlStatement& SqlStatement::operator=(SqlStatement&& o) noexcept {
    if (this != &o) {
        sqlite3_finalize(stmt_);
        stmt_ = o.stmt_;
        db_ = o.db_;
        o.stmt_ = nullptr;
    }
    return *this;
}

void SqlStatement::fail(const char* what, int rc) const {
    const char* sql = stmt_ ? sqlite3_sql(stmt_) : "";
    throw Error(dbName(db_) + ": " + what + " '" + shortSql(sql ? sql : "") + "' failed: " +
                (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
}

SqlStatement& SqlStatement::bind(int index, int64_t value) {
    if (int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bind(int index, double value) {
    if (int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK) fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bind(int index, std::string_view text) {
    if (int rc = sqlite3_bind_text64(stmt_, index, text.data() ? text.data() : "", text.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8);
        rc != SQLITE_OK)
        fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bindBlob(int index, const void* data, size_t size) {
    static const char empty = 0;
    if (int rc = sqlite3_bind_blob64(stmt_, index, data ? data : &empty, size, SQLITE_TRANSIENT); rc != SQLITE_OK)
        fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bindNull(int index) {
    if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) fail("binding", rc);
    return *this;
}

bool SqlStatement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    std::string msg = dbName(db_) + ": '" + shortSql(sqlite3_sql(stmt_)) + "' failed: " + sqlite3_errmsg(db_);
    sqlite3_reset(stmt_);
    throw Error(msg);
}

void SqlStatement::run() {
    while (step()) {
    }
}

void SqlStatement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

bool SqlStatement::isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t SqlStatement::columnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
double SqlStatement::columnDouble(int col) const { return sqlite3_column_double(stmt_, col); }

std::string_view SqlStatement::columnTextView(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p), size_t(n)) : std::string_view();
}

std::string SqlStatement::columnText(int col) const { return std::string(columnTextView(col)); }

std::string_view SqlStatement::columnBlob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(static_cast<const char*>(p), size_t(n)) : std::string_view();
}

void sqlExec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = dbName(db) + ": '" + shortSql(sql) + "' failed: " + (err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        throw Error(msg);
    }
}

// ---------------------------------------------------------------------------------------------
// SqlTransaction

SqlTransaction::SqlTransaction(sqlite3* db) : db_(db) {
    if (sqlite3_get_autocommit(db)) {
        sqlExec(db, "BEGIN IMMEDIATE");
    } else {
        static std::atomic<uint64_t> counter{0};
        savepoint_ = "swarm_sp_" + std::to_string(++counter);
        sqlExec(db, "SAVEPOINT " + savepoint_);
    }
}

SqlTransaction::SqlTransaction(SqlTransaction&& o) noexcept : db_(o.db_), savepoint_(std::move(o.savepoint_)) {
    o.db_ = nullptr;
}

SqlTransaction::~SqlTransaction() {
    if (db_) {
        try {
            rollback();
        } catch (...) {
            // A failed rollback leaves SQLite to undo the transaction when the connection closes.
        }
    }
}

void SqlTransaction::commit() {
    if (!db_) throw Error("transaction already finished");
    sqlite3* db = db_;
    if (savepoint_.empty()) sqlExec(db, "COMMIT");
    else sqlExec(db, "RELEASE " + savepoint_);
    db_ = nullptr;
}

void SqlTransaction::rollback() {
    if (!db_) return;
    sqlite3* db = db_;
    db_ = nullptr;
    if (savepoint_.empty()) {
        if (!sqlite3_get_autocommit(db)) sqlExec(db, "ROLLBACK");
    } else {
        sqlExec(db, "ROLLBACK TO " + savepoint_);
        sqlExec(db, "RELEASE " + savepoint_);
    }
}

// ---------------------------------------------------------------------------------------------
// Token blobs and time

std::string packTokenIds(const std::vector<int32_t>& ids) {
    std::string out(ids.size() * 4, '\0');
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!ids.empty()) std::memcpy(out.data(), ids.data(), out.size());
#else
    for (size_t i = 0; i < ids.size(); ++i) {
        const uint32_t v = uint32_t(ids[i]);
        for (int b = 0; b < 4; ++b) out[i * 4 + size_t(b)] = char((v >> (8 * b)) & 0xff);
    }
#endif
    return out;
}

std::vector<int32_t> unpackTokenIds(std::string_view blob) {
    if (blob.size() % 4 != 0)
        throw Error("token id blob has " + std::to_string(blob.size()) + " bytes, not a multiple of 4");
    std::vector<int32_t> ids(blob.size() / 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!ids.empty()) std::memcpy(ids.data(), blob.data(), blob.size());
#else
    for (size_t i = 0; i < ids.size(); ++i) {
        uint32_t v = 0;
        for (int b = 0; b < 4; ++b) v |= uint32_t(static_cast<unsigned char>(blob[i * 4 + size_t(b)])) << (8 * b);
        ids[i] = int32_t(v);
    }
#endif
    return ids;
}

std::string utcTimestamp() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Migration registry

namespace {

const char* kCoreV1 = R"SQL(
CREATE TABLE project_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE datasets (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    source_path   TEXT NOT NULL,
    source_format TEXT NOT NULL,
    preset        TEXT,
    mapping_json  TEXT NOT NULL,
    max_len       INTEGER NOT NULL CHECK (max_len > 0),
    overlong      TEXT NOT NULL CHECK (overlong IN ('truncate', 'drop')),
    split_json    TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    rows_read     INTEGER NOT NULL DEFAULT 0,
    rows_imported INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    n_train       INTEGER NOT NULL DEFAULT 0,
    n_validation  INTEGER NOT NULL DEFAULT 0,
    n_test        INTEGER NOT NULL DEFAULT 0,
    n_truncated   INTEGER NOT NULL DEFAULT 0,
    n_tokens      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE examples (
    id               INTEGER PRIMARY KEY,
    dataset_id       INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    record_number    INTEGER NOT NULL,
    split            TEXT NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    prompt           TEXT NOT NULL,
    response         TEXT NOT NULL,
    ids              BLOB NOT NULL,
    prompt_len       INTEGER NOT NULL CHECK (prompt_len >= 0),
    n_tokens         INTEGER NOT NULL CHECK (n_tokens > prompt_len),
    truncated_tokens INTEGER NOT NULL DEFAULT 0,
    content_hash     INTEGER NOT NULL
);
CREATE INDEX examples_by_split ON examples (dataset_id, split, id);
CREATE TABLE rejected_rows (
    id            INTEGER PRIMARY KEY,
    dataset_id    INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    record_number INTEGER NOT NULL,
    line          INTEGER NOT NULL DEFAULT 0,
    reason        TEXT NOT NULL,
    detail        TEXT NOT NULL
);
CREATE INDEX rejected_by_dataset ON rejected_rows (dataset_id, record_number);
CREATE TABLE validation_reports (
    dataset_id  INTEGER PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
    report_json TEXT NOT NULL
);
)SQL";

const char* kCoreV2 = R"SQL(
CREATE TABLE dataset_presets (
    name        TEXT PRIMARY KEY,
    preset_json TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
)SQL";

struct Registry {
    std::mutex mutex;
    std::map<std::string, std::map<int, Migration>> modules;

    Registry() {
        auto sql = [](const char* text) { return [text](sqlite3* db) { sqlExec(db, text); }; };
        modules["core"][1] = Migration{"core", 1, "datasets, examples, rejected rows, validation reports", sql(kCoreV1)};
        modules["core"][2] = Migration{"core", 2, "mapping presets saved in the project", sql(kCoreV2)};
    }
};

Registry& registry() {
    static Registry r;
    return r;
}

} // namespace

void ProjectStore::registerMigration(const std::string& module, int version, const std::string& name,
                                     std::function<void(sqlite3*)> apply) {
    if (module.empty()) throw Error("registerMigration: the module name is empty");
    if (version < 1) throw Error("registerMigration: " + module + " version " + std::to_string(version) + " is not >= 1");
    if (!apply) throw Error("registerMigration: " + module + " v" + std::to_string(version) + " has no function");
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto& mod = r.modules[module];
    auto it = mod.find(version);
    if (it != mod.end()) {
        if (it->second.name == name) return;   // the same migration registered again
        throw Error("registerMigration: " + module + " version " + std::to_string(version) + " is already '" +
                    it->second.name + "', cannot also be '" + name + "'");
    }
    if (module == kCoreModule) throw Error("registerMigration: the 'core' migrations belong to the project store");
    mod[version] = Migration{module, version, name, std::move(apply)};
}

void ProjectStore::registerMigration(const std::string& module, int version, const std::string& name,
                                     const std::string& sql) {
    registerMigration(module, version, name, [sql](sqlite3* db) { sqlExec(db, sql); });
}

void ProjectStore::unregisterModule(const std::string& module) {
    if (module == kCoreModule) throw Error("unregisterModule: the 'core' migrations cannot be removed");
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.modules.erase(module);
}

std::vector<Migration> ProjectStore::registeredMigrations() {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::vector<Migration> out;
    for (const auto& [v, m] : r.modules[kCoreModule]) out.push_back(m);
    for (const auto& [module, versions] : r.modules)
        if (module != kCoreModule)
            for (const auto& [v, m] : versions) out.push_back(m);
    return out;
}

int ProjectStore::latestVersion(const std::string& module) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.modules.find(module);
    return (it == r.modules.end() || it->second.empty()) ? 0 : it->second.rbegin()->first;
}

// ---------------------------------------------------------------------------------------------
// Opening

ProjectStore::ProjectStore(ProjectStore&& o) noexcept : db_(o.db_), path_(std::move(o.path_)) { o.db_ = nullptr; }

ProjectStore& ProjectStore::operator=(ProjectStore&& o) noexcept {
    if (this != &o) {
        if (db_) sqlite3_close_v2(db_);
        db_ = o.db_;
        path_ = std::move(o.path_);
        o.db_ = nullptr;
    }
    return *this;
}

ProjectStore::~ProjectStore() {
    if (db_) sqlite3_close_v2(db_);
}

ProjectStore ProjectStore::openConnection(const std::string& path, bool create) {
    std::error_code ec;
    if (path.empty()) throw Error("no project file given");
    if (create) {
        if (fs::exists(path, ec)) throw Error(path + " already exists (refusing to overwrite a project)");
        fs::path parent = fs::path(path).parent_path();
        if (!parent.empty() && !fs::is_directory(parent, ec))
            throw Error("cannot create project " + path + ": the folder " + parent.string() + " does not exist");
    } else {
        if (!fs::exists(path, ec)) throw Error("project " + path + " does not exist");
        if (fs::is_directory(path, ec)) throw Error("project " + path + " is a directory, not a project file");
        std::ifstream in(path, std::ios::binary);
        if (!in) throw Error("cannot open project " + path + ": " + std::strerror(errno));
        char header[16] = {};
        in.read(header, sizeof header);
        if (in.gcount() == 0) throw Error(path + " is empty (0 bytes), not a Swarm Workbench project");
        if (in.gcount() < 16 || std::memcmp(header, "SQLite format 3", 16) != 0)
            throw Error(path + " is not a Swarm Workbench project (not an SQLite database)");
    }
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close_v2(db);
        throw Error("cannot " + std::string(create ? "create" : "open") + " project " + path + ": " + msg);
    }
    ProjectStore store(db, path);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    try {
        SqlStatement wal(db, "PRAGMA journal_mode=WAL");
        std::string mode = wal.step() ? wal.columnText(0) : "";
        if (mode != "wal") throw Error("the file system does not support WAL (journal mode is '" + mode + "')");
        sqlExec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL");
    } catch (const Error& e) {
        std::string what = e.what();
        if (what.find("file is not a database") != std::string::npos)
            throw Error(path + " is not a Swarm Workbench project (not an SQLite database)");
        throw Error("cannot open project " + path + ": " + what);
    }
    return store;
}

ProjectStore ProjectStore::create(const std::string& path) {
    ProjectStore s = openConnection(path, true);
    try {
        s.migrate(latestVersion(kCoreModule));
    } catch (...) {
        sqlite3_close_v2(s.db_);
        s.db_ = nullptr;
        std::error_code ec;
        fs::remove(path, ec);
        fs::remove(path + "-wal", ec);
        fs::remove(path + "-shm", ec);
        throw;
    }
    return s;
}

ProjectStore ProjectStore::createAtVersion(const std::string& path, int coreVersion) {
    if (coreVersion < 1 || coreVersion > latestVersion(kCoreModule))
        throw Error("createAtVersion: core schema version " + std::to_string(coreVersion) + " does not exist");
    ProjectStore s = openConnection(path, true);
    s.migrate(coreVersion);
    return s;
}

ProjectStore ProjectStore::open(const std::string& path) {
    ProjectStore s = openConnection(path, false);
    s.migrate(latestVersion(kCoreModule));
    return s;
}

void ProjectStore::migrate(int coreLimit) {
    // What the file has.
    bool fresh = false;
    {
        SqlStatement appId(db_, "PRAGMA application_id");
        const int64_t id = appId.step() ? appId.columnInt(0) : 0;
        SqlStatement tables(db_, "SELECT count(*) FROM sqlite_master");
        const int64_t nTables = tables.step() ? tables.columnInt(0) : 0;
        if (id == 0 && nTables == 0) {
            fresh = true;
        } else if (id != kApplicationId) {
            throw Error(path_ + " is not a Swarm Workbench project (an SQLite database of another application)");
        }
    }
    std::map<std::string, std::map<int, std::string>> applied;   // module -> version -> name
    if (!fresh) {
        SqlStatement q(db_, "SELECT module, version, name FROM schema_version");
        while (q.step()) applied[q.columnText(0)][int(q.columnInt(1))] = q.columnText(2);
    }

    // Refuse a newer file, and a file whose history disagrees with this build's.
    std::vector<Migration> known = registeredMigrations();
    std::map<std::string, int> latest;
    for (const Migration& m : known) latest[m.module] = std::max(latest[m.module], m.version);
    for (const auto& [module, versions] : applied) {
        auto it = latest.find(module);
        if (it == latest.end()) continue;      // a module this build does not have: its tables stay untouched
        const int fileVersion = versions.rbegin()->first;
        if (fileVersion > it->second)
            throw Error(path_ + " was written by a newer Swarm Workbench: its '" + module + "' schema is at version " +
                        std::to_string(fileVersion) + ", this build knows versions up to " +
                        std::to_string(it->second) + "; open it with a newer workbench");
    }
    std::vector<const Migration*> pending;
    for (const Migration& m : known) {
        auto mod = applied.find(m.module);
        if (mod != applied.end()) {
            auto v = mod->second.find(m.version);
            if (v != mod->second.end()) {
                if (v->second != m.name)
                    throw Error(path_ + ": schema mismatch: '" + m.module + "' version " + std::to_string(m.version) +
                                " is '" + v->second + "' in the file but '" + m.name + "' in this build");
                continue;
            }
        }
        if (m.module == kCoreModule && m.version > coreLimit) continue;
        pending.push_back(&m);
    }
    if (pending.empty()) return;

    SqlTransaction tx(db_);
    if (fresh) {
        sqlExec(db_, "PRAGMA application_id=" + std::to_string(kApplicationId));
        sqlExec(db_, "CREATE TABLE schema_version (module TEXT NOT NULL, version INTEGER NOT NULL, "
                     "name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (module, version))");
    }
    SqlStatement record(db_, "INSERT INTO schema_version (module, version, name, applied_at) VALUES (?, ?, ?, ?)");
    const std::string now = utcTimestamp();
    for (const Migration* m : pending) {
        try {
            m->apply(db_);
        } catch (const std::exception& e) {
            throw Error(path_ + ": migration '" + m->module + "' v" + std::to_string(m->version) + " (" + m->name +
                        ") failed, the project is unchanged: " + e.what());
        }
        record.bind(1, m->module).bind(2, m->version).bind(3, m->name).bind(4, now);
        record.run();
        record.reset();
    }
    if (fresh) {
        SqlStatement meta(db_, "INSERT OR REPLACE INTO project_meta (key, value) VALUES (?, ?)");
        meta.bind(1, "created_at").bind(2, now);
        meta.run();
    }
    tx.commit();
}

int ProjectStore::schemaVersion(const std::string& module) const {
    SqlStatement q(db_, "SELECT coalesce(max(version), 0) FROM schema_version WHERE module = ?");
    q.bind(1, module);
    return q.step() ? int(q.columnInt(0)) : 0;
}

std::vector<json> ProjectStore::appliedMigrations() const {
    std::vector<json> out;
    SqlStatement q(db_, "SELECT module, version, name, applied_at FROM schema_version "
                        "ORDER BY module <> 'core', module, version");
    while (q.step())
        out.push_back(json{{"module", q.columnText(0)}, {"version", q.columnInt(1)}, {"name", q.columnText(2)},
                           {"applied_at", q.columnText(3)}});
    return out;
}

std::string ProjectStore::metaValue(const std::string& key) const {
    SqlStatement q(db_, "SELECT value FROM project_meta WHERE key = ?");
    q.bind(1, key);
    return q.step() ? q.columnText(0) : std::string();
}

void ProjectStore::setMetaValue(const std::string& key, const std::string& value) {
    SqlStatement q(db_, "INSERT OR REPLACE INTO project_meta (key, value) VALUES (?, ?)");
    q.bind(1, key).bind(2, value);
    q.run();
}

// ---------------------------------------------------------------------------------------------
// Datasets

namespace {

const char* kDatasetColumns =
    "SELECT id, name, source_path, source_format, preset, mapping_json, max_len, overlong, split_json, seed, "
    "created_at, rows_read, rows_imported, rows_rejected, n_train, n_validation, n_test, n_truncated, n_tokens "
    "FROM datasets ";

json parseStoredJson(std::string_view text, const std::string& what) {
    try {
        return text.empty() ? json() : json::parse(text);
    } catch (const json::exception& e) {
        throw Error(what + " holds malformed JSON: " + e.what());
    }
}

} // namespace

DatasetInfo ProjectStore::readDataset(const SqlStatement& st) const {
    DatasetInfo d;
    d.id = st.columnInt(0);
    d.name = st.columnText(1);
    d.sourcePath = st.columnText(2);
    d.sourceFormat = st.columnText(3);
    d.preset = st.isNull(4) ? std::string() : st.columnText(4);
    d.mapping = parseStoredJson(st.columnTextView(5), path_ + ": dataset '" + d.name + "' mapping");
    d.maxLen = int32_t(st.columnInt(6));
    d.overlong = st.columnText(7);
    d.split = parseStoredJson(st.columnTextView(8), path_ + ": dataset '" + d.name + "' split");
    d.seed = uint64_t(st.columnInt(9));
    d.createdAt = st.columnText(10);
    d.rowsRead = st.columnInt(11);
    d.rowsImported = st.columnInt(12);
    d.rowsRejected = st.columnInt(13);
    d.nTrain = st.columnInt(14);
    d.nValidation = st.columnInt(15);
    d.nTest = st.columnInt(16);
    d.nTruncated = st.columnInt(17);
    d.nTokens = st.columnInt(18);
    return d;
}

std::vector<DatasetInfo> ProjectStore::datasets() const {
    SqlStatement q(db_, std::string(kDatasetColumns) + "ORDER BY id");
    std::vector<DatasetInfo> out;
    while (q.step()) out.push_back(readDataset(q));
    return out;
}

std::optional<DatasetInfo> ProjectStore::findDataset(const std::string& name) const {
    SqlStatement q(db_, std::string(kDatasetColumns) + "WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::nullopt;
    return readDataset(q);
}

std::optional<DatasetInfo> ProjectStore::findDataset(int64_t id) const {
    SqlStatement q(db_, std::string(kDatasetColumns) + "WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return readDataset(q);
}

DatasetInfo ProjectStore::dataset(const std::string& nameOrId) const {
    if (auto d = findDataset(nameOrId)) return *d;
    if (!nameOrId.empty() && nameOrId.size() < 19 &&
        std::all_of(nameOrId.begin(), nameOrId.end(), [](char c) { return c >= '0' && c <= '9'; }))
        if (auto d = findDataset(int64_t(std::stoll(nameOrId)))) return *d;
    std::string names;
    for (const DatasetInfo& d : datasets()) names += (names.empty() ? "" : ", ") + d.name;
    throw Error("project " + path_ + " has no dataset '" + nameOrId + "' (" +
                (names.empty() ? std::string("it has no datasets yet") : "datasets: " + names) + ")");
}

void ProjectStore::deleteDataset(int64_t datasetId) {
    SqlTransaction tx(db_);
    SqlStatement q(db_, "DELETE FROM datasets WHERE id = ?");
    q.bind(1, datasetId);
    q.run();
    if (sqlite3_changes(db_) == 0) throw Error("project " + path_ + " has no dataset with id " + std::to_string(datasetId));
    tx.commit();
}

DatasetWriter ProjectStore::beginDataset(const NewDataset& info) {
    if (info.name.empty()) throw Error("a dataset needs a name");
    SqlTransaction tx(db_);
    if (findDataset(info.name))
        throw Error("project " + path_ + " already has a dataset named '" + info.name +
                    "' (choose another name or delete it first)");
    SqlStatement ins(db_, "INSERT INTO datasets (name, source_path, source_format, preset, mapping_json, max_len, "
                          "overlong, split_json, seed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, info.name).bind(2, info.sourcePath).bind(3, info.sourceFormat);
    if (info.preset.empty()) ins.bindNull(4);
    else ins.bind(4, info.preset);
    ins.bind(5, info.mapping.dump()).bind(6, int64_t(info.maxLen)).bind(7, info.overlong);
    ins.bind(8, info.split.dump()).bind(9, int64_t(info.seed)).bind(10, utcTimestamp());
    ins.run();
    const int64_t id = sqlite3_last_insert_rowid(db_);
    return DatasetWriter(db_, id, std::move(tx));
}

json ProjectStore::validationReport(int64_t datasetId) const {
    SqlStatement q(db_, "SELECT report_json FROM validation_reports WHERE dataset_id = ?");
    q.bind(1, datasetId);
    if (!q.step()) return json();
    return parseStoredJson(q.columnTextView(0), path_ + ": the validation report of dataset " + std::to_string(datasetId));
}

std::vector<RejectedRow> ProjectStore::rejectedRows(int64_t datasetId, int64_t limit, int64_t offset) const {
    SqlStatement q(db_, "SELECT record_number, line, reason, detail FROM rejected_rows WHERE dataset_id = ? "
                        "ORDER BY record_number, id LIMIT ? OFFSET ?");
    q.bind(1, datasetId).bind(2, limit).bind(3, offset);
    std::vector<RejectedRow> out;
    while (q.step()) out.push_back(RejectedRow{q.columnInt(0), q.columnInt(1), q.columnText(2), q.columnText(3)});
    return out;
}

// ---------------------------------------------------------------------------------------------
// Examples

int64_t ProjectStore::exampleCount(int64_t datasetId, std::optional<Split> split) const {
    SqlStatement q(db_, split ? "SELECT count(*) FROM examples WHERE dataset_id = ? AND split = ?"
                              : "SELECT count(*) FROM examples WHERE dataset_id = ?");
    q.bind(1, datasetId);
    if (split) q.bind(2, splitName(*split));
    return q.step() ? q.columnInt(0) : 0;
}

std::vector<TrainingExample> ProjectStore::trainingExamples(int64_t datasetId, Split split) const {
    SqlStatement q(db_, "SELECT id, ids, prompt_len FROM examples WHERE dataset_id = ? AND split = ? ORDER BY id");
    q.bind(1, datasetId).bind(2, splitName(split));
    std::vector<TrainingExample> out;
    while (q.step()) {
        TrainingExample ex;
        ex.exampleId = q.columnInt(0);
        ex.ids = unpackTokenIds(q.columnBlob(1));
        ex.promptLen = int32_t(q.columnInt(2));
        out.push_back(std::move(ex));
    }
    return out;
}

namespace {

const char* kExampleColumns = "SELECT id, dataset_id, record_number, split, prompt, response, ids, prompt_len, "
                              "truncated_tokens, content_hash FROM examples ";

StoredExample readExample(const SqlStatement& q) {
    StoredExample e;
    e.id = q.columnInt(0);
    e.datasetId = q.columnInt(1);
    e.recordNumber = q.columnInt(2);
    parseSplit(q.columnTextView(3), e.split);
    e.prompt = q.columnText(4);
    e.response = q.columnText(5);
    e.ids = unpackTokenIds(q.columnBlob(6));
    e.promptLen = int32_t(q.columnInt(7));
    e.truncatedTokens = int32_t(q.columnInt(8));
    e.contentHash = uint64_t(q.columnInt(9));
    return e;
}

} // namespace

std::optional<StoredExample> ProjectStore::example(int64_t exampleId) const {
    SqlStatement q(db_, std::string(kExampleColumns) + "WHERE id = ?");
    q.bind(1, exampleId);
    if (!q.step()) return std::nullopt;
    return readExample(q);
}

std::vector<StoredExample> ProjectStore::examples(int64_t datasetId, std::optional<Split> split, int64_t offset,
                                                  int64_t limit) const {
    std::vector<StoredExample> out;
    SqlStatement q(db_, std::string(kExampleColumns) +
                            (split ? "WHERE dataset_id = ?1 AND split = ?4 ORDER BY id LIMIT ?2 OFFSET ?3"
                                   : "WHERE dataset_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"));
    q.bind(1, datasetId).bind(2, limit).bind(3, offset);
    if (split) q.bind(4, splitName(*split));
    while (q.step()) out.push_back(readExample(q));
    return out;
}

void ProjectStore::forEachExample(int64_t datasetId, std::optional<Split> split,
                                  const std::function<bool(const StoredExample&)>& fn) const {
    SqlStatement q(db_, std::string(kExampleColumns) +
                            (split ? "WHERE dataset_id = ? AND split = ? ORDER BY id" : "WHERE dataset_id = ? ORDER BY id"));
    q.bind(1, datasetId);
    if (split) q.bind(2, splitName(*split));
    while (q.step())
        if (!fn(readExample(q))) break;
}

// ---------------------------------------------------------------------------------------------
// Presets saved in the project

void ProjectStore::savePreset(const std::string& name, const json& preset) {
    if (name.empty()) throw Error("a preset needs a name");
    SqlStatement q(db_, "INSERT OR REPLACE INTO dataset_presets (name, preset_json, updated_at) VALUES (?, ?, ?)");
    q.bind(1, name).bind(2, preset.dump()).bind(3, utcTimestamp());
    q.run();
}

std::vector<std::pair<std::string, json>> ProjectStore::savedPresets() const {
    std::vector<std::pair<std::string, json>> out;
    SqlStatement q(db_, "SELECT name, preset_json FROM dataset_presets ORDER BY name");
    while (q.step()) out.emplace_back(q.columnText(0), parseStoredJson(q.columnTextView(1), path_ + ": preset"));
    return out;
}

void ProjectStore::deletePreset(const std::string& name) {
    SqlStatement q(db_, "DELETE FROM dataset_presets WHERE name = ?");
    q.bind(1, name);
    q.run();
    if (sqlite3_changes(db_) == 0) throw Error("project " + path_ + " has no saved preset '" + name + "'");
}

// ---------------------------------------------------------------------------------------------
// DatasetWriter

DatasetWriter::DatasetWriter(sqlite3* db, int64_t datasetId, SqlTransaction&& tx)
    : db_(db),
      datasetId_(datasetId),
      tx_(std::move(tx)),
      insertExample_(db, "INSERT INTO examples (dataset_id, record_number, split, prompt, response, ids, prompt_len, "
                         "n_tokens, truncated_tokens, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      insertRejected_(db, "INSERT INTO rejected_rows (dataset_id, record_number, line, reason, detail) "
                          "VALUES (?, ?, ?, ?, ?)"),
      updateSplit_(db, "UPDATE examples SET split = ? WHERE id = ? AND dataset_id = ?") {}

DatasetWriter::DatasetWriter(DatasetWriter&& o) noexcept
    : db_(o.db_),
      datasetId_(o.datasetId_),
      tx_(std::move(o.tx_)),
      insertExample_(std::move(o.insertExample_)),
      insertRejected_(std::move(o.insertRejected_)),
      updateSplit_(std::move(o.updateSplit_)) {}

DatasetWriter::~DatasetWriter() = default;   // tx_ rolls back unless committed

int64_t DatasetWriter::addExample(int64_t recordNumber, Split split, std::string_view prompt,
                                  std::string_view response, const std::vector<int32_t>& ids, int32_t promptLen,
                                  int32_t truncatedTokens, uint64_t contentHash) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    if (promptLen < 0 || size_t(promptLen) >= ids.size())
        throw Error("DatasetWriter: record " + std::to_string(recordNumber) + " has prompt_len " +
                    std::to_string(promptLen) + " of " + std::to_string(ids.size()) + " tokens");
    const std::string blob = packTokenIds(ids);
    SqlStatement& q = insertExample_;
    q.bind(1, datasetId_).bind(2, recordNumber).bind(3, splitName(split)).bind(4, prompt).bind(5, response);
    q.bindBlob(6, blob.data(), blob.size()).bind(7, promptLen).bind(8, int64_t(ids.size()));
    q.bind(9, truncatedTokens).bind(10, int64_t(contentHash));
    q.run();
    q.reset();
    return sqlite3_last_insert_rowid(db_);
}

void DatasetWriter::addRejected(const RejectedRow& row) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    SqlStatement& q = insertRejected_;
    q.bind(1, datasetId_).bind(2, row.recordNumber).bind(3, row.line).bind(4, row.reason).bind(5, row.detail);
    q.run();
    q.reset();
}

void DatasetWriter::setSplit(int64_t exampleId, Split split) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    SqlStatement& q = updateSplit_;
    q.bind(1, splitName(split)).bind(2, exampleId).bind(3, datasetId_);
    q.run();
    q.reset();
}

void DatasetWriter::commit(const DatasetCounts& c, const json& report) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    SqlStatement upd(db_, "UPDATE datasets SET rows_read = ?, rows_imported = ?, rows_rejected = ?, n_train = ?, "
                          "n_validation = ?, n_test = ?, n_truncated = ?, n_tokens = ? WHERE id = ?");
    upd.bind(1, c.rowsRead).bind(2, c.rowsImported).bind(3, c.rowsRejected).bind(4, c.nTrain);
    upd.bind(5, c.nValidation).bind(6, c.nTest).bind(7, c.nTruncated).bind(8, c.nTokens).bind(9, datasetId_);
    upd.run();
    SqlStatement rep(db_, "INSERT OR REPLACE INTO validation_reports (dataset_id, report_json) VALUES (?, ?)");
    rep.bind(1, datasetId_).bind(2, report.dump(-1, ' ', false, json::error_handler_t::replace));
    rep.run();
    tx_.commit();
}

void DatasetWriter::rollback() { tx_.rollback(); }

} // namespace swarm
