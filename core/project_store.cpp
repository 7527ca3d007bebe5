#include "core/project_store.h"

#include "core/error.h"
#include "core/format.h"

#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

namespace {
constexpr int32_t kApplicationId = 0x53574D57;   // "SWMW": identifies a Swarm Workbench project
} // namespace

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

namespace {

// The file's first 16 bytes, read through the connection's own file handle. Never through a
// second open() of the file: closing any descriptor of a file drops every POSIX lock this
// process holds on it, those of its other connections too, and another process closing its
// connection would then take itself for the last one and delete the WAL under them
// ("disk I/O error"; the Train page's ranks met it).
void checkHeader(sqlite3* db, const std::string& path) {
    sqlite3_file* file = nullptr;
    char header[16] = {};
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || !file || !file->pMethods)
        throw Error("cannot open project " + path + ": no file handle");
    const int rc = file->pMethods->xRead(file, header, sizeof header, 0);
    if (rc == SQLITE_IOERR_SHORT_READ || (rc == SQLITE_OK && std::memcmp(header, "SQLite format 3", 16) != 0))
        throw Error(path + " is not a Swarm Workbench project (not an SQLite database)");
    if (rc != SQLITE_OK) throw Error("cannot open project " + path + ": " + sqlite3_errstr(rc));
}

} // namespace

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
        if (fs::file_size(path, ec) == 0 && !ec) throw Error(path + " is empty (0 bytes), not a Swarm Workbench project");
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
    if (!create) checkHeader(db, path);
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

} // namespace swarm
