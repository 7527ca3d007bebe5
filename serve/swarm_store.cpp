#include "serve/swarm_store.h"

#include "core/error.h"

#include <sqlite3.h>

namespace swarm {

void registerSwarmSchema() {
    ProjectStore::registerMigration("swarm", 1, "swarm definitions", R"SQL(
CREATE TABLE swarms (
  name TEXT PRIMARY KEY,
  definition TEXT NOT NULL,
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
)SQL");
}

void saveSwarm(ProjectStore& project, const SwarmDefinition& def) {
    if (def.name.empty()) throw Error("save swarm: the definition has no name");
    SqlTransaction tx(project.handle());
    SqlStatement st(project.handle(),
                    "INSERT INTO swarms (name, definition) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET "
                    "definition = excluded.definition, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')");
    st.bind(1, def.name).bind(2, def.toJson().dump());
    st.run();
    tx.commit();
}

std::vector<std::string> listSwarms(ProjectStore& project) {
    std::vector<std::string> out;
    SqlStatement st(project.handle(), "SELECT name FROM swarms ORDER BY name");
    while (st.step()) out.push_back(st.columnText(0));
    return out;
}

SwarmDefinition loadSwarm(ProjectStore& project, const std::string& name) {
    SqlStatement st(project.handle(), "SELECT definition FROM swarms WHERE name = ?1");
    st.bind(1, name);
    if (!st.step()) {
        std::string known;
        for (const std::string& n : listSwarms(project)) known += (known.empty() ? "" : ", ") + n;
        throw Error(project.path() + ": no swarm '" + name + "' (saved: " + (known.empty() ? "none" : known) + ")");
    }
    const nlohmann::json j = nlohmann::json::parse(st.columnText(0), nullptr, false);
    const std::string where = project.path() + ": swarm '" + name + "'";
    if (j.is_discarded()) throw Error(where + ": the stored definition is not valid JSON");
    return SwarmDefinition::fromJson(j, "", where);
}

bool deleteSwarm(ProjectStore& project, const std::string& name) {
    SqlStatement st(project.handle(), "DELETE FROM swarms WHERE name = ?1");
    st.bind(1, name);
    st.run();
    return sqlite3_changes(project.handle()) > 0;
}

SwarmDefinition loadSwarmFrom(const std::string& fileOrName, const std::string& projectPath) {
    if (projectPath.empty()) return SwarmDefinition::load(fileOrName);
    registerSwarmSchema();
    ProjectStore project = ProjectStore::open(projectPath);
    return loadSwarm(project, fileOrName);
}

} // namespace swarm
