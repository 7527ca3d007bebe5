// Imports and tokenises a generated 35k-pair dataset (about 200 tokens per pair) into a fresh
// project and prints the time, rows/s, tokens/s and the peak resident memory.
// Usage: bench_dataset_import [PAIRS] [THREADS]   (defaults: 35000, every core)
// Target: under 5 s on 2 cores; memory bounded by the streaming buffers, not by the file size.
#include "datasets/dataset_import.h"

#include "core/system.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Deterministic varied text: pseudo-words from syllables, numbers, punctuation.
struct TextGen {
    uint64_t s = 0x1234567;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    std::string word() {
        static const char* syl[] = {"ka", "lo", "mer", "tin", "sa", "vo", "ri", "den", "pa", "qu", "el", "ston",
                                    "ar", "bi", "cus", "dra", "fen", "gor", "hal", "jun", "lex", "mon", "nor", "pel"};
        static const char* common[] = {"the", "of", "and", "to", "in", "is", "for", "with", "table", "select",
                                       "where", "count", "order", "customer", "price", "total", "from", "by"};
        const uint64_t r = next();
        if (r % 3 == 0) return common[(r >> 8) % 18];
        if (r % 17 == 1) return std::to_string((r >> 8) % 100000);
        std::string w;
        const int n = 1 + int((r >> 12) % 3);
        for (int i = 0; i < n; ++i) w += syl[(r >> (16 + 5 * i)) % 24];
        if ((r >> 40) % 9 == 0) w[0] = char(w[0] - 32);
        return w;
    }
    std::string text(int words) {
        std::string t;
        for (int i = 0; i < words; ++i) {
            t += (i ? " " : "") + word();
            if (next() % 11 == 0) t += next() % 2 ? "," : ".";
        }
        return t;
    }
};

} // namespace

int main(int argc, char** argv) {
    const long pairs = argc > 1 ? std::atol(argv[1]) : 35000;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
    const fs::path dir = fs::temp_directory_path() / ("swarm-bench-import-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::string data = (dir / "pairs.jsonl").string(), project = (dir / "bench.swarm").string();
    {
        std::ofstream f(data, std::ios::binary);
        TextGen g;
        for (long i = 0; i < pairs; ++i)
            f << json{{"question", g.text(72) + "?"}, {"context", "CREATE TABLE t" + std::to_string(i % 97) + " (a INTEGER)"},
                      {"answer", g.text(21)}}.dump()
              << "\n";
    }
    const uintmax_t bytes = fs::file_size(data);
    try {
        const swarm::Gpt2Tokenizer tok = swarm::Gpt2Tokenizer::bundled();
        const long rssBefore = long(swarm::currentRssBytes() / 1024);
        swarm::ProjectStore store = swarm::ProjectStore::create(project);
        swarm::ImportOptions o;
        o.name = "bench";
        o.sourcePath = data;
        o.threads = threads;
        const auto t0 = std::chrono::steady_clock::now();
        const swarm::ImportResult r = swarm::importDataset(store, tok, o);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const auto& tokens = r.report["tokens"]["total"];
        std::printf("dataset import: %ld pairs, %.1f MiB JSONL, preset %s, %d threads (%d cores)\n", pairs,
                    double(bytes) / double(1 << 20), r.report["mapping"]["preset"].get<std::string>().c_str(),
                    threads ? threads : swarm::availableCores(), swarm::availableCores());
        std::printf("  imported %lld, rejected %lld, %lld tokens (%.0f per pair, p95 %d, max %d)\n",
                    (long long)r.counts.rowsImported, (long long)r.counts.rowsRejected, (long long)r.counts.nTokens,
                    tokens["mean"].get<double>(), tokens["p95"].get<int>(), tokens["max"].get<int>());
        std::printf("  time %.2f s, %.0f rows/s, %.2f M tokens/s\n", s, double(r.counts.rowsImported) / s,
                    double(r.counts.nTokens) / s / 1e6);
        std::printf("  peak RSS %.1f MiB (%.1f MiB before the import); project file %.1f MiB\n",
                    double(long(swarm::peakRssBytes() / 1024)) / 1024.0, double(rssBefore) / 1024.0,
                    double(fs::file_size(project)) / double(1 << 20));
        std::printf("  target: < 5 s on 2 cores: %s\n", s < 5.0 ? "met" : "MISSED");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_dataset_import: %s\n", e.what());
        fs::remove_all(dir);
        return 1;
    }
    fs::remove_all(dir);
    return 0;
}
