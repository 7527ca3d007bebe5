// `swarm-serve`: the swarm server alone, for deployment. The engine, the swarm, cpp-httplib,
// nlohmann_json and SQLite: no LibTorch, no Qt (see "Deploying a swarm" in README.md). The same
// command as `swarm serve` (app/serve_command.cpp).
#include "app/project_schemas.h"
#include "app/serve_command.h"

#include "core/error.h"
#include "core/resources.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <new>

namespace {

// The package installs the bundled tokenizer (for models that carry none) under
// <prefix>/share/swarm-serve, apart from the workbench's share/swarm-workbench: point the
// resource lookup there unless the user chose a folder.
void useOwnResources() {
    if (std::getenv("SWARM_RESOURCES_DIR")) return;
    const std::filesystem::path own = std::filesystem::path(swarm::executableDir()) / ".." / "share" / "swarm-serve";
    std::error_code ec;
    if (std::filesystem::exists(own / "tokenizer" / "vocab.json", ec))
        setenv("SWARM_RESOURCES_DIR", own.lexically_normal().c_str(), 1);
}

} // namespace

int main(int argc, char** argv) {
    useOwnResources();
    swarm::registerProjectSchemas();
    const swarm::cli::Argv args(argv + 1, argv + argc);
    try {
        if (args.size() == 1 && args[0] == "--version") {
            std::cout << "swarm-serve " SWARM_VERSION "\n";
            return 0;
        }
        return swarm::cli::runServeCommand(args, "swarm-serve");
    } catch (const std::bad_alloc&) {
        std::cerr << "swarm-serve: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "swarm-serve: " << e.what() << "\n";
        return 1;
    }
}
