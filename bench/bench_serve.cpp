// swarm-serve under load, from a separate process: starts the server (the built torch-free
// `swarm-serve`) on a free loopback port with API keys on, then runs one bounded phase per client
// count (default 8 and 64 clients, each sending its share of --requests completions over
// keep-alive connections) and prints requests/s, generated tokens/s and the p50/p99 latency of
// each. Then it checks what a deployment needs:
//   - no request lost: every request answered 200 or 503 (503s are the bounded queue
//     protecting the server; anything else, or no answer, fails the run),
//   - one request log line per request sent,
//   - memory flat: the server's resident memory at the end within 10% + 4 MiB of its value after
//     a warm-up at the highest client count (sampled every 50 ms; the maximum is printed too),
//   - a clean exit (0) on SIGTERM.
//
//   bench_serve [--swarm SWARM.json] [--requests 256] [--clients 8,64] [--max-tokens 16]
//               [--model swarm|LABEL] [--stream] [--max-queue 64] [--workers 8] [--dir DIR]
//
// Without --swarm it writes a demo swarm to DIR (default: a temporary folder): a router and three
// specialists, small random Eve models (2 layers, 64 wide, full GPT-2 vocabulary), so that the
// figures measure the server and the engine's fixed costs rather than a trained model.
#include "core/error.h"
#include "core/hf_folder.h"
#include "core/model_config.h"
#include "core/tokenizer.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kKey = "sk-bench-0123456789abcdef0123456789";

void writeRandomModel(const std::string& dir, uint64_t seed) {
    swarm::ModelConfig c = swarm::ModelConfig::preset("tiny");
    c.n_layer = 2;
    c.n_embd = 64;
    c.n_head = 4;
    c.head_dim = 16;
    c.num_experts = 4;
    c.top_k = 2;
    c.expert_intermediate_size = 96;
    c.shared_expert_intermediate_size = 64;
    c.block_size = 256;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<swarm::TensorData> tensors;
    for (const swarm::ExpectedTensor& t : swarm::expectedTensors(c)) {
        size_t n = 1;
        for (int64_t d : t.shape) n *= size_t(d);
        std::vector<float> v(n);
        for (float& x : v) x = t.shape.size() == 1 ? 1.0f : normal(rng);
        swarm::TensorData d;
        d.name = t.name;
        d.dtype = swarm::DType::F32;
        d.shape = t.shape;
        d.bytes.resize(n * 4);
        std::memcpy(d.bytes.data(), v.data(), d.bytes.size());
        tensors.push_back(std::move(d));
    }
    const swarm::Gpt2Tokenizer tok = swarm::Gpt2Tokenizer::bundled();
    swarm::saveHfModel(dir, c, tensors, &tok);
}

std::string writeDemoSwarm(const std::string& dir, int maxTokens) {
    fs::create_directories(dir);
    json j;
    j["name"] = "bench";
    writeRandomModel(dir + "/router", 1);
    j["router"] = {{"model", "router"}, {"prompt", "Route: {input}\nLabel:"}};
    j["specialists"] = json::object();
    const char* labels[] = {"sql", "intent", "pii"};
    for (int i = 0; i < 3; ++i) {
        writeRandomModel(dir + "/" + labels[i], uint64_t(10 + i));
        j["specialists"][labels[i]] = {{"model", labels[i]}, {"max_tokens", maxTokens}};
    }
    const std::string path = dir + "/swarm.json";
    std::ofstream(path) << j.dump(2);
    return path;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, size_t(p / 100.0 * double(v.size() - 1) + 0.5));
    return v[i];
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == "--" + name) return argv[i + 1];
    return fallback;
}
bool flag(int argc, char** argv, const std::string& name) {
    for (int i = 1; i < argc; ++i)
        if (argv[i] == "--" + name) return true;
    return false;
}
int intArg(int argc, char** argv, const std::string& name, int fallback, int min) {
    const std::string v = arg(argc, argv, name, std::to_string(fallback));
    size_t used = 0;
    int n = 0;
    try {
        n = std::stoi(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != v.size() || n < min) throw swarm::Error("--" + name + ": expected an integer >= " + std::to_string(min) + ", got '" + v + "'");
    return n;
}

// The server process: its first line names the port; the rest of its output is passed through.
class ServerProcess {
public:
    explicit ServerProcess(const std::vector<std::string>& argv) {
        int out[2];
        if (::pipe(out) != 0) throw swarm::Error("pipe failed");
        pid_ = ::fork();
        if (pid_ < 0) throw swarm::Error("fork failed");
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            ::close(out[0]);
            ::close(out[1]);
            std::vector<char*> args;
            for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            std::perror("exec swarm-serve");
            ::_exit(127);
        }
        ::close(out[1]);
        output_ = ::fdopen(out[0], "r");
        char line[1024];
        if (std::fgets(line, sizeof line, output_)) {
            std::cout << line;
            if (const char* p = std::strstr(line, "127.0.0.1:")) port_ = std::atoi(p + 10);
        }
        if (port_ <= 0) {
            stop();
            throw swarm::Error("the server did not start (see its output above)");
        }
        drain_ = std::thread([this] {
            char l[1024];
            while (std::fgets(l, sizeof l, output_)) std::cout << l;
        });
    }
    ~ServerProcess() {
        if (pid_ > 0) stop();
    }
    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    // SIGTERM, then the exit status: true for a clean exit (0).
    bool stop() {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        if (drain_.joinable()) drain_.join();
        if (output_) std::fclose(output_);
        output_ = nullptr;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }

private:
    pid_t pid_ = -1;
    int port_ = 0;
    FILE* output_ = nullptr;
    std::thread drain_;
};

