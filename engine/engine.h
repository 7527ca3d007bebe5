#pragma once
// The Swarm CPU inference engine: loads an Eve-2 MoE model (Hugging Face folder or GGUF file) and
// runs it with a KV cache, exactly as shared/docs/eve-architecture.md computes it. No LibTorch.
//
//   engine::LoadOptions options;
//   options.dtype = engine::WType::Q8_0;
//   engine::Model model = engine::Model::load("my-specialist/", options);
//   engine::Session s(model);
//   auto result = engine::generate(s, model.tokenizer().encode("User: hi\nAssistant:"), sampling,
//                                  [](const engine::TokenEvent& e) { std::cout << e.text; return true; });
//
// Threads: a Model owns a thread pool (LoadOptions::threads) that every forward pass uses; one
// forward runs at a time per model (others wait), so sessions may live on different threads.
// Memory: weights whose stored type is the type used are read in place from the file mapping;
// converted weights are owned. Each Session owns its KV cache (n_layer * 2 * context * n_embd
// values of LoadOptions::kvType: for eve-272m at 2048 tokens 96 MiB in f32, 48 MiB in f16,
// 25.5 MiB in q8_0; pages are touched only as positions fill) and its scratch, allocated once:
// the per-token path allocates nothing.
#include "engine/kernels.h"
#include "engine/quant.h"
#include "engine/sampling.h"

#include "core/model_config.h"
#include "core/tokenizer.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swarm::engine {

// "f32", "bf16", "f16", "q8_0", "q4_0", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k" (any case; also
// "float32", "bfloat16", "float16", "q8", "q4"); false otherwise.
bool parseWType(const std::string& s, WType& out);

struct LoadOptions {
    // Type of the weight matrices in memory. Unset: the stored type, used in place from the file
    // (every GGUF type the reader accepts has kernels). A k-quant asked for rows that are not a
    // multiple of 256 (Eve's expert down projections, 1408) gives llama.cpp's fallback for those
    // matrices (q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0; see Model::warnings()). A Q4_0 file
    // loaded as q8_0 is widened exactly. Norms and the router are always float32.
    std::optional<WType> dtype;
    // Type of the LM head (the largest single read of a decoded token: vocab x n_embd). Unset: the
    // stored head's type (for a tied head the embedding itself, as dtype makes it). Set, a tied
    // head becomes a converted copy while the embedding stays as it is.
    std::optional<WType> headType;
    int threads = 0;                  // 0: every core this process may use
    Isa isa = Isa::Auto;              // Auto: the best this CPU runs (or SWARM_ENGINE_ISA)
    // Quantised weights: quantise activations to 8 bits per block of 32 and use integer dot
    // products (llama.cpp's scheme, ~2x faster to compute); false keeps activations in float32
    // (the weights are dequantised on the fly: slower, only the weights' rounding).
    bool quantizeActivations = true;
    // Element type of every session's KV cache: f32 (exact), f16 (keys and values rounded to half,
    // llama.cpp's default cache) or q8_0 (blocks of 32 along each head's row, d = max|x| / 127 as
    // the weights; needs head_dim % 32 == 0). Unset: q8_0 when activations are quantised (their
    // 8-bit rounding is the same kind; f16 where head_dim is not a multiple of 32), f32 otherwise,
    // so the exact path (float weights or float activations) stays exact.
    std::optional<WType> kvType;
};

// Whether `t` can hold a KV cache of rows of head_dim values: f32, f16, and q8_0 when head_dim is
// a multiple of 32. false gives the reason in *why.
bool kvTypeSupported(WType t, int64_t headDim, std::string* why = nullptr);

struct ModelStats {
    std::string format;               // "safetensors" or "gguf"
    std::vector<std::string> storedTypes;
    uint64_t mappedBytes = 0;         // weights used in place from the file mapping
    uint64_t ownedBytes = 0;          // weights converted on load (and the float32 norms/router)
    uint64_t decodeBytesPerToken = 0; // weight bytes one decoded token reads (top_k experts)
    double loadSeconds = 0;
};

class Session;

class Model {
public:
    // path: a Hugging Face model folder or a .gguf file. Throws swarm::Error naming the file and
    // the tensor or field at fault.
    static Model load(const std::string& path, const LoadOptions& options = {});

    Model();                          // empty; load() gives a usable one
    bool loaded() const { return impl_ != nullptr; }
    const ModelConfig& config() const;
    const Gpt2Tokenizer& tokenizer() const;
    WType weightType() const;         // type of the expert matrices (the bulk of the weights)
    WType headType() const;           // type of the LM head
    WType kvType() const;             // element type of the sessions' KV caches
    Isa isa() const;
    int threads() const;
    bool quantizedActivations() const;
    float rmsEps() const;
    const ModelStats& stats() const;
    const std::vector<std::string>& warnings() const;

    // Accumulates where every later forward pass's time goes into *profile (nullptr: stop). For
    // measurements (bench, swarm bench): timing adds a little overhead while attached.
    void attachProfile(struct OpProfile* profile) const;

    // Decodes one token for each of n distinct sessions of this model in one forward pass
    // (matrix-matrix kernels: the weights are read once for all n). n <= sessions[0]'s maxBatch.
    void decodeBatch(Session* const* sessions, const int32_t* tokens, int n) const;

