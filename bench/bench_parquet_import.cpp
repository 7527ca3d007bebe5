// Parquet import against the same pairs in JSONL: a generated 35k-pair dataset (about 200 tokens
// per pair), converted to Parquet as the Hub's converter writes it (one row group, dictionary
// pages, Snappy; by tools/jsonl-to-parquet.js, the dev-time npm writer), then each file is read
// alone (records/s) and imported into a fresh project (the whole pipeline, tokenising on every core).
// Usage: bench_parquet_import [PAIRS] [THREADS]   (defaults: 35000, every core)
// Needs node and `(cd tools/parquet-fixtures && npm ci)` for the conversion; says so otherwise.
#include "datasets/dataset_import.h"

#include "core/system.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Varied deterministic text: words from a fixed vocabulary of SQL-ish and made-up terms.
struct Words {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    std::string text(int n) {
        static const char* vocab[] = {"select", "name", "from", "users", "where", "city", "is", "the", "total", "of",
                                      "orders", "placed", "by", "each", "customer", "in", "march", "count", "distinct",
                                      "products", "price", "above", "average", "group", "region", "list", "employees",
                                      "hired", "after", "department", "salary", "highest", "lowest", "sort", "date"};
        std::string t;
        for (int i = 0; i < n; ++i) {
            const uint64_t r = next();
            t += i ? " " : "";
            if (r % 13 == 0) t += std::to_string(r % 10000);
            else t += vocab[r % (sizeof vocab / sizeof *vocab)];
        }
        return t;
    }
};

struct Timing {
    double readSeconds = 0, importSeconds = 0;
    long records = 0;
    swarm::ImportResult result;
};

Timing measure(const std::string& file, const std::string& project, int threads) {
    Timing t;
    {
        const auto t0 = std::chrono::steady_clock::now();
        std::unique_ptr<swarm::RecordReader> r = swarm::RecordReader::open(file);
        swarm::SourceRecord rec;
        while (r->next(rec)) ++t.records;
        t.readSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    swarm::ProjectStore store = swarm::ProjectStore::create(project);
    swarm::ImportOptions o;
    o.name = "bench";
    o.sourcePath = file;
    o.threads = threads;
    const auto t0 = std::chrono::steady_clock::now();
    t.result = swarm::importDataset(store, swarm::Gpt2Tokenizer::bundled(), o);
    t.importSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return t;
}

} // namespace

int main(int argc, char** argv) {
    const long pairs = argc > 1 ? std::atol(argv[1]) : 35000;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
    const fs::path dir = fs::temp_directory_path() / ("swarm-bench-parquet-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::string jsonl = (dir / "pairs.jsonl").string(), parquet = (dir / "pairs.parquet").string();
    {
        std::ofstream f(jsonl, std::ios::binary);
        Words w;
        for (long i = 0; i < pairs; ++i)
            f << json{{"question", w.text(120) + "?"}, {"context", "CREATE TABLE t" + std::to_string(i % 97) + " (a INTEGER, b TEXT)"},
                      {"answer", "SELECT " + w.text(30)}}.dump()
              << "\n";
    }
    const std::string convert = "node '" SWARM_SOURCE_DIR "/tools/jsonl-to-parquet.js' '" + jsonl + "' '" + parquet + "'";
    if (std::system(convert.c_str()) != 0 || !fs::exists(parquet)) {
        std::fprintf(stderr, "bench_parquet_import: the conversion to Parquet failed; it needs node and "
                             "(cd tools/parquet-fixtures && npm ci)\n");
        fs::remove_all(dir);
        return 1;
    }
    try {
        const Timing j = measure(jsonl, (dir / "j.swarm").string(), threads);
        const Timing p = measure(parquet, (dir / "p.swarm").string(), threads);
        std::printf("parquet import: %ld pairs (%.0f tokens per pair), %d threads (%d cores)\n", pairs,
                    double(p.result.counts.nTokens) / double(p.result.counts.rowsImported), threads ? threads : swarm::availableCores(),
                    swarm::availableCores());
        std::printf("  %-8s %9s %10s %12s %10s %12s\n", "format", "file", "read", "records/s", "import", "rows/s");
        for (const auto& [name, path, t] : {std::tuple{"JSONL", jsonl, j}, std::tuple{"Parquet", parquet, p}})
            std::printf("  %-8s %7.1f MiB %8.3f s %12.0f %8.2f s %12.0f\n", name, double(fs::file_size(path)) / double(1 << 20),
                        t.readSeconds, double(t.records) / t.readSeconds, t.importSeconds,
                        double(t.result.counts.rowsImported) / t.importSeconds);
        const bool same = j.result.counts.rowsImported == p.result.counts.rowsImported && j.result.counts.nTokens == p.result.counts.nTokens;
        std::printf("  same rows and tokens imported: %s; Parquet/JSONL time: read %.2fx, import %.2fx\n", same ? "yes" : "NO",
                    p.readSeconds / j.readSeconds, p.importSeconds / j.importSeconds);
        std::printf("  peak RSS %.1f MiB\n", double(swarm::peakRssBytes()) / double(1 << 20));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_parquet_import: %s\n", e.what());
        fs::remove_all(dir);
        return 1;
    }
    fs::remove_all(dir);
    return 0;
}