long long residentBytes(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
    return 0;
}

// The server's resident memory, sampled every 50 ms while it lives.
class RssSampler {
public:
    explicit RssSampler(pid_t pid) : pid_(pid), thread_([this] {
        while (!stop_) {
            max_ = std::max(max_.load(), residentBytes(pid_));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }) {}
    ~RssSampler() {
        stop_ = true;
        thread_.join();
    }
    long long now() const { return residentBytes(pid_); }
    long long max() const { return max_.load(); }

private:
    const pid_t pid_;
    std::atomic<bool> stop_{false};
    std::atomic<long long> max_{0};
    std::thread thread_;
};

struct Phase {
    int clients = 0, answered = 0, refused = 0, lost = 0;
    long long tokens = 0;
    double seconds = 0;
    std::vector<double> latencies;
    std::string firstLost;
};

// `requests` completions from `clients` threads, each on its own keep-alive connection.
Phase runPhase(int port, int clients, int requests, const std::string& model, int maxTokens, bool stream) {
    const char* inputs[] = {"How many orders were shipped to Paris last week?",
                            "Mask the personal data: call John Smith at 555-0100",
                            "I was charged twice for my subscription", "hello"};
    Phase p;
    p.clients = clients;
    std::atomic<int> next{0}, answered{0}, refused{0}, lost{0};
    std::atomic<long long> tokens{0};
    std::mutex mutex;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&] {
            httplib::Client cli("127.0.0.1", port);
            cli.set_keep_alive(true);
            cli.set_read_timeout(300, 0);
            cli.set_bearer_token_auth(kKey);
            std::vector<double> mine;
            for (int i; (i = next++) < requests;) {
                const json req{{"model", model}, {"prompt", inputs[i % 4]}, {"max_tokens", maxTokens}, {"stream", stream}};
                const auto s = std::chrono::steady_clock::now();
                auto r = cli.Post("/v1/completions", req.dump(), "application/json");
                const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
                if (r && r->status == 503) {
                    ++refused;
                    continue;
                }
                if (!r || r->status != 200) {
                    ++lost;
                    std::lock_guard<std::mutex> l(mutex);
                    if (p.firstLost.empty()) p.firstLost = r ? "HTTP " + std::to_string(r->status) + ": " + r->body : httplib::to_string(r.error());
                    continue;
                }
                ++answered;
                mine.push_back(ms);
                // Streamed: the last chunk (before [DONE]) carries the usage.
                const size_t at = stream ? r->body.rfind("data: {") : std::string::npos;
                const json body = !stream ? json::parse(r->body)
                                          : json::parse(r->body.substr(at + 6, r->body.find("\n\n", at) - at - 6));
                tokens += body["usage"]["completion_tokens"].get<long long>();
            }
            std::lock_guard<std::mutex> l(mutex);
            p.latencies.insert(p.latencies.end(), mine.begin(), mine.end());
        });
    for (std::thread& t : threads) t.join();
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    p.answered = answered;
    p.refused = refused;
    p.lost = lost;
    p.tokens = tokens;
    return p;
}

