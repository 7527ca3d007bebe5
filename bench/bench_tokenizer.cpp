// Gpt2Tokenizer throughput: load time of the bundled tokenizer, then single-thread encode speed
// on a few MB of mixed text (the test fixture, repeated with variations so that the per-thread
// word cache does not see only repeats), and decode speed. Prints figures; no pass/fail.
//
//     bench_tokenizer [megabytes=4] [fixture text; default: the source tree's
//                                     tests/data/tokenizer_fixture.txt]
#include "core/error.h"
#include "core/tokenizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#ifndef SWARM_BENCH_FIXTURE
#define SWARM_BENCH_FIXTURE ""
#endif

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string readAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw swarm::Error("cannot open " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Repeats the fixture's lines in shuffled order, with some words varied (numbers changed, a
// suffix added) so the text is not one block repeated verbatim.
std::string buildCorpus(const std::string& fixture, size_t targetBytes) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < fixture.size()) {
        size_t nl = fixture.find('\n', start);
        if (nl == std::string::npos) nl = fixture.size();
        lines.push_back(fixture.substr(start, nl - start + 1));
        start = nl + 1;
    }
    std::mt19937 rng(42);
    std::string out;
    out.reserve(targetBytes + fixture.size());
    size_t round = 0;
    while (out.size() < targetBytes) {
        std::shuffle(lines.begin(), lines.end(), rng);
        for (const std::string& line : lines) {
            std::string varied = line;
            if (round % 2 == 1) {
                for (char& c : varied)
                    if (c >= '0' && c <= '9') c = char('0' + (c - '0' + round) % 10);
            }
            if (round % 3 == 2 && varied.size() > 2) varied.insert(varied.size() - 1, " v" + std::to_string(rng() % 1000));
            out += varied;
        }
        ++round;
    }
    out.resize(targetBytes);
    return out;
}

} // namespace

int main(int argc, char** argv) {
    try {
        const double megabytes = argc > 1 ? std::atof(argv[1]) : 4.0;
        std::string fixturePath = argc > 2 ? argv[2] : SWARM_BENCH_FIXTURE;
        if (fixturePath.empty()) {
            std::fprintf(stderr, "usage: %s [megabytes] FIXTURE_TEXT\n", argv[0]);
            return 2;
        }

        auto t0 = Clock::now();
        swarm::Gpt2Tokenizer tok = swarm::Gpt2Tokenizer::bundled();
        const double loadSeconds = secondsSince(t0);
        std::printf("load (vocab.json + merges.txt):  %8.1f ms  (%d tokens, %zu merges)\n", loadSeconds * 1e3,
                    tok.vocabSize(), tok.merges().size());

        t0 = Clock::now();
        const std::string json = tok.toTokenizerJson();
        std::printf("toTokenizerJson:                 %8.1f ms  (%.1f MB)\n", secondsSince(t0) * 1e3,
                    double(json.size()) / 1e6);
        {
            const std::string path = (std::filesystem::temp_directory_path() /
                                      ("bench_tokenizer_" + std::to_string(::getpid()) + ".json")).string();
            std::ofstream(path, std::ios::binary) << json;
            t0 = Clock::now();
            const swarm::Gpt2Tokenizer fromJson = swarm::Gpt2Tokenizer::fromTokenizerJson(path);
            std::printf("load (tokenizer.json):           %8.1f ms  (%d tokens)\n", secondsSince(t0) * 1e3,
                        fromJson.vocabSize());
            std::filesystem::remove(path);
        }

        const std::string corpus = buildCorpus(readAll(fixturePath), size_t(megabytes * 1e6));
        const double mb = double(corpus.size()) / 1e6;

        // Cold: first pass in a fresh thread (empty per-thread word cache).
        std::vector<int32_t> ids;
        double cold = 0;
        std::thread([&] {
            auto start = Clock::now();
            ids = tok.encode(corpus);
            cold = secondsSince(start);
        }).join();
        std::printf("encode, cold cache, 1 thread:    %8.1f MB/s  %10.0f tokens/s  (%.2f MB -> %zu tokens, %.3f s)\n",
                    mb / cold, double(ids.size()) / cold, mb, ids.size(), cold);

        // Warm: best of three passes on this thread, after one warm-up pass.
        tok.encode(corpus);
        double best = 1e30;
        for (int i = 0; i < 3; ++i) {
            auto start = Clock::now();
            ids = tok.encode(corpus);
            best = std::min(best, secondsSince(start));
        }
        std::printf("encode, warm cache, 1 thread:    %8.1f MB/s  %10.0f tokens/s\n", mb / best, double(ids.size()) / best);

        // Short texts, as in the dataset importer: one encode() call per ~1 KB piece.
        {
            size_t pieces = 0, tokens = 0;
            auto start = Clock::now();
            for (size_t pos = 0; pos < corpus.size(); pos += 1000, ++pieces)
                tokens += tok.encode(std::string_view(corpus).substr(pos, 1000)).size();
            const double s = secondsSince(start);
            std::printf("encode, 1 KB calls, 1 thread:    %8.1f MB/s  %10.0f tokens/s  (%zu calls)\n", mb / s,
                        double(tokens) / s, pieces);
        }

        // Two threads (the machine this targets has two cores), each encoding the whole corpus.
        {
            auto start = Clock::now();
            std::thread a([&] { tok.encode(corpus); });
            std::thread b([&] { tok.encode(corpus); });
            a.join();
            b.join();
            const double s = secondsSince(start);
            std::printf("encode, 2 threads (aggregate):   %8.1f MB/s\n", 2 * mb / s);
        }

        auto start = Clock::now();
        const std::string decoded = tok.decode(ids);
        const double d = secondsSince(start);
        std::printf("decode:                          %8.1f MB/s  %10.0f tokens/s\n", mb / d, double(ids.size()) / d);
        if (decoded != corpus) {
            std::fprintf(stderr, "decode(encode(corpus)) != corpus\n");
            return 1;
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
        return 1;
    }
}
