#include "engine/perf.h"

#include "core/thread_pool.h"

#include "core/error.h"
#include "core/system.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <sys/resource.h>

namespace swarm::engine {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<int32_t> randomTokens(Rng& rng, int n) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int32_t& id : ids) id = int32_t(rng.next() % uint64_t(kEndOfText));   // ordinary tokens, no EOS
    return ids;
}

} // namespace


const char* opName(Op op) {
    switch (op) {
    case Op::Embed: return "embedding";
    case Op::Norms: return "norms+quantise";
    case Op::Qkv: return "q/k/v";
    case Op::Attention: return "attention";
    case Op::AttnOut: return "attn output";
    case Op::Router: return "router";
    case Op::ExpertUpGate: return "experts gate+up";
    case Op::ExpertDown: return "experts down";
    case Op::MoeCombine: return "swiglu+combine";
    case Op::LmHead: return "lm head";
    case Op::Sampling: return "sampling";
    case Op::Count: break;
    }
    return "?";
}

double OpProfile::total() const {
    double t = 0;
    for (double s : seconds) t += s;
    return t;
}

OpProfile profileDecode(const Model& model, int prompt, int tokens, uint64_t seed) {
    if (prompt < 1 || tokens < 1) throw Error("profile: token counts must be positive");
    Rng rng(seed);
    SessionOptions so;
    so.context = prompt + tokens + 1;
    Session s(model, so);
    s.prefill(randomTokens(rng, prompt));
    SamplingOptions greedy;
    greedy.maxTokens = tokens;
    Sampler sampler(greedy, s.vocabSize());
    std::vector<int32_t> history;
    OpProfile p;
    model.attachProfile(&p);
    try {
        int32_t next = int32_t(rng.next() % uint64_t(kEndOfText));
        for (int i = 0; i < tokens; ++i) {
            s.decode(next);
            const auto t0 = Clock::now();
            next = sampler.sample(s.logits(), history.data(), history.size());
            p.add(Op::Sampling, since(t0));
        }
    } catch (...) {
        model.attachProfile(nullptr);
        throw;
    }
    model.attachProfile(nullptr);
    return p;
}

PerfResult measurePerf(const Model& model, const PerfOptions& o) {
    if (o.promptTokens < 1 || o.decodeTokens < 1 || o.batch < 1 || o.batchPrompt < 1 || o.batchSteps < 1)
        throw Error("bench: token counts must be positive");
    if (o.promptTokens + o.decodeTokens > o.context)
        throw Error("bench: prompt + decode tokens (" + std::to_string(o.promptTokens + o.decodeTokens) +
                    ") exceed the context (" + std::to_string(o.context) + ")");
    PerfResult r;
    Rng rng(o.seed);
    {
        SessionOptions so;                        // the default prefill chunk
        so.context = o.context;
        Session s(model, so);
        s.prefill(randomTokens(rng, 8));          // warm-up: pages, caches, thread wake-up
        s.reset();

        const std::vector<int32_t> prompt = randomTokens(rng, o.promptTokens);
        auto t0 = Clock::now();
        s.prefill(prompt);
        r.prefillTokPerS = double(o.promptTokens) / since(t0);

        const std::vector<int32_t> next = randomTokens(rng, o.decodeTokens);
        t0 = Clock::now();
        for (int i = 0; i < o.decodeTokens; ++i) s.decode(next[size_t(i)]);
        r.decodeTokPerS = double(o.decodeTokens) / since(t0);
        // The rest of the context too (untimed): the KV cache's pages are resident only once
        // written, and the figure is the memory of a full context.
        const int rest = o.context - s.position();
        if (rest > 0) s.prefill(randomTokens(rng, rest));
        r.peakRssSingleMiB = double(peakRssBytes()) / (1024.0 * 1024.0);
    }
    {
        SessionOptions so;
        so.context = o.batchPrompt + o.batchSteps;
        so.maxBatch = std::max(o.batch, 16);
        std::vector<Session> sessions;
        std::vector<Session*> ptrs;
        sessions.reserve(size_t(o.batch));
        for (int i = 0; i < o.batch; ++i) {
            sessions.emplace_back(model, so);
            sessions.back().prefill(randomTokens(rng, o.batchPrompt));
        }
        for (Session& s : sessions) ptrs.push_back(&s);
        std::vector<std::vector<int32_t>> steps;
        for (int k = 0; k < o.batchSteps; ++k) steps.push_back(randomTokens(rng, o.batch));
        const auto t0 = Clock::now();
        for (int k = 0; k < o.batchSteps; ++k) model.decodeBatch(ptrs.data(), steps[size_t(k)].data(), o.batch);
        r.batchTokPerS = double(o.batch) * double(o.batchSteps) / since(t0);
    }
    r.peakRssMiB = double(peakRssBytes()) / (1024.0 * 1024.0);
    return r;
}

double measureCopyBandwidth(int threads, size_t bytes) {
    ThreadPool pool(threads);
    const int n = pool.size();
    std::unique_ptr<uint8_t[]> src(new uint8_t[bytes]), dst(new uint8_t[bytes]);
    std::memset(src.get(), 1, bytes);     // fault every page in before timing
    std::memset(dst.get(), 2, bytes);
    const size_t share = bytes / size_t(n) / 64 * 64;
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = Clock::now();
        pool.parallelFor(n, [&](int task, int) {
            const size_t begin = size_t(task) * share;
            const size_t len = task == n - 1 ? bytes - begin : share;
            std::memcpy(dst.get() + begin, src.get() + begin, len);
        });
        const double s = since(t0);
        best = std::max(best, 2.0 * double(bytes) / s);
    }
    volatile uint8_t sink = dst[bytes / 2];
    (void)sink;
    return best;
}

double measureReadBandwidth(int threads, size_t bytes) {
    ThreadPool pool(threads);
    const int n = pool.size();
    const size_t words = bytes / 8;
    std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
    for (size_t i = 0; i < words; ++i) buf[i] = i;
    const size_t share = words / size_t(n) / 8 * 8;
    std::vector<uint64_t> sums(size_t(n), 0);
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = Clock::now();
        pool.parallelFor(n, [&](int task, int) {
            const size_t begin = size_t(task) * share;
            const size_t end = task == n - 1 ? words / 8 * 8 : begin + share;
            uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};   // independent lanes: vectorised, no dependency chain
            for (size_t i = begin; i < end; i += 8)
                for (int l = 0; l < 8; ++l) a[l] ^= buf[i + size_t(l)];
            sums[size_t(task)] = a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
        });
        best = std::max(best, double(words / 8 * 8 * 8) / since(t0));
    }
    volatile uint64_t sink = sums[0];
    (void)sink;
    return best;
}

} // namespace swarm::engine
