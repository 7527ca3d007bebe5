// `swarm serve`: the swarm server inside the `swarm` CLI. The same command as the torch-free
// `swarm-serve` binary (app/serve_main.cpp): both run app/serve_command.cpp.
#include "app/commands.h"
#include "app/serve_command.h"

namespace swarm::cli {

int runServe(const Argv& argv) { return runServeCommand(argv, "swarm serve"); }

} // namespace swarm::cli
