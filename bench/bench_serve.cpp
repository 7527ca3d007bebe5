// `swarm serve` under load, from a separate process: starts the server (the built `swarm` binary)
// on a free loopback port, sends concurrent completion requests with httplib clients, and prints
// throughput (requests/s, generated tokens/s) and the p50/p99 latency; then stops the server with
// SIGTERM and checks that it exits cleanly.
//
//   bench_serve [--swarm SWARM.json] [--requests 64] [--concurrency 4] [--max-tokens 16]
//               [--model swarm|LABEL] [--stream] [--max-queue 64] [--workers 8] [--dir DIR]
//
// --workers 1 against the default 8 shows what batching concurrent requests through the engine's
// decodeBatch gives; the server's /health batch figures (mean and widest batch) are printed.
// A few untimed requests load the specialists first. Latencies cover answered requests; a queue smaller than the concurrency shows 503s (counted
// apart: they are the server protecting itself, not failures).
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
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

} // namespace

int main(int argc, char** argv) {
    try {
        const int requests = std::stoi(arg(argc, argv, "requests", "64"));
        const int concurrency = std::stoi(arg(argc, argv, "concurrency", "4"));
        const int maxTokens = std::stoi(arg(argc, argv, "max-tokens", "16"));
        const std::string model = arg(argc, argv, "model", "swarm");
        const bool stream = flag(argc, argv, "stream");
        std::string swarmJson = arg(argc, argv, "swarm", "");
        if (swarmJson.empty()) {
            std::string dir = arg(argc, argv, "dir", "");
            if (dir.empty()) dir = (fs::temp_directory_path() / ("bench_serve_" + std::to_string(::getpid()))).string();
            swarmJson = writeDemoSwarm(dir, maxTokens);
            std::cout << "demo swarm: " << swarmJson << "\n";
        }

        // The server, in its own process; its first line names the port.
        int out[2];
        if (::pipe(out) != 0) throw swarm::Error("pipe failed");
        const pid_t pid = ::fork();
        if (pid < 0) throw swarm::Error("fork failed");
        if (pid == 0) {
            ::dup2(out[1], 1);
            ::close(out[0]);
            ::close(out[1]);
            const std::string q = arg(argc, argv, "max-queue", "64"), w = arg(argc, argv, "workers", "8");
            ::execl(SWARM_CLI, SWARM_CLI, "serve", swarmJson.c_str(), "--port", "0", "--max-queue", q.c_str(),
                    "--workers", w.c_str(), static_cast<char*>(nullptr));
            std::perror("exec swarm");
            ::_exit(127);
        }
        ::close(out[1]);
        FILE* serverOut = ::fdopen(out[0], "r");
        char line[1024];
        int port = 0;
        if (std::fgets(line, sizeof line, serverOut)) {
            std::cout << line;
            if (const char* p = std::strstr(line, "127.0.0.1:")) port = std::atoi(p + 10);
        }
        if (port <= 0) {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
            throw swarm::Error("the server did not start (see its output above)");
        }

        const char* inputs[] = {"How many orders were shipped to Paris last week?",
                                "Mask the personal data: call John Smith at 555-0100",
                                "I was charged twice for my subscription", "hello"};
        // One request first, not timed: the specialists load lazily, and that second belongs to no
        // request's latency in a warm server.
        {
            httplib::Client warm("127.0.0.1", port);
            warm.set_read_timeout(300, 0);
            for (const char* input : {"How many orders?", "Mask John Smith", "charged twice", "hello"})
                warm.Post("/v1/completions", json{{"model", model}, {"prompt", input}, {"max_tokens", 1}}.dump(), "application/json");
        }
        std::atomic<int> next{0}, failed{0}, refused{0};
        std::atomic<long long> tokens{0};
        std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> clients;
        for (int c = 0; c < concurrency; ++c)
            clients.emplace_back([&, c] {
                httplib::Client cli("127.0.0.1", port);
                cli.set_read_timeout(300, 0);
                for (int i; (i = next++) < requests;) {
                    json req{{"model", model}, {"prompt", inputs[i % 4]}, {"max_tokens", maxTokens}, {"stream", stream}};
                    const auto s = std::chrono::steady_clock::now();
                    auto r = cli.Post("/v1/completions", req.dump(), "application/json");
                    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
                    if (!r || r->status != 200) {
                        ++(r && r->status == 503 ? refused : failed);
                        continue;
                    }
                    latencies[size_t(c)].push_back(ms);
                    // Streamed: the last chunk (before [DONE]) carries the usage.
                    const size_t at = stream ? r->body.rfind("data: {") : std::string::npos;
                    const json body = !stream ? json::parse(r->body)
                                              : json::parse(r->body.substr(at + 6, r->body.find("\n\n", at) - at - 6));
                    tokens += body["usage"]["completion_tokens"].get<long long>();
                }
            });
        for (std::thread& t : clients) t.join();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

        std::vector<double> all;
        for (const auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
        std::printf("requests %d (refused with 503: %d, failed: %d), concurrency %d, model %s, max_tokens %d%s\n", requests, refused.load(),
                    failed.load(), concurrency, model.c_str(), maxTokens, stream ? ", streamed" : "");
        std::printf("throughput %.2f requests/s, %.1f generated tokens/s\n", double(all.size()) / seconds,
                    double(tokens.load()) / seconds);
        std::printf("latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", percentile(all, 50), percentile(all, 99),
                    all.empty() ? 0.0 : *std::max_element(all.begin(), all.end()));

        if (auto h = httplib::Client("127.0.0.1", port).Get("/health"); h && h->status == 200) {
            const json b = json::parse(h->body)["batch"];
            const double steps = b["steps"].get<double>();
            std::printf("engine batches: %.0f decode passes, mean %.2f sequences per pass, widest %d\n", steps,
                        steps > 0 ? b["tokens"].get<double>() / steps : 0.0, b["widest"].get<int>());
        }

        ::kill(pid, SIGTERM);
        int status = 0;
        ::waitpid(pid, &status, 0);
        while (std::fgets(line, sizeof line, serverOut)) std::cout << line;
        std::fclose(serverOut);
        const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        std::printf("server exit after SIGTERM: %s\n", clean ? "clean (0)" : "NOT clean");
        return clean && failed.load() == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "bench_serve: " << e.what() << "\n";
        return 1;
    }
}
