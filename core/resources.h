#pragma once
#include <string>

namespace swarm {

// Finds a bundled resource (e.g. "tokenizer/vocab.json"): $SWARM_RESOURCES_DIR, then
// <exe>/../share/swarm-workbench, then the source tree's resources/ (for builds run in place).
// Returns an empty string when it is nowhere.
std::string findResource(const std::string& relativePath);

// The folder of the running executable ("/proc/self/exe"'s parent).
std::string executableDir();

} // namespace swarm
