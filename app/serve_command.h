#pragma once
// The swarm server's command line, shared by `swarm serve` (app/cmd_serve.cpp, in the LibTorch
// CLI) and the torch-free deployment binary `swarm-serve` (app/serve_main.cpp): options or a
// config file, API keys, the request log, signals (SIGTERM/SIGINT stop gracefully, SIGHUP
// reloads the swarm definition and the keys) and the serving loop.
#include "app/commands.h"

#include <string>

namespace swarm::cli {

// program: "swarm serve" or "swarm-serve", used in --help and in every message. Returns the exit
// code; a bad option, definition, key file or config throws swarm::Error naming it.
int runServeCommand(const Argv& args, const std::string& program);

} // namespace swarm::cli
