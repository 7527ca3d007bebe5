// Pre-training data at scale (issue 20). Generates the data, then measures each step in its own
// child process, so that each peak resident memory is that step's alone:
//
//   bench_corpus_import text [MIB] [THREADS]    a folder of plain text files (16 MiB each) and a
//                                               JSONL of ~4 KB documents, MIB each (default
//                                               1024): `swarm corpus import` time, tokens/s, RSS
//   bench_corpus_import pairs [N] [THREADS]     N chat pairs of ~200 tokens (default 1,200,000):
//                                               `swarm dataset import` time and RSS, then the
//                                               trainer's loading (loadTrainingData's reads: the
//                                               train and validation examples in memory)
//
// The text is drawn from the files on this machine (/usr/share/common-licenses, /usr/share/doc):
// paragraphs shuffled into documents, so word frequencies are those of real English text.
#include "datasets/corpus_import.h"
#include "datasets/corpus_store.h"
#include "datasets/dataset_import.h"
#include "datasets/dataset_store.h"

#include "core/rng.h"
#include "core/system.h"
#include "core/tokenizer.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double mib(double bytes) { return bytes / double(1 << 20); }

// Paragraphs of the UTF-8 text files under the given folders (compressed files are left out).
std::vector<std::string> machineParagraphs() {
    std::vector<std::string> paragraphs;
    for (const char* root : {"/usr/share/common-licenses", "/usr/share/doc"}) {
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
             it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (ec || !it->is_regular_file(ec) || it->file_size(ec) > (size_t(4) << 20)) continue;
            const std::string ext = it->path().extension().string();
            if (ext == ".gz" || ext == ".bz2" || ext == ".xz" || ext == ".zst" || ext == ".png" || ext == ".jpg") continue;
            std::ifstream f(it->path(), std::ios::binary);
            const std::string text((std::istreambuf_iterator<char>(f)), {});
            if (text.find('\0') != std::string::npos || !swarm::isValidUtf8(text)) continue;
            size_t start = 0;
            while (start < text.size()) {
                size_t end = text.find("\n\n", start);
                if (end == std::string::npos) end = text.size();
                if (end - start > 40) paragraphs.push_back(text.substr(start, end - start));
                start = end + 2;
            }
        }
    }
    return paragraphs;
}

// A document of about `bytes` bytes: random paragraphs, blank lines between them.
std::string document(const std::vector<std::string>& paragraphs, swarm::SplitMix64& rng, size_t bytes) {
    std::string d;
    while (d.size() < bytes) {
        if (!d.empty()) d += "\n\n";
        d += paragraphs[size_t(rng.below(paragraphs.size()))];
    }
    return d;
}

// Runs fn in a child process; returns its exit code and its peak RSS.
int inChild(const std::function<int()>& fn, double& peakMiB) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        int rc = 1;
        try {
            rc = fn();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_corpus_import: %s\n", e.what());
        }
        std::fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    peakMiB = double(ru.ru_maxrss) / 1024.0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int importCorpusStep(const std::string& project, const std::string& name, const std::string& input, int threads) {
    swarm::registerCorpusSchema();
    swarm::ProjectStore store = swarm::ProjectStore::open(project);
    swarm::CorpusImportOptions o;
    o.name = name;
    o.inputs = {input};
    o.threads = threads;
    const swarm::CorpusImportResult r = swarm::importCorpus(store, swarm::Gpt2Tokenizer::bundled(), o);
    std::printf("  %s: %s documents, %s tokens (%s validation) from %.0f MiB of text in %.1f s: %.2f M tokens/s, %.1f MiB/s\n",
                name.c_str(), std::to_string(r.info.documents).c_str(), std::to_string(r.info.tokens).c_str(),
                std::to_string(r.info.validationTokens).c_str(), mib(double(r.textBytes)), r.seconds,
                r.tokensPerSecond / 1e6, mib(double(r.textBytes)) / r.seconds);
    return 0;
}

int benchText(long mibTotal, int threads) {
    const fs::path dir = fs::temp_directory_path() / ("swarm-bench-corpus-" + std::to_string(getpid()));
    fs::create_directories(dir / "folder");
    const std::vector<std::string> paragraphs = machineParagraphs();
    if (paragraphs.empty()) throw std::runtime_error("no text found under /usr/share/doc");
    swarm::SplitMix64 rng(20);
    const uint64_t total = uint64_t(mibTotal) << 20;
    const auto g0 = Clock::now();
    {   // plain text files of 16 MiB
        uint64_t written = 0;
        for (int file = 0; written < total; ++file) {
            std::ofstream f(dir / "folder" / ("part-" + std::to_string(10000 + file) + ".txt"), std::ios::binary);
            uint64_t inFile = 0;
            while (inFile < (uint64_t(16) << 20) && written < total) {
                const std::string d = document(paragraphs, rng, 4096) + "\n\n";
                f << d;
                inFile += d.size();
                written += d.size();
            }
        }
    }
    {   // JSONL of ~4 KB documents
        std::ofstream f(dir / "docs.jsonl", std::ios::binary);
        uint64_t written = 0;
        while (written < total) {
            const std::string d = document(paragraphs, rng, 1024 + size_t(rng.below(6144)));
            f << json{{"text", d}}.dump() << "\n";
            written += d.size();
        }
    }
    std::printf("corpus import: %ld MiB of text twice (a folder of 16 MiB .txt files; a JSONL of ~4 KB documents), "
                "%zu paragraphs from this machine, generated in %.1f s; %d threads (%d cores)\n",
                mibTotal, paragraphs.size(), secondsSince(g0), threads ? threads : swarm::availableCores(),
                swarm::availableCores());
    const std::string project = (dir / "bench.swarm").string();
    swarm::registerCorpusSchema();
    swarm::ProjectStore::create(project);
    double peak = 0;
    int rc = inChild([&] { return importCorpusStep(project, "folder", (dir / "folder").string(), threads); }, peak);
    std::printf("    peak RSS %.1f MiB\n", peak);
    if (rc == 0) rc = inChild([&] { return importCorpusStep(project, "jsonl", (dir / "docs.jsonl").string(), threads); }, peak);
    std::printf("    peak RSS %.1f MiB\n", peak);
    fs::remove_all(dir);
    return rc;
}

