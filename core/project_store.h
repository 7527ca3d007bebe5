#pragma once
// A workbench project is one SQLite file: WAL journal, foreign keys on, and a schema that grows
// by migrations. Each module owns a named migration line ("core" here; training, evaluation...
// register theirs with ProjectStore::registerMigration before opening a project). A file is
// migrated on open, inside one transaction; a file whose schema is newer than this build knows is
// refused with a message naming it. Every write that belongs together is one transaction: an
// import is all-or-nothing, and a crash mid-import leaves the project as it was.
//
// The core line's tables are the datasets' (datasets/dataset_store.h reads and writes them): they
// were the project's first tables, and stay on the "core" line so that existing files migrate as
// they always did.
#include "core/sqlite.h"

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm {

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
    sqlite3* handle() const { return db_; }

    std::string metaValue(const std::string& key) const;           // project_meta, "" if absent
    void setMetaValue(const std::string& key, const std::string& value);

private:
    ProjectStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    static ProjectStore openConnection(const std::string& path, bool create);
    void migrate(int coreLimit);

    sqlite3* db_ = nullptr;
    std::string path_;
};

} // namespace swarm
