#include "model/eve_model.h"

#include <cmath>

namespace swarm {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
    weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
    // Statistics in float32 so that BF16 weights and activations normalise as accurately as F32.
    torch::Tensor xf = x.to(torch::kFloat32);
    torch::Tensor normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
    return normed.to(x.scalar_type()) * weight;
}

// ---------------------------------------------------------------------------------------------
static torch::nn::Linear linearNoBias(int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

ExpertImpl::ExpertImpl(int64_t dim, int64_t hidden) {
    w1 = register_module("w1", linearNoBias(dim, hidden));
    w2 = register_module("w2", linearNoBias(dim, hidden));
    c_proj = register_module("c_proj", linearNoBias(hidden, dim));
}

torch::Tensor ExpertImpl::forward(const torch::Tensor& x) {
    return c_proj(F::silu(w1(x)) * w2(x));
}

// ---------------------------------------------------------------------------------------------
torch::Tensor applyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    // x viewed as [..., D/2, 2]: element 0 is the real part, 1 the imaginary part of each pair.
    auto sizes = x.sizes().vec();
    torch::Tensor pairs = x.reshape({sizes[0], sizes[1], sizes[2], sizes[3] / 2, 2});
    torch::Tensor re = pairs.select(-1, 0);
    torch::Tensor im = pairs.select(-1, 1);
    torch::Tensor c = cos.view({1, cos.size(0), 1, cos.size(1)}).to(x.scalar_type());
    torch::Tensor s = sin.view({1, sin.size(0), 1, sin.size(1)}).to(x.scalar_type());
    torch::Tensor outRe = re * c - im * s;
    torch::Tensor outIm = re * s + im * c;
    return torch::stack({outRe, outIm}, -1).reshape(sizes);
}

AttentionImpl::AttentionImpl(const ModelConfig& c) : n_head_(c.n_head), head_dim_(c.head_dim) {
    c_attn = register_module("c_attn", linearNoBias(c.n_embd, 3 * c.n_embd));
    c_proj = register_module("c_proj", linearNoBias(c.n_embd, c.n_embd));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
    std::vector<torch::Tensor> qkv = c_attn(x).split(C, /*dim=*/2);
    torch::Tensor q = applyRope(qkv[0].view({B, T, n_head_, head_dim_}), cos, sin).transpose(1, 2);
    torch::Tensor k = applyRope(qkv[1].view({B, T, n_head_, head_dim_}), cos, sin).transpose(1, 2);
    torch::Tensor v = qkv[2].view({B, T, n_head_, head_dim_}).transpose(1, 2);

    torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(head_dim_)));
    torch::Tensor causal = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
    scores = scores.masked_fill(causal, -std::numeric_limits<float>::infinity());
    torch::Tensor probs = torch::softmax(scores.to(torch::kFloat32), -1).to(q.scalar_type());
    torch::Tensor y = torch::matmul(probs, v).transpose(1, 2).contiguous().view({B, T, C});
    return c_proj(y);
}

// ---------------------------------------------------------------------------------------------
MoEImpl::MoEImpl(const ModelConfig& c) : num_experts_(c.num_experts), top_k_(c.top_k) {
    router = register_module("router", linearNoBias(c.n_embd, c.num_experts));
    shared_expert = register_module("shared_expert", Expert(c.n_embd, c.shared_expert_intermediate_size));
    experts = register_module("experts", torch::nn::ModuleList());
    for (int64_t e = 0; e < c.num_experts; ++e) experts->push_back(Expert(c.n_embd, c.expert_intermediate_size));
}

