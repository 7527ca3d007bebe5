#include "app/serve_command.h"

#include "app/cli_args.h"

#include "serve/request_log.h"
#include "serve/server.h"
#include "serve/swarm_store.h"

#include "core/error.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <thread>

namespace swarm::cli {

namespace {

const std::set<std::string> kValueOptions = {"port", "host", "max-queue", "max-body", "max-tokens", "workers", "threads",
                                             "idle-timeout", "read-timeout", "deadline", "project", "api-key-file",
                                             "max-concurrent-per-key", "request-log", "config"};
const std::set<std::string> kFlags = {"insecure-no-auth"};

std::string help(const std::string& program) {
    const std::string pad(program.size(), ' ');
    return "usage: " + program + " SWARM.json [--port N] [--host 127.0.0.1] [--api-key-file F] [--insecure-no-auth]\n" +
           "       " + pad + "            [--max-queue N] [--max-body BYTES] [--max-tokens N] [--workers N] [--threads N]\n" +
           "       " + pad + "            [--idle-timeout S] [--read-timeout S] [--deadline S] [--max-concurrent-per-key N]\n" +
           "       " + pad + "            [--request-log -|off|FILE] [--project P] [--config FILE]\n" +
           "\n"
           "Serves the swarm SWARM.json over HTTP, OpenAI-compatible:\n"
           "  POST /v1/completions, /v1/chat/completions   \"model\": \"swarm\" (routed by the router) or a\n"
           "                                               specialist label; \"stream\": true for server-sent events\n"
           "  GET  /v1/models, /metrics (Prometheus), /health (readiness), /health/live (liveness)\n"
           "  --port N          port (default 8080; 0: any free port, printed)\n"
           "  --host H          address to bind (default 127.0.0.1: this machine only)\n"
           "  --api-key-file F  keys clients must send as 'Authorization: Bearer KEY', one per line: KEY [NAME]\n"
           "                    (the name goes into logs and metrics); every route but /health needs one\n"
           "  --insecure-no-auth  allow a non-loopback --host without --api-key-file (anyone who can reach it)\n"
           "  --max-queue N     requests waiting for a worker before answering 503 (default 16)\n"
           "  --max-body BYTES  largest request body; larger ones get 413 (default 1048576)\n"
           "  --max-tokens N    cap on every request's max_tokens (default: each specialist's max_tokens)\n"
           "  --workers N       requests generating at once (default 8); those answered by the same specialist\n"
           "                    decode together, one forward pass per token for all of them\n"
           "  --idle-timeout S  close connections that send nothing for S seconds (default 5)\n"
           "  --read-timeout S  a request must arrive whole within S seconds of its first byte (default 10)\n"
           "  --deadline S      a request's whole time, queue included: 503 if still waiting, 504 if still\n"
           "                    generating (default 0: none)\n"
           "  --max-concurrent-per-key N  requests in flight per API key; more get 429 (default 0: no limit)\n"
           "  --request-log L   one JSON line per request: - (standard output, default), off, or a FILE to append to\n"
           "  --threads N       engine threads per model (default: the definition's, 0 = all cores)\n"
           "  --project P       SWARM is the name of a swarm saved in project P (swarm swarm save)\n"
           "  --config FILE     settings, one per line: NAME = VALUE (the options without --; 'swarm' for SWARM;\n"
           "                    flags take true or false); options on the command line win\n"
           "The router is loaded at start, specialists on first use (within memory_budget_mb).\n"
           "SIGTERM or Ctrl-C stops accepting connections and exits once the requests in flight are answered.\n"
           "SIGHUP reloads SWARM (and the key file): the new specialists load before the old ones are dropped;\n"
           "requests in flight finish on the swarm they started with; on an error the old swarm stays.\n";
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The config file as arguments: "NAME = VALUE" becomes --NAME=VALUE (or the positional for
// "swarm"; --NAME for a flag set to true), in the file's order.
Argv configArguments(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot read the config file");
    Argv out;
    std::map<std::string, int> seen;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string text = trim(line);
        if (text.empty() || text[0] == '#') continue;
        const std::string at = path + ":" + std::to_string(number) + ": ";
        const size_t eq = text.find('=');
        if (eq == std::string::npos) throw Error(at + "expected NAME = VALUE, got '" + text + "'");
        const std::string name = trim(text.substr(0, eq)), value = trim(text.substr(eq + 1));
        if (auto it = seen.find(name); it != seen.end())
            throw Error(at + "'" + name + "' is also set on line " + std::to_string(it->second));
        seen[name] = number;
        if (name == "config") throw Error(at + "a config file cannot name another config file");
        if (name == "swarm") {
            if (value.empty()) throw Error(at + "'swarm' needs a value (the swarm definition)");
            out.push_back(value);
        } else if (kFlags.count(name)) {
            if (value == "true") out.push_back("--" + name);
            else if (value != "false") throw Error(at + "'" + name + "' takes true or false, got '" + value + "'");
        } else if (kValueOptions.count(name)) {
            out.push_back("--" + name + "=" + value);
        } else {
            throw Error(at + "unknown setting '" + name + "' (settings are the options of --help without --, and 'swarm')");
        }
    }
    return out;
}

struct ServeSettings {
    std::string swarm, project, apiKeyFile, requestLog = "-";
    bool insecureNoAuth = false;
    int threads = -1;                 // -1: the definition's
    ServerOptions server;
};

// Every option, checked and named in errors; the positional SWARM is checked by the caller.
ServeSettings readSettings(const Args& args) {
    ServeSettings s;
    s.project = args.value("project");
    if (args.has("threads")) s.threads = int(args.integer("threads", 0, 0, 4096));
    ServerOptions& o = s.server;
    o.host = args.value("host", "127.0.0.1");
    if (o.host.empty()) throw Error("option --host needs an address");
    o.port = int(args.integer("port", 8080, 0, 65535));
    o.maxQueue = int(args.integer("max-queue", 16, 0, 100000));
    o.maxBodyBytes = size_t(args.integer("max-body", 1 << 20, 64, 1LL << 32));
    o.maxTokensCap = int(args.integer("max-tokens", 0, 1, 1 << 20));
    o.workers = int(args.integer("workers", 8, 1, 1024));
    o.idleTimeoutSeconds = int(args.integer("idle-timeout", 5, 1, 3600));
    o.requestReadSeconds = int(args.integer("read-timeout", 10, 1, 3600));
    o.deadlineSeconds = args.number("deadline", 0, 0, 86400);
    o.maxConcurrentPerKey = int(args.integer("max-concurrent-per-key", 0, 1, 100000));
    s.apiKeyFile = args.value("api-key-file");
    if (args.has("api-key-file") && s.apiKeyFile.empty()) throw Error("option --api-key-file needs a file");
    s.requestLog = args.value("request-log", "-");
    if (s.requestLog.empty()) throw Error("option --request-log needs -, off or a file");
    s.insecureNoAuth = args.flag("insecure-no-auth");
    if (s.insecureNoAuth && !s.apiKeyFile.empty())
        throw Error("--insecure-no-auth and --api-key-file contradict each other: give one");
    if (o.maxConcurrentPerKey > 0 && s.apiKeyFile.empty())
        throw Error("option --max-concurrent-per-key needs --api-key-file (it limits each key)");
    if (s.apiKeyFile.empty() && !s.insecureNoAuth && !isLoopbackHost(o.host))
        throw Error("refusing to serve " + o.host + " without API keys: anyone who reaches it could use the swarm. "
                    "Give --api-key-file FILE, or --insecure-no-auth to accept that");
    return s;
}

// The arguments: a config file's first, then the command line's (later values win).
Args parseArguments(const Argv& argv) {
    const Args commandLine(argv, kValueOptions, kFlags);
    if (!commandLine.has("config")) return commandLine;
    const std::string path = commandLine.value("config");
    if (path.empty()) throw Error("option --config needs a file");
    Argv merged = configArguments(path);
    const Args fromFile(merged, kValueOptions, kFlags);
    try {
        readSettings(fromFile);
    } catch (const Error& e) {
        // A bad value ("option --NAME ...") is reported against the file it is in, unless the
        // command line replaces it; checks across options wait for the merged settings.
        const std::string what = e.what();
        if (what.rfind("option --", 0) == 0) {
            const std::string name = what.substr(9, what.find(' ', 9) - 9);
            if (!commandLine.has(name)) throw Error(path + ": " + what);
        }
    }
    if (!commandLine.positionals().empty())   // a SWARM on the command line replaces the file's
        merged.erase(std::remove_if(merged.begin(), merged.end(), [](const std::string& a) { return a.rfind("--", 0) != 0; }),
                     merged.end());
    merged.insert(merged.end(), argv.begin(), argv.end());
    return Args(merged, kValueOptions, kFlags);
}

// Where request log lines go: standard output, nowhere, or a file (reopened on SIGHUP, for logrotate).
class RequestLogSink {
public:
    explicit RequestLogSink(std::string target) : target_(std::move(target)) { reopen(); }
    // A file that cannot be opened leaves the one open before in use.
    void reopen() {
        if (target_ == "-" || target_ == "off") return;
        std::ofstream next(target_, std::ios::app);
        if (!next) throw Error("--request-log " + target_ + ": cannot open the file to append to");
        std::lock_guard<std::mutex> lock(mutex_);
        file_ = std::move(next);
    }
    bool enabled() const { return target_ != "off"; }
    void write(const std::string& line) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::ostream& out = target_ == "-" ? std::cout : file_;
        out << line << '\n';
        out.flush();
    }

private:
    const std::string target_;
    std::mutex mutex_;
    std::ofstream file_;
};

std::shared_ptr<const ApiKeys> loadKeys(const std::string& path, const std::string& program) {
    auto keys = std::make_shared<const ApiKeys>(ApiKeys::load(path));
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
        std::cerr << program << ": warning: " << path << " is readable by every user (chmod 640 it)\n";
    return keys;
}

SwarmDefinition loadDefinition(const ServeSettings& s) {
    SwarmDefinition def = loadSwarmFrom(s.swarm, s.project);
    if (s.threads >= 0) def.threads = s.threads;
    return def;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// SIGHUP: the new swarm (router, then the specialists the old one has loaded) and keys are ready
// before anything is replaced; a failure leaves the server as it was.
void reload(SwarmServer& server, const ServeSettings& s, RequestLogSink& log, const std::string& program) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
        log.reopen();
        auto next = std::make_shared<Swarm>(loadDefinition(s));
        const std::vector<std::string> warmed = next->warmFrom(*server.swarm());
        std::shared_ptr<const ApiKeys> keys;
        if (!s.apiKeyFile.empty()) keys = loadKeys(s.apiKeyFile, program);
        server.replaceSwarm(next);
        if (keys) server.replaceApiKeys(keys);
        server.countReload(true);
        std::string list;
        for (const std::string& l : warmed) list += (list.empty() ? "" : ", ") + l;
        std::cout << program << ": SIGHUP: reloaded '" << next->definition().name << "' ("
                  << next->definition().specialists.size() << " specialists, " << warmed.size() << " loaded"
                  << (list.empty() ? "" : ": " + list) << (keys ? ", " + std::to_string(keys->size()) + " API keys" : "")
                  << ") in " << secondsSince(t0) << " s" << std::endl;
    } catch (const std::exception& e) {
        server.countReload(false);
        std::cout << program << ": SIGHUP: reload failed, still serving the previous swarm: " << e.what() << std::endl;
    }
}

std::atomic<int> gStopSignal{0};
std::atomic<bool> gReloadSignal{false};
void onStopSignal(int sig) { gStopSignal.store(sig); }
void onReloadSignal(int) { gReloadSignal.store(true); }

// Signals set flags (threads LibTorch starts before main would not inherit a blocked mask, so no
// sigwait in `swarm serve`); this thread acts on them: stop the server, or reload.
class SignalWatcher {
public:
    SignalWatcher(SwarmServer& server, const ServeSettings& settings, RequestLogSink& log, std::string program)
        : server_(server), settings_(settings), log_(log), program_(std::move(program)) {
        gStopSignal.store(0);
        gReloadSignal.store(false);
        struct sigaction stop {}, hup {};
        stop.sa_handler = onStopSignal;
        sigemptyset(&stop.sa_mask);
        hup.sa_handler = onReloadSignal;
        sigemptyset(&hup.sa_mask);
        ::sigaction(SIGTERM, &stop, &oldTerm_);
        ::sigaction(SIGINT, &stop, &oldInt_);
        ::sigaction(SIGHUP, &hup, &oldHup_);
        thread_ = std::thread([this] { watch(); });
    }
    ~SignalWatcher() {
        done_.store(true);
        thread_.join();
        ::sigaction(SIGTERM, &oldTerm_, nullptr);
        ::sigaction(SIGINT, &oldInt_, nullptr);
        ::sigaction(SIGHUP, &oldHup_, nullptr);
    }

private:
    void watch() {
        bool stopping = false, stopped = false;
        while (!done_.load()) {
            if (const int sig = gStopSignal.exchange(0)) {
                std::cout << program_ << ": " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                          << ": finishing requests in flight" << std::endl;
                stopping = true;
            }
            if (!stopping && gReloadSignal.exchange(false)) reload(server_, settings_, log_, program_);
            // Once the accept loop runs (a stop before it starts would be lost).
            if (stopping && !stopped && server_.running()) {
                server_.stop();
                stopped = true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    SwarmServer& server_;
    const ServeSettings& settings_;
    RequestLogSink& log_;
    const std::string program_;
    std::atomic<bool> done_{false};
    struct sigaction oldTerm_ {}, oldInt_ {}, oldHup_ {};
    std::thread thread_;
};

std::string urlHost(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

} // namespace

int runServeCommand(const Argv& argv, const std::string& program) {
    const Args args = parseArguments(argv);
    if (args.help()) {
        std::cout << help(program);
        return 0;
    }
    if (args.positionals().size() != 1)
        throw Error(args.positionals().empty() ? "expected a SWARM.json (see --help)"
                                               : "unexpected argument '" + args.positionals()[1] + "'");
    ServeSettings settings = readSettings(args);
    settings.swarm = args.positionals()[0];
    RequestLogSink log(settings.requestLog);
    if (log.enabled()) settings.server.requestLog = [&log](const std::string& line) { log.write(line); };
    if (!settings.apiKeyFile.empty()) settings.server.apiKeys = loadKeys(settings.apiKeyFile, program);

    const auto t0 = std::chrono::steady_clock::now();
    const SwarmDefinition def = loadDefinition(settings);
    SwarmServer server(std::make_shared<Swarm>(def), settings.server);
    const int port = server.bind();
    const double loadS = secondsSince(t0);
    SignalWatcher watcher(server, settings, log, program);
    std::cout << program << ": '" << def.name << "' (" << def.specialists.size() << " specialists"
              << (def.fallback ? " + fallback" : "") << ") listening on http://" << urlHost(settings.server.host) << ":"
              << port << " (router loaded in " << loadS << " s"
              << (settings.server.apiKeys ? ", " + std::to_string(settings.server.apiKeys->size()) + " API keys"
                                          : ", no authentication")
              << ")" << std::endl;
    server.run();
    std::cout << program << ": stopped after " << server.served() << " requests (" << server.rejected()
              << " refused with 503)" << std::endl;
    return 0;
}

} // namespace swarm::cli
