#include "core/resources.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;

namespace swarm {

std::string executableDir() {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : exe.parent_path().string();
}

std::string findResource(const std::string& relativePath) {
    std::vector<fs::path> roots;
    if (const char* env = std::getenv("SWARM_RESOURCES_DIR"); env && *env) roots.emplace_back(env);
    std::string exeDir = executableDir();
    if (!exeDir.empty()) roots.push_back(fs::path(exeDir) / ".." / "share" / "swarm-workbench");
#ifdef SWARM_SOURCE_RESOURCES_DIR
    roots.emplace_back(SWARM_SOURCE_RESOURCES_DIR);
#endif
    for (const fs::path& root : roots) {
        std::error_code ec;
        fs::path candidate = root / relativePath;
        if (fs::exists(candidate, ec)) return fs::weakly_canonical(candidate, ec).string();
    }
    return {};
}

} // namespace swarm