torch::Tensor MoEImpl::forward(const torch::Tensor& x, torch::Tensor& auxLoss, LayerRouting& routing) {
    const int64_t N = x.size(0);
    torch::Tensor probs = torch::softmax(router(x).to(torch::kFloat32), -1);          // [N, E]
    auto [topP, topIdx] = probs.topk(top_k_, -1);                                     // [N, k]
    topP = topP / topP.sum(-1, /*keepdim=*/true);                                     // renormalise

    // Load balancing on the full softmax: E * sum_e (mean_t p_e)^2.
    torch::Tensor meanProb = probs.mean(0);
    auxLoss = double(num_experts_) * meanProb.pow(2).sum();

    // Batched dispatch: sort the N*k (token, expert) assignments by expert, then each expert runs
    // once over its contiguous slice of tokens and scatters back with index_add_.
    torch::Tensor flatExpert = topIdx.reshape({-1});
    torch::Tensor flatWeight = topP.reshape({-1}).to(x.scalar_type());
    torch::Tensor flatToken = torch::arange(N, flatExpert.options()).repeat_interleave(top_k_);
    torch::Tensor order = flatExpert.argsort();
    torch::Tensor sortedToken = flatToken.index_select(0, order);
    torch::Tensor sortedWeight = flatWeight.index_select(0, order);
    torch::Tensor counts = torch::bincount(flatExpert, /*weights=*/{}, num_experts_);
    torch::Tensor countsCpu = counts.to(torch::kCPU);                                 // one sync per layer
    const int64_t* countPtr = countsCpu.data_ptr<int64_t>();

    torch::Tensor out = shared_expert->forward(x);
    torch::Tensor routed = torch::zeros_like(x);
    int64_t start = 0;
    for (int64_t e = 0; e < num_experts_; ++e) {
        const int64_t n = countPtr[e];
        if (n == 0) continue;
        torch::Tensor tokens = sortedToken.narrow(0, start, n);
        torch::Tensor xe = x.index_select(0, tokens);
        torch::Tensor ye = experts[e]->as<Expert>()->forward(xe) * sortedWeight.narrow(0, start, n).unsqueeze(1);
        routed.index_add_(0, tokens, ye);
        start += n;
    }
    routing.expertTokens = countsCpu;
    routing.meanProb = meanProb.detach();
    routing.chosen = topIdx.detach();
    routing.entropy = -(probs * torch::log(probs.clamp_min(1e-12))).sum(-1).mean().detach();
    return out + routed;
}

// ---------------------------------------------------------------------------------------------
BlockImpl::BlockImpl(const ModelConfig& c) {
    ln_1 = register_module("ln_1", RMSNorm(c.n_embd));
    attn = register_module("attn", Attention(c));
    ln_2 = register_module("ln_2", RMSNorm(c.n_embd));
    mlp = register_module("mlp", MoE(c));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& xIn, const torch::Tensor& cos, const torch::Tensor& sin,
                                 torch::Tensor& auxLoss, LayerRouting& routing) {
    torch::Tensor x = xIn + attn(ln_1(xIn), cos, sin);
    auto shape = x.sizes().vec();
    torch::Tensor flat = ln_2(x).reshape({-1, shape.back()});
    return x + mlp->forward(flat, auxLoss, routing).view(shape);
}

