// The export re-check: the written model loaded back with the engine and compared with its
// source, logit for logit, on a fixed prompt set.
#include "export/export.h"

#include "engine/engine.h"

#include "core/error.h"
#include "datasets/prompt_template.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace swarm::exporter {

namespace {

// The fixed prompt set of the re-check (chat format, ~100 tokens in all).
const std::vector<std::string>& recheckPrompts() {
    static const std::vector<std::string> prompts = [] {
        std::vector<std::string> out;
        for (const char* request : {"Which customers placed more than three orders in 2023?",
                                    "Summarize: the meeting moved to Friday because the room was double-booked.",
                                    "Extract the name and email from: contact Jane Doe at jane.doe@example.com",
                                    "Write a commit message for: fix off-by-one in the CSV parser (42 rows lost)",
                                    "I want a refund for order #4521, it arrived broken!"})
            out.push_back(ChatFormat().promptText(request));
        return out;
    }();
    return prompts;
}

struct LogitDiff {
    double sum = 0;                   // of |a - b| over every compared logit
    uint64_t count = 0;
};

// Compares the logits of every position of one prompt ([positions][vocab] each) into r and d.
void compareLogits(const std::vector<float>& la, const std::vector<float>& lb, size_t positions, int vocab,
                   RecheckResult& r, LogitDiff& d) {
    for (size_t t = 0; t < positions; ++t) {
        const float* x = la.data() + t * size_t(vocab);
        const float* y = lb.data() + t * size_t(vocab);
        int ax = 0, by = 0;
        for (int v = 0; v < vocab; ++v) {
            const double diff = std::fabs(double(x[v]) - double(y[v]));
            if (!(diff == diff)) throw Error("re-check: the exported model computes NaN logits");
            r.maxAbsDiff = std::max(r.maxAbsDiff, diff);
            r.maxAbsLogit = std::max(r.maxAbsLogit, std::fabs(double(x[v])));
            d.sum += diff;
            if (x[v] > x[ax]) ax = v;
            if (y[v] > y[by]) by = v;
        }
        d.count += uint64_t(vocab);
        r.top1Matches += ax == by ? 1 : 0;
        ++r.positions;
    }
}

} // namespace

RecheckResult recheck(const std::string& sourceModel, const std::string& exported, int threads) {
    const auto t0 = std::chrono::steady_clock::now();
    engine::LoadOptions lo;
    lo.dtype = engine::WType::F32;
    lo.quantizeActivations = false;
    lo.threads = threads;
    engine::Model a = engine::Model::load(sourceModel, lo);
    engine::Model b;
    try {
        b = engine::Model::load(exported, lo);
    } catch (const Error& e) {
        throw Error(std::string("re-check: the exported model does not load: ") + e.what());
    }
    if (a.config().vocab_size != b.config().vocab_size || a.config().n_layer != b.config().n_layer ||
        a.config().n_embd != b.config().n_embd || a.config().num_experts != b.config().num_experts)
        throw Error("re-check: the exported model's configuration differs from the source's");
    RecheckResult r;
    LogitDiff diff;
    for (const std::string& prompt : recheckPrompts()) {
        std::vector<int32_t> ids = a.tokenizer().encode(prompt);
        if (b.tokenizer().encode(prompt) != ids)
            throw Error("re-check: the exported tokenizer encodes the prompt \"" + prompt.substr(0, 40) +
                        "...\" differently from the source's");
        const int ctx = int(std::min<int64_t>(a.config().block_size, 128));
        if (int(ids.size()) > ctx) ids.resize(size_t(ctx));
        engine::SessionOptions so;
        so.context = ctx;
        engine::Session sa(a, so), sb(b, so);
        sa.prefill(ids, true);
        sb.prefill(ids, true);
        compareLogits(sa.allLogits(), sb.allLogits(), ids.size(), int(a.config().vocab_size), r, diff);
        ++r.prompts;
    }
    r.meanAbsDiff = diff.count ? diff.sum / double(diff.count) : 0;
    r.top1Agreement = r.positions ? double(r.top1Matches) / r.positions : 0;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

} // namespace swarm::exporter