std::vector<int> clientCounts(const std::string& list) {
    std::vector<int> out;
    std::stringstream ss(list);
    for (std::string item; std::getline(ss, item, ',');) {
        const int n = std::atoi(item.c_str());
        if (n < 1 || n > 1024) throw swarm::Error("--clients: expected counts between 1 and 1024, got '" + item + "'");
        out.push_back(n);
    }
    if (out.empty()) throw swarm::Error("--clients: expected a list such as 8,64");
    return out;
}

std::string mib(long long bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1 << 20));
    return buf;
}

} // namespace

int main(int argc, char** argv) {
    try {
        const int requests = intArg(argc, argv, "requests", 256, 1);
        const int maxTokens = intArg(argc, argv, "max-tokens", 16, 1);
        const std::vector<int> clients = clientCounts(arg(argc, argv, "clients", "8,64"));
        const std::string model = arg(argc, argv, "model", "swarm");
        const bool stream = flag(argc, argv, "stream");
        std::string dir = arg(argc, argv, "dir", "");
        if (dir.empty()) dir = (fs::temp_directory_path() / ("bench_serve_" + std::to_string(::getpid()))).string();
        fs::create_directories(dir);
        std::string swarmJson = arg(argc, argv, "swarm", "");
        if (swarmJson.empty()) {
            swarmJson = writeDemoSwarm(dir, maxTokens);
            std::cout << "demo swarm: " << swarmJson << "\n";
        }
        std::ofstream(dir + "/keys") << kKey << " bench\n";
        const std::string log = dir + "/requests.log";
        fs::remove(log);
        ServerProcess server({SWARM_SERVE_BIN, swarmJson, "--port", "0", "--api-key-file", dir + "/keys", "--request-log", log,
                              "--max-queue", arg(argc, argv, "max-queue", "64"), "--workers", arg(argc, argv, "workers", "8")});
        RssSampler rss(server.pid());

        // Untimed: the specialists load lazily, and the widest phase's threads and buffers come
        // into use, so that what follows measures a warm server.
        const int widest = *std::max_element(clients.begin(), clients.end());
        const Phase warm = runPhase(server.port(), widest, 4 * widest, model, maxTokens, stream);
        long long sent = warm.answered + warm.refused + warm.lost;
        bool ok = warm.lost == 0;
        const long long rssStart = rss.now();
        std::printf("warm-up: %d clients, %d answered, %d refused with 503, %d lost%s%s; server memory %s\n", warm.clients,
                    warm.answered, warm.refused, warm.lost, warm.firstLost.empty() ? "" : ": ", warm.firstLost.c_str(),
                    mib(rssStart).c_str());
        std::printf("| clients | requests | 200 | 503 | lost | requests/s | tokens/s | p50 ms | p99 ms | server memory after |\n"
                    "|---|---|---|---|---|---|---|---|---|---|\n");
        for (int n : clients) {
            const Phase p = runPhase(server.port(), n, requests, model, maxTokens, stream);
            sent += p.answered + p.refused + p.lost;
            ok = ok && p.lost == 0;
            std::printf("| %d | %d | %d | %d | %d | %.1f | %.0f | %.1f | %.1f | %s |\n", n, requests, p.answered, p.refused,
                        p.lost, double(p.answered) / p.seconds, double(p.tokens) / p.seconds, percentile(p.latencies, 50),
                        percentile(p.latencies, 99), mib(rss.now()).c_str());
            if (!p.firstLost.empty()) std::printf("  first lost request: %s\n", p.firstLost.c_str());
        }
        const long long rssEnd = rss.now();
        const bool flat = rssEnd <= rssStart + rssStart / 10 + (4LL << 20);
        std::printf("server memory: %s after warm-up, %s at the end, %s at most: %s\n", mib(rssStart).c_str(),
                    mib(rssEnd).c_str(), mib(rss.max()).c_str(), flat ? "flat" : "GROWING");
        const bool clean = server.stop();
        long long logged = 0;
        std::ifstream in(log);
        for (std::string line; std::getline(in, line);) ++logged;
        std::printf("request log: %lld lines for %lld requests sent\n", logged, sent);
        std::printf("server exit after SIGTERM: %s\n", clean ? "clean (0)" : "NOT clean");
        const bool pass = ok && flat && clean && logged == sent;
        std::printf("%s\n", pass ? "PASS: no request lost, memory flat" : "FAIL");
        return pass ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "bench_serve: " << e.what() << "\n";
        return 1;
    }
}
