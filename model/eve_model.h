#pragma once
// The Eve-2 MoE transformer in LibTorch, as shared/docs/eve-architecture.md describes it.
// Parameter names follow the published safetensors names exactly ("transformer.h.0.attn.c_attn.weight"),
// so loading and saving is a walk over named_parameters(). The LM head is tied to the embedding.
#include "core/model_config.h"

#include <torch/torch.h>

namespace swarm {

class RMSNormImpl : public torch::nn::Module {
public:
    explicit RMSNormImpl(int64_t dim, double eps = 1e-5);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;
private:
    double eps_;
};
TORCH_MODULE(RMSNorm);

// One SwiGLU expert: c_proj(silu(w1 x) * (w2 x)).
class ExpertImpl : public torch::nn::Module {
public:
    ExpertImpl(int64_t dim, int64_t hidden);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Linear w1{nullptr}, w2{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(Expert);

class AttentionImpl : public torch::nn::Module {
public:
    explicit AttentionImpl(const ModelConfig& c);
    // x: [B, T, C]; cos/sin: [T, head_dim/2] for positions 0..T-1.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
    torch::nn::Linear c_attn{nullptr}, c_proj{nullptr};
private:
    int64_t n_head_, head_dim_;
};
TORCH_MODULE(Attention);

// What one MoE layer did with its tokens; detached, for charts and warnings.
struct LayerRouting {
    torch::Tensor expertTokens;   // [num_experts] int64: top-k assignments per expert
    torch::Tensor meanProb;       // [num_experts] float: mean router probability over tokens
    torch::Tensor chosen;         // [N, top_k] int64: the experts each token went to
    torch::Tensor entropy;        // scalar float: mean over tokens of the router's entropy (nats)
};

class MoEImpl : public torch::nn::Module {
public:
    explicit MoEImpl(const ModelConfig& c);
    // x: [N, C] flattened tokens. Returns the output; sets auxLoss and routing.
    torch::Tensor forward(const torch::Tensor& x, torch::Tensor& auxLoss, LayerRouting& routing);
    torch::nn::Linear router{nullptr};
    Expert shared_expert{nullptr};
    torch::nn::ModuleList experts;
private:
    int64_t num_experts_, top_k_;
};
TORCH_MODULE(MoE);

class BlockImpl : public torch::nn::Module {
public:
    explicit BlockImpl(const ModelConfig& c);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                          torch::Tensor& auxLoss, LayerRouting& routing);
    RMSNorm ln_1{nullptr}, ln_2{nullptr};
    Attention attn{nullptr};
    MoE mlp{nullptr};
};
TORCH_MODULE(Block);

class TransformerImpl : public torch::nn::Module {
public:
    explicit TransformerImpl(const ModelConfig& c);
    torch::nn::Embedding wte{nullptr};
    torch::nn::ModuleList h;
    RMSNorm ln_f{nullptr};
};
TORCH_MODULE(Transformer);

struct EveOutput {
    torch::Tensor logits;      // [B, T, vocab], or [B, 1, vocab] with lastPositionOnly
    torch::Tensor loss;        // ce + coef * aux; undefined without labels
    torch::Tensor ceLoss;      // mean over labelled positions (0 when none)
    torch::Tensor auxLoss;     // sum over layers of the load-balancing loss
    int64_t labelledTokens = 0;
    std::vector<LayerRouting> routing;   // one per layer
};

class EveModelImpl : public torch::nn::Module {
public:
    explicit EveModelImpl(const ModelConfig& config);

    // idx: [B, T] int64 token ids. labels: same shape, -100 where no loss (the shift happens here:
    // position t's logits predict labels[t+1]).
    EveOutput forward(const torch::Tensor& idx, const torch::Tensor& labels = {}, bool lastPositionOnly = false);

    // Training's forward: the LM head runs only at positions whose next label carries loss, so
    // masked prompt tokens (often most of a fine-tuning example) cost no vocabulary projection.
    // Same loss and gradients as forward(idx, labels); logits are [labelled positions, vocab].
    EveOutput forwardForLoss(const torch::Tensor& idx, const torch::Tensor& labels);

    // GPT-2-style random init (normal 0.02, residual projections scaled by 1/sqrt(2 n_layer), norms 1).
    void initWeights(uint64_t seed);

    // Canonical parameter names in model order (the tied head is "transformer.wte.weight").
    std::vector<std::pair<std::string, torch::Tensor>> namedWeights() const;

    const ModelConfig& config() const { return config_; }
    Transformer transformer{nullptr};

private:
    torch::Tensor hidden(const torch::Tensor& idx, EveOutput& out);   // after ln_f; sets routing and aux
    void lossFrom(const torch::Tensor& logits, const torch::Tensor& targets, EveOutput& out) const;

    ModelConfig config_;
    torch::Tensor ropeCos_, ropeSin_;   // [block_size, head_dim/2], float32 buffers
};
TORCH_MODULE(EveModel);

// Rotates interleaved pairs (2j, 2j+1) of the last dim. x: [B, T, H, D]; cos/sin: [T, D/2].
torch::Tensor applyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Greedy decoding without a KV cache: the correctness path (the fast engine is separate).
// Stops at EOS (50256) or after maxNewTokens; returns only the new ids.
std::vector<int64_t> greedyGenerate(EveModel& model, const std::vector<int64_t>& prompt, int64_t maxNewTokens,
                                    const torch::Device& device);

} // namespace swarm
