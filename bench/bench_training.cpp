// Training speed on CPU, printed (no pass/fail):
//  1. tokens/s of whole optimiser steps (forward, backward, AdamW) for `tiny` and `eve-272m`,
//     micro-batch 4 x 256 tokens;
//  2. inside one eve-272m MoE layer: the share of its forward+backward time spent dispatching
//     tokens (router top-k, sort, gather, scatter-add) versus computing (router, shared and routed
//     expert matmuls on already-gathered tokens), and its time against a dense SwiGLU layer with
//     the same active parameters (hidden = shared + top_k x expert width).
//
//   bench_training [--steps N] [--threads N] [--skip-272m]
#include "model/eve_model.h"
#include "model/runtime.h"
#include "core/process_env.h"

#include <chrono>
#include <cstdio>
#include <cstring>

using namespace swarm;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void benchSteps(const char* preset, int steps) {
    ModelConfig c = ModelConfig::preset(preset);
    EveModel model(c);
    model->initWeights(1);
    torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(5e-5).betas({0.9, 0.95}).weight_decay(0.1));
    torch::manual_seed(0);
    torch::Tensor ids = torch::randint(50257, {4, 256}, torch::kInt64);
    auto step = [&] {
        EveOutput out = model->forward(ids, ids);
        out.loss.backward();
        torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
        opt.step();
        opt.zero_grad();
    };
    step();   // warm-up: allocations, AdamW state
    auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) step();
    double s = since(t0) / steps;
    std::printf("%-10s %12.3f s/step %12.0f tokens/s   (%s parameters)\n", preset, s, 1024.0 / s,
                std::to_string(c.totalParameters()).c_str());
}

void benchMoeLayer(int repeats) {
    ModelConfig c = ModelConfig::preset("eve-272m");
    torch::manual_seed(0);
    MoE moe(c);
    const int64_t N = 4 * 256;
    torch::Tensor x = torch::randn({N, c.n_embd}) * 0.5;
    x.set_requires_grad(true);

    auto timeIt = [&](auto&& fn) {
        fn();
        auto t0 = Clock::now();
        for (int i = 0; i < repeats; ++i) fn();
        return since(t0) / repeats;
    };

    // The whole layer, as training runs it.
    double tMoe = timeIt([&] {
        torch::Tensor aux;
        LayerRouting r;
        torch::Tensor y = moe->forward(x, aux, r);
        (y.sum() + aux).backward();
    });

    // The same matmuls on tokens already gathered per expert (same counts), without dispatch.
    torch::Tensor aux;
    LayerRouting routing;
    { torch::NoGradGuard g; moe->forward(x, aux, routing); }
    std::vector<torch::Tensor> gathered;
    for (int64_t e = 0; e < c.num_experts; ++e) {
        int64_t n = routing.expertTokens[e].item<int64_t>();
        gathered.push_back(torch::randn({n, c.n_embd}).set_requires_grad(true));
    }
    double tCompute = timeIt([&] {
        torch::Tensor total = torch::softmax(moe->router(x), -1).sum() + moe->shared_expert->forward(x).sum();
        for (int64_t e = 0; e < c.num_experts; ++e)
            if (gathered[size_t(e)].size(0) > 0) total = total + moe->experts[e]->as<Expert>()->forward(gathered[size_t(e)]).sum();
        total.backward();
    });

    // A dense SwiGLU layer with the MoE's active parameters per token.
    Expert dense(c.n_embd, c.shared_expert_intermediate_size + c.top_k * c.expert_intermediate_size);
    double tDense = timeIt([&] { dense->forward(x).sum().backward(); });

    const double dispatch = std::max(0.0, tMoe - tCompute);
    std::printf("\neve-272m MoE layer, %lld tokens, forward+backward:\n", (long long)N);
    std::printf("  whole MoE layer            %8.2f ms\n", 1e3 * tMoe);
    std::printf("  matmuls only (no dispatch) %8.2f ms\n", 1e3 * tCompute);
    std::printf("  dispatch overhead          %8.2f ms = %.1f%% of the layer (goal < 15%%)\n", 1e3 * dispatch,
                100.0 * dispatch / tMoe);
    std::printf("  dense SwiGLU, same active  %8.2f ms; MoE / dense = %.2fx\n", 1e3 * tDense, tMoe / tDense);
}

} // namespace

int main(int argc, char** argv) {
    ensureThreadingEnvironment(argc, argv);
    int steps = 3, threads = 0;
    bool skip272 = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--skip-272m")) skip272 = true;
    }
    std::printf("training on CPU: %d threads, micro-batch 4 x 256 tokens, %d timed steps\n", applyThreadCount(threads), steps);
    benchSteps("tiny", steps);
    if (!skip272) benchSteps("eve-272m", steps);
    benchMoeLayer(std::max(steps, 3));
    return 0;
}