TransformerImpl::TransformerImpl(const ModelConfig& c) {
    wte = register_module("wte", torch::nn::Embedding(c.vocab_size, c.n_embd));
    h = register_module("h", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(Block(c));
    ln_f = register_module("ln_f", RMSNorm(c.n_embd));
}

// ---------------------------------------------------------------------------------------------
EveModelImpl::EveModelImpl(const ModelConfig& config) : config_(config) {
    config_.validate();
    transformer = register_module("transformer", Transformer(config_));
    // RoPE tables in float64 then float32: angle = pos * theta^(-2j/head_dim).
    const int64_t half = config_.head_dim / 2;
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    torch::Tensor j = torch::arange(half, opts);
    torch::Tensor invFreq = torch::pow(config_.rope_theta, -2.0 * j / double(config_.head_dim));
    torch::Tensor angles = torch::outer(torch::arange(config_.block_size, opts), invFreq);
    ropeCos_ = register_buffer("rope_cos", angles.cos().to(torch::kFloat32));
    ropeSin_ = register_buffer("rope_sin", angles.sin().to(torch::kFloat32));
}

torch::Tensor EveModelImpl::hidden(const torch::Tensor& idx, EveOutput& out) {
    TORCH_CHECK(idx.dim() == 2, "idx must be [batch, time]");
    const int64_t T = idx.size(1);
    TORCH_CHECK(T >= 1 && T <= config_.block_size, "sequence length ", T, " is outside 1..block_size (",
                config_.block_size, ")");
    // Module::to() moves buffers in place (set_data), so these handles follow the device.
    torch::Tensor cos = ropeCos_.narrow(0, 0, T);
    torch::Tensor sin = ropeSin_.narrow(0, 0, T);

    torch::Tensor x = transformer->wte(idx);
    torch::Tensor auxTotal;
    out.routing.resize(size_t(config_.n_layer));
    for (int64_t i = 0; i < config_.n_layer; ++i) {
        torch::Tensor aux;
        x = transformer->h[i]->as<Block>()->forward(x, cos, sin, aux, out.routing[size_t(i)]);
        auxTotal = auxTotal.defined() ? auxTotal + aux : aux;
    }
    out.auxLoss = auxTotal;
    return transformer->ln_f(x);
}

void EveModelImpl::lossFrom(const torch::Tensor& logits, const torch::Tensor& targets, EveOutput& out) const {
    out.labelledTokens = targets.ne(-100).sum().item<int64_t>();
    // Sum then divide, so that a batch with no labelled token gives 0 rather than NaN.
    torch::Tensor ceSum = F::cross_entropy(logits.to(torch::kFloat32), targets,
                                           F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
    out.ceLoss = ceSum / double(std::max<int64_t>(out.labelledTokens, 1));
    out.loss = out.ceLoss + config_.router_aux_loss_coef * out.auxLoss;
}

EveOutput EveModelImpl::forward(const torch::Tensor& idx, const torch::Tensor& labels, bool lastPositionOnly) {
    EveOutput out;
    torch::Tensor x = hidden(idx, out);
    const int64_t T = idx.size(1);
    if (lastPositionOnly) x = x.narrow(1, T - 1, 1);
    out.logits = torch::nn::functional::linear(x, transformer->wte->weight);   // tied head
    if (labels.defined()) {
        TORCH_CHECK(labels.sizes() == idx.sizes(), "labels must have the shape of idx");
        TORCH_CHECK(!lastPositionOnly, "a loss needs logits at every position");
        lossFrom(out.logits.narrow(1, 0, T - 1).reshape({-1, config_.vocab_size}), labels.narrow(1, 1, T - 1).reshape({-1}),
                 out);
    }
    return out;
}

EveOutput EveModelImpl::forwardForLoss(const torch::Tensor& idx, const torch::Tensor& labels) {
    TORCH_CHECK(labels.defined() && labels.sizes() == idx.sizes(), "labels must have the shape of idx");
    EveOutput out;
    torch::Tensor x = hidden(idx, out);
    const int64_t T = idx.size(1);
    torch::Tensor targets = labels.narrow(1, 1, T - 1).reshape({-1});
    torch::Tensor states = x.narrow(1, 0, T - 1).reshape({-1, config_.n_embd});
    torch::Tensor keep = targets.ne(-100).nonzero().squeeze(1);
    out.logits = torch::nn::functional::linear(states.index_select(0, keep), transformer->wte->weight);
    lossFrom(out.logits, targets.index_select(0, keep), out);
    return out;
}

void EveModelImpl::initWeights(uint64_t seed) {
    torch::NoGradGuard noGrad;
    torch::manual_seed(seed);
    const double std = 0.02;
    const double residualStd = std / std::sqrt(2.0 * double(config_.n_layer));
    for (auto& [name, p] : namedWeights()) {
        if (name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && p.dim() == 1) {
            p.fill_(1.0);                                                   // RMSNorm
        } else if (name.find("c_proj.weight") != std::string::npos) {
            p.normal_(0.0, residualStd);                                    // writes into the residual stream
        } else {
            p.normal_(0.0, std);
        }
    }
}

std::vector<std::pair<std::string, torch::Tensor>> EveModelImpl::namedWeights() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
    return out;
}

// ---------------------------------------------------------------------------------------------
std::vector<int64_t> greedyGenerate(EveModel& model, const std::vector<int64_t>& prompt, int64_t maxNewTokens,
                                    const torch::Device& device) {
    torch::NoGradGuard noGrad;
    model->eval();
    std::vector<int64_t> seq = prompt;
    std::vector<int64_t> generated;
    const int64_t context = model->config().block_size;
    for (int64_t step = 0; step < maxNewTokens; ++step) {
        const int64_t start = std::max<int64_t>(0, int64_t(seq.size()) - context);
        std::vector<int64_t> window(seq.begin() + start, seq.end());
        torch::Tensor idx = torch::tensor(window, torch::kInt64).unsqueeze(0).to(device);
        EveOutput out = model->forward(idx, {}, /*lastPositionOnly=*/true);
        // Padding rows (ids >= 50257) are never produced by the tokenizer: never choose them.
        torch::Tensor logits = out.logits.reshape({-1}).narrow(0, 0, 50257);
        int64_t next = logits.argmax().item<int64_t>();
        generated.push_back(next);
        if (next == 50256) break;
        seq.push_back(next);
    }
    return generated;
}

} // namespace swarm
