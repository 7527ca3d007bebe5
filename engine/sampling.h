#pragma once
// Choosing the next token from a row of logits: greedy, or temperature / top-k / top-p sampling
// with a seeded generator, after an optional repetition penalty. Deterministic for a seed.
#include <cstdint>
#include <string>
#include <vector>

namespace swarm::engine {

constexpr int32_t kEndOfText = 50256;      // EOS / pad of the GPT-2 vocabulary
constexpr int32_t kTokenizerVocab = 50257; // ids >= this are padding rows: never sampled

struct SamplingOptions {
    float temperature = 0.0f;          // <= 0: greedy (argmax)
    int topK = 0;                      // keep the k most likely tokens (0: all)
    float topP = 1.0f;                 // keep the smallest set whose probability reaches p (1: all)
    float repetitionPenalty = 1.0f;    // > 1 discourages tokens already in the history (CTRL / HF rule:
                                       // a positive logit is divided by it, a negative one multiplied)
    uint64_t seed = 0;
    int maxTokens = 64;                // new tokens at most; must be > 0
    std::vector<std::string> stop;     // stop strings: generation ends where one appears in the text
    bool truncatePrompt = false;       // drop the oldest prompt tokens that do not fit the context
                                       // (instead of an error)
    bool greedy() const { return temperature <= 0.0f; }
};

// Throws swarm::Error naming the first invalid field (NaN temperature, top_p outside (0, 1], ...).
void validateSamplingOptions(const SamplingOptions& options);

// A small, fast, seedable generator (splitmix64 seeding + xoshiro256**), identical everywhere.
class Rng {
public:
    explicit Rng(uint64_t seed = 0);
    uint64_t next();
    double uniform();                  // [0, 1) with 53 random bits
private:
    uint64_t s_[4];
};

class Sampler {
public:
    // vocabLimit: ids >= it are never chosen (the padding rows of the embedding).
    Sampler(const SamplingOptions& options, int vocabSize, int vocabLimit = kTokenizerVocab);

    // Picks a token from logits[0..vocabSize). history: the ids the penalty applies to (the prompt and
    // what was generated). Allocates nothing.
    int32_t sample(const float* logits, const int32_t* history, size_t historySize);

    const SamplingOptions& options() const { return options_; }

private:
    struct Candidate {
        float logit;
        int32_t id;
    };
    SamplingOptions options_;
    int vocabSize_;
    int vocabLimit_;
    Rng rng_;
    std::vector<Candidate> cand_;      // vocabLimit entries, reused per call
    std::vector<uint32_t> seenStamp_;  // per id: the call number in which its penalty was applied
    uint32_t stamp_ = 0;
};

// Where generated text stops: the byte offset of the first stop string in `text` at or after
// `from` - (longest stop - 1), or npos. Exposed for tests.
size_t findStop(const std::string& text, const std::vector<std::string>& stops, size_t searchFrom);

// How many bytes at the end of `text` must be held back while streaming: the longest suffix that
// is a proper prefix of some stop string, and an incomplete UTF-8 sequence.
size_t holdBackBytes(const std::string& text, const std::vector<std::string>& stops);

} // namespace swarm::engine