int benchPairs(long pairs, int threads) {
    const fs::path dir = fs::temp_directory_path() / ("swarm-bench-pairs-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::vector<std::string> paragraphs = machineParagraphs();
    if (paragraphs.empty()) throw std::runtime_error("no text found under /usr/share/doc");
    const std::string data = (dir / "pairs.jsonl").string(), project = (dir / "bench.swarm").string();
    const auto g0 = Clock::now();
    {   // a question of ~100 tokens, an answer of ~100 tokens (a token is ~4.5 bytes of this text)
        std::ofstream f(data, std::ios::binary);
        swarm::SplitMix64 rng(7);
        auto cut = [&](size_t bytes) {
            const std::string& p = paragraphs[size_t(rng.below(paragraphs.size()))];
            const size_t at = p.size() > bytes ? size_t(rng.below(p.size() - bytes)) : 0;
            return p.substr(at, bytes);
        };
        for (long i = 0; i < pairs; ++i)
            f << json{{"prompt", "Question " + std::to_string(i) + ": " + cut(300 + size_t(rng.below(300)))},
                      {"response", cut(250 + size_t(rng.below(400)))}}
                     .dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
    }
    std::printf("instruction pairs: %ld chat pairs, %.0f MiB JSONL, generated in %.1f s; %d threads (%d cores)\n", pairs,
                mib(double(fs::file_size(data))), secondsSince(g0), threads ? threads : swarm::availableCores(),
                swarm::availableCores());
    swarm::ProjectStore::create(project);
    double peak = 0;
    int rc = inChild(
        [&] {
            swarm::ProjectStore store = swarm::ProjectStore::open(project);
            swarm::ImportOptions o;
            o.name = "pairs";
            o.sourcePath = data;
            o.promptTemplate = "{prompt}";
            o.responseTemplate = "{response}";
            o.threads = threads;
            const auto t0 = Clock::now();
            const swarm::ImportResult r = swarm::importDataset(store, swarm::Gpt2Tokenizer::bundled(), o);
            const double s = secondsSince(t0);
            std::printf("  dataset import: %lld imported, %lld rejected, %lld tokens (%.0f per pair) in %.1f s: %.0f pairs/s, "
                        "%.2f M tokens/s\n",
                        (long long)r.counts.rowsImported, (long long)r.counts.rowsRejected, (long long)r.counts.nTokens,
                        double(r.counts.nTokens) / double(r.counts.rowsImported), s, double(r.counts.rowsImported) / s,
                        double(r.counts.nTokens) / s / 1e6);
            return 0;
        },
        peak);
    std::printf("    peak RSS %.1f MiB; project file %.0f MiB\n", peak, mib(double(fs::file_size(project))));
    if (rc == 0)
        rc = inChild(
            [&] {
                const int64_t before = swarm::currentRssBytes();
                swarm::ProjectStore store = swarm::ProjectStore::open(project);
                swarm::DatasetStore datasets(store);
                const swarm::DatasetInfo d = datasets.dataset("pairs");
                const auto t0 = Clock::now();
                const std::vector<swarm::TrainingExample> train = datasets.trainingExamples(d.id, swarm::Split::Train);
                const std::vector<swarm::TrainingExample> validation = datasets.trainingExamples(d.id, swarm::Split::Validation);
                const double s = secondsSince(t0);
                int64_t tokens = 0;
                for (const auto* set : {&train, &validation})
                    for (const swarm::TrainingExample& e : *set) tokens += int64_t(e.ids.size());
                std::printf("  trainer loading (loadTrainingData): %zu train + %zu validation examples, %lld tokens in %.1f s, "
                            "%.0f MiB held (%.0f bytes per token)\n",
                            train.size(), validation.size(), (long long)tokens, s,
                            mib(double(swarm::currentRssBytes() - before)),
                            double(swarm::currentRssBytes() - before) / double(tokens));
                return 0;
            },
            peak);
    std::printf("    peak RSS %.1f MiB\n", peak);
    fs::remove_all(dir);
    return rc;
}

} // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
    try {
        if (mode == "text") return benchText(argc > 2 ? std::atol(argv[2]) : 1024, threads);
        if (mode == "pairs") return benchPairs(argc > 2 ? std::atol(argv[2]) : 1200000, threads);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_corpus_import: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: bench_corpus_import text [MIB] [THREADS] | pairs [N] [THREADS]\n");
    return 2;
}
