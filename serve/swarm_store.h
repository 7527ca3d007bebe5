#pragma once
// Swarm definitions saved in the project (module "swarm" of the project schema): one row per
// swarm name holding its definition as JSON, model paths absolute.
#include "serve/swarm.h"

#include "core/project_store.h"

#include <optional>
#include <string>
#include <vector>

namespace swarm {

// Registers the "swarm" schema migrations; call before opening projects (idempotent).
void registerSwarmSchema();

// Inserts or replaces the swarm named def.name.
void saveSwarm(ProjectStore& project, const SwarmDefinition& def);
// Throws swarm::Error naming the project and listing the saved swarms when there is none.
SwarmDefinition loadSwarm(ProjectStore& project, const std::string& name);
std::vector<std::string> listSwarms(ProjectStore& project);
bool deleteSwarm(ProjectStore& project, const std::string& name);   // false when there was none

// The CLI's SWARM argument: a JSON file, or with a project path the name of a swarm saved in it.
SwarmDefinition loadSwarmFrom(const std::string& fileOrName, const std::string& projectPath);

} // namespace swarm
