#include "engine/sampling.h"

#include "core/error.h"
#include "core/rng.h"

#include <algorithm>
#include <cmath>

namespace swarm::engine {

void validateSamplingOptions(const SamplingOptions& o) {
    if (!std::isfinite(o.temperature) || o.temperature < 0.0f)
        throw Error("sampling: temperature must be a finite number >= 0 (0 = greedy), got " + std::to_string(o.temperature));
    if (o.topK < 0) throw Error("sampling: top_k must be >= 0 (0 = off), got " + std::to_string(o.topK));
    if (!(o.topP > 0.0f && o.topP <= 1.0f)) throw Error("sampling: top_p must be in (0, 1], got " + std::to_string(o.topP));
    if (!std::isfinite(o.repetitionPenalty) || o.repetitionPenalty <= 0.0f)
        throw Error("sampling: repetition_penalty must be a finite number > 0 (1 = off), got " +
                    std::to_string(o.repetitionPenalty));
    if (o.maxTokens <= 0) throw Error("sampling: max_tokens must be positive, got " + std::to_string(o.maxTokens));
    for (const std::string& s : o.stop)
        if (s.empty()) throw Error("sampling: a stop string is empty");
}

// ---------------------------------------------------------------------------------------------
namespace {
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
} // namespace

Rng::Rng(uint64_t seed) {
    SplitMix64 seeder(seed);
    for (uint64_t& s : s_) s = seeder.next();
}

uint64_t Rng::next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }

// ---------------------------------------------------------------------------------------------
Sampler::Sampler(const SamplingOptions& options, int vocabSize, int vocabLimit)
    : options_(options), vocabSize_(vocabSize), vocabLimit_(std::min(vocabSize, vocabLimit)), rng_(options.seed) {
    validateSamplingOptions(options);
    if (vocabLimit_ <= 0) throw Error("sampling: the vocabulary is empty");
    cand_.resize(size_t(vocabLimit_));
    seenStamp_.assign(size_t(vocabLimit_), 0);
}

int32_t Sampler::sample(const float* logits, const int32_t* history, size_t historySize) {
    const int limit = vocabLimit_;
    for (int id = 0; id < limit; ++id) cand_[size_t(id)] = Candidate{logits[id], id};

    // Repetition penalty, once per distinct id of the history.
    if (options_.repetitionPenalty != 1.0f && historySize > 0) {
        if (++stamp_ == 0) {
            std::fill(seenStamp_.begin(), seenStamp_.end(), 0u);
            stamp_ = 1;
        }
        const float pen = options_.repetitionPenalty;
        for (size_t h = 0; h < historySize; ++h) {
            const int32_t id = history[h];
            if (id < 0 || id >= limit || seenStamp_[size_t(id)] == stamp_) continue;
            seenStamp_[size_t(id)] = stamp_;
            float& l = cand_[size_t(id)].logit;
            l = l > 0.0f ? l / pen : l * pen;
        }
    }

    if (options_.greedy()) {
        int best = 0;
        for (int id = 1; id < limit; ++id)
            if (cand_[size_t(id)].logit > cand_[size_t(best)].logit) best = id;
        return cand_[size_t(best)].id;
    }

    // Higher logit first; ties by lower id, so the order is total and every path deterministic.
    auto before = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
    Candidate* c = cand_.data();
    int n = limit;
    const float invT = 1.0f / options_.temperature;
    for (int i = 0; i < n; ++i) c[i].logit *= invT;
    if (options_.topK > 0 && options_.topK < n) {
        std::nth_element(c, c + options_.topK, c + n, before);
        n = options_.topK;
    }
    // Softmax numerators in place (monotonic: the order is unchanged).
    float mx = c[0].logit;
    for (int i = 1; i < n; ++i) mx = std::max(mx, c[i].logit);
    double total = 0.0;
    for (int i = 0; i < n; ++i) {
        c[i].logit = std::exp(c[i].logit - mx);
        total += c[i].logit;
    }
    if (options_.topP < 1.0f) {
        // The smallest most-likely prefix reaching top_p: sort a growing prefix (64, 256, ...) rather
        // than the whole vocabulary.
        const double target = double(options_.topP) * total;
        int sorted = std::min(n, 64);
        for (;;) {
            if (sorted < n) std::nth_element(c, c + sorted, c + n, before);
            std::sort(c, c + sorted, before);
            double cum = 0.0;
            int keep = -1;
            for (int i = 0; i < sorted; ++i) {
                cum += c[i].logit;
                if (cum >= target) { keep = i + 1; break; }
            }
            if (keep > 0) { n = keep; total = cum; break; }
            if (sorted == n) break;          // rounding: keep everything
            sorted = std::min(n, sorted * 4);
        }
    }
    const double u = rng_.uniform() * total;
    double cum = 0.0;
    for (int i = 0; i < n; ++i) {
        cum += c[i].logit;
        if (u < cum) return c[i].id;
    }
    return c[n - 1].id;
}

// ---------------------------------------------------------------------------------------------
size_t findStop(const std::string& text, const std::vector<std::string>& stops, size_t searchFrom) {
    size_t best = std::string::npos;
    for (const std::string& s : stops) {
        if (s.empty()) continue;
        const size_t from = searchFrom >= s.size() - 1 ? searchFrom - (s.size() - 1) : 0;
        const size_t at = text.find(s, from);
        if (at < best) best = at;
    }
    return best;
}

size_t holdBackBytes(const std::string& text, const std::vector<std::string>& stops) {
    size_t hold = 0;
    for (const std::string& s : stops) {
        const size_t maxLen = std::min(s.size() - (s.empty() ? 0 : 1), text.size());
        for (size_t len = maxLen; len > hold; --len)
            if (text.compare(text.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
    }
    // An incomplete UTF-8 sequence at the end.
    for (size_t back = 1; back <= 4 && back <= text.size(); ++back) {
        const unsigned char ch = static_cast<unsigned char>(text[text.size() - back]);
        if ((ch & 0xC0) == 0x80) continue;     // continuation byte: keep looking for the lead
        size_t need = 1;
        if ((ch & 0xE0) == 0xC0) need = 2;
        else if ((ch & 0xF0) == 0xE0) need = 3;
        else if ((ch & 0xF8) == 0xF0) need = 4;
        if (need > back) hold = std::max(hold, back);
        break;
    }
    return hold;
}

} // namespace swarm::engine
