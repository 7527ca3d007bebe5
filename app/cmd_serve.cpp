// `swarm serve`: an OpenAI-compatible HTTP server over a swarm definition (serve/server.h).
#include "app/cli_args.h"
#include "app/commands.h"

#include "serve/server.h"
#include "serve/swarm_store.h"

#include "core/error.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>
#include <thread>

namespace swarm::cli {

namespace {

const char* kServeHelp =
    "usage: swarm serve SWARM.json [--port N] [--host 127.0.0.1] [--max-queue N] [--max-body BYTES]\n"
    "                   [--max-tokens N] [--workers N] [--threads N] [--idle-timeout S] [--project P]\n"
    "\n"
    "Serves the swarm SWARM.json over HTTP, OpenAI-compatible:\n"
    "  POST /v1/completions, /v1/chat/completions   \"model\": \"swarm\" (routed by the router) or a\n"
    "                                               specialist label; \"stream\": true for server-sent events\n"
    "  GET  /v1/models, /health\n"
    "  --port N          port (default 8080; 0: any free port, printed)\n"
    "  --host H          address to bind (default 127.0.0.1: this machine only)\n"
    "  --max-queue N     requests waiting for a worker before answering 503 (default 16)\n"
    "  --max-body BYTES  largest request body; larger ones get 413 (default 1048576)\n"
    "  --max-tokens N    cap on every request's max_tokens (default: each specialist's max_tokens)\n"
    "  --workers N       requests generating at once (default 8); those answered by the same specialist\n"
    "                    decode together, one forward pass per token for all of them\n"
    "  --idle-timeout S  close connections that send nothing for S seconds (default 5)\n"
    "  --threads N       engine threads per model (default: the definition's, 0 = all cores)\n"
    "  --project P       SWARM is the name of a swarm saved in project P (swarm swarm save)\n"
    "The router is loaded at start, specialists on first use (within memory_budget_mb).\n"
    "SIGTERM or Ctrl-C stops accepting connections and exits once the requests in flight are answered.\n";

std::atomic<int> gStopSignal{0};
void onStopSignal(int sig) { gStopSignal.store(sig); }

} // namespace

int runServe(const Argv& argv) {
    Args args(argv, {"port", "host", "max-queue", "max-body", "max-tokens", "workers", "threads", "idle-timeout", "project"}, {});
    if (args.help()) {
        std::cout << kServeHelp;
        return 0;
    }
    if (args.positionals().size() != 1)
        throw Error(args.positionals().empty() ? "serve: expected a SWARM.json (see --help)"
                                               : "serve: unexpected argument '" + args.positionals()[1] + "'");
    SwarmDefinition def = loadSwarmFrom(args.positionals()[0], args.value("project"));
    if (args.has("threads")) def.threads = int(args.integer("threads", 0, 0, 4096));
    ServerOptions o;
    o.host = args.value("host", "127.0.0.1");
    o.port = int(args.integer("port", 8080, 0, 65535));
    o.maxQueue = int(args.integer("max-queue", 16, 0, 100000));
    o.maxBodyBytes = size_t(args.integer("max-body", 1 << 20, 64, 1LL << 32));
    o.maxTokensCap = int(args.integer("max-tokens", 0, 1, 1 << 20));
    o.workers = int(args.integer("workers", 8, 1, 1024));
    o.idleTimeoutSeconds = int(args.integer("idle-timeout", 5, 1, 3600));

    const auto t0 = std::chrono::steady_clock::now();
    Swarm swarm(def);
    SwarmServer server(swarm, o);
    const int port = server.bind();
    const double loadS = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // SIGTERM / SIGINT set a flag (threads LibTorch starts before main would not inherit a
    // blocked mask, so no sigwait); a watcher thread sees it and stops the server.
    gStopSignal.store(0);
    struct sigaction sa {}, oldTerm {}, oldInt {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, &oldTerm);
    ::sigaction(SIGINT, &sa, &oldInt);
    std::atomic<bool> done{false};
    bool stopping = false, stopped = false;
    std::thread watcher([&] {
        while (!done.load()) {
            if (const int sig = gStopSignal.exchange(0)) {
                std::cout << "swarm serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                          << ": finishing requests in flight" << std::endl;
                stopping = true;
            }
            // Once the accept loop runs (a stop before it starts would be lost).
            if (stopping && !stopped && server.running()) {
                server.stop();
                stopped = true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    std::cout << "swarm serve: '" << def.name << "' (" << def.specialists.size() << " specialists"
              << (def.fallback ? " + fallback" : "") << ") listening on http://" << o.host << ":" << port
              << " (router loaded in " << loadS << " s)" << std::endl;

    server.run();
    done.store(true);
    watcher.join();
    ::sigaction(SIGTERM, &oldTerm, nullptr);
    ::sigaction(SIGINT, &oldInt, nullptr);
    std::cout << "swarm serve: stopped after " << server.served() << " requests (" << server.rejected()
              << " refused with 503)" << std::endl;
    return 0;
}

} // namespace swarm::cli