    struct Impl;
private:
    friend class Session;
    std::shared_ptr<Impl> impl_;
};

struct SessionOptions {
    int context = 0;                  // KV cache length in tokens; 0: the model's block_size
    // Tokens per forward pass: the prefill chunk and the widest batched decode. Larger chunks read
    // each weight fewer times (f32 prefill of 256 tokens on eve-272m: 0.84 s of CPU with 64,
    // 0.68 s with 256); the scratch grows by about 55 KiB per token for eve-272m.
    int maxBatch = 128;
};

class Session {
public:
    explicit Session(const Model& model, const SessionOptions& options = {});
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    const ModelConfig& config() const;
    const Gpt2Tokenizer& tokenizer() const;
    int context() const;
    int position() const;             // tokens in the cache
    int maxBatch() const;
    int vocabSize() const;
    void reset();                     // empties the cache
    void truncate(int position);      // keeps the first `position` cached tokens (shared prefixes)

    // Appends tokens to the cache and computes the logits of the last one. With allLogits, the
    // logits of every position of this call are kept in allLogits() ([n][vocab_size]).
    // Throws swarm::Error (and changes nothing) for an empty call, an id outside the vocabulary,
    // or tokens that do not fit the context.
    void prefill(const int32_t* tokens, int n, bool allLogits = false);
    void prefill(const std::vector<int32_t>& tokens, bool allLogits = false) {
        prefill(tokens.data(), int(tokens.size()), allLogits);
    }
    void decode(int32_t token) { prefill(&token, 1, false); }

    const float* logits() const;      // [vocab_size] for the last position
    const std::vector<float>& allLogits() const;
    // The experts each layer chose for the last position: [n_layer][top_k] ids (by falling router
    // probability) and their renormalised weights.
    const int32_t* chosenExperts() const;
    const float* expertWeights() const;

    struct State;
private:
    friend class Model;
    std::unique_ptr<State> s_;
};

// ---------------------------------------------------------------------------------------------
// Generation

struct TokenEvent {
    int32_t token = 0;                // the sampled id (kEndOfText when generation ends at EOS)
    int index = 0;                    // 0 for the first generated token
    // Text that became final with this token: the token's bytes, minus what is held back while it
    // may start a stop string or is an incomplete UTF-8 sequence (released with a later token).
    // The pieces of all events concatenate to GenerateResult::text.
    std::string_view text;
    // The experts of the forward pass whose logits this token was sampled from (the position
    // before it): experts[l * topK + j], by falling router weight.
    const int32_t* experts = nullptr;
    int nLayer = 0;
    int topK = 0;
};
// Return false to stop generating.
using TokenCallback = std::function<bool(const TokenEvent&)>;

enum class FinishReason { Eos, Stop, MaxTokens, ContextFull, Callback };
const char* finishReasonName(FinishReason r);   // "eos", "stop", "max_tokens", "context_full", "callback"

struct GenerateResult {
    std::vector<int32_t> tokens;      // generated ids (with the final EOS when there is one)
    std::string text;                 // decoded text, cut before a stop string, without EOS
    FinishReason finish = FinishReason::MaxTokens;
    int promptTokens = 0;             // after truncation
    int truncatedTokens = 0;          // prompt tokens dropped by truncatePrompt
    double prefillSeconds = 0;
    double decodeSeconds = 0;
};

// Resets the session, prefills the prompt and generates until EOS (50256), a stop string,
// maxTokens new tokens, a full context or the callback says stop. Throws swarm::Error for an empty
// prompt, maxTokens <= 0, invalid sampling options, or a prompt that does not fit the context
// (unless truncatePrompt: then the oldest tokens are dropped so that the prompt and maxTokens fit,
// keeping at least one prompt token).
GenerateResult generate(Session& session, const std::vector<int32_t>& prompt, const SamplingOptions& options,
                        const TokenCallback& callback = {});

// One sequence's generation, a token at a time. generate() drives one alone; BatchDecoder
// (batch_decoder.h) drives many together through Model::decodeBatch. Both give the same tokens.
//
//   Generation g(session, prompt, options, callback);   // prefills and takes the first token
//   while (!g.done()) { session.decode(g.nextInput()); g.advance(); }
//   GenerateResult r = g.take();
class Generation {
public:
    // Throws as generate() does; the session is reset first.
    Generation(Session& session, const std::vector<int32_t>& prompt, const SamplingOptions& options,
               TokenCallback callback = {});
    bool done() const { return done_; }
    Session& session() { return session_; }
    int32_t nextInput() const { return result_.tokens.back(); }   // the token the session must consume next
    // Call once the session has consumed nextInput(): samples the next token from its logits.
    void advance();
    GenerateResult take();            // the result; call once done()

private:
    void accept(int32_t token);

    using Clock = std::chrono::steady_clock;
    Session& session_;
    SamplingOptions options_;
    TokenCallback callback_;
    Sampler sampler_;
    GenerateResult result_;
    std::vector<int32_t> history_;
    std::vector<int32_t> experts_;
    size_t emitted_ = 0;
    int step_ = 0;
    bool done_ = false;
    Clock::time_point decodeStart_;
};

} // namespace swarm::engine
