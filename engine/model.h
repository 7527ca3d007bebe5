#pragma once
// Engine internals shared by model.cpp (loading), forward.cpp (the forward pass) and generate.cpp.
#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/perf.h"
#include "core/thread_pool.h"

#include "core/hf_folder.h"

#include <cstdlib>
#include <memory>
#include <vector>

namespace swarm::engine {

// Owned weight storage: 2 MiB aligned and marked for transparent huge pages (MADV_HUGEPAGE),
// since decode streams every weight once per token and 4 KiB pages cost TLB misses (measured on a
// Q8_0 matrix-vector product from DRAM: 12.4 GB/s with 4 KiB pages, 16.3 GB/s with 2 MiB pages).
struct AlignedBuffer {
    struct Free {
        void operator()(uint8_t* p) const { std::free(p); }
    };
    std::unique_ptr<uint8_t, Free> data;
    size_t size = 0;
    static AlignedBuffer make(size_t bytes);
};

// Converted weights are carved out of 32 MiB slabs (64-byte aligned pieces), so that small
// matrices share huge pages. Untouched slab tails are never faulted in and cost no memory.
struct WeightArena {
    static constexpr size_t kSlab = size_t(32) << 20;
    std::vector<AlignedBuffer> slabs;
    std::vector<AlignedBuffer> large;  // pieces over half a slab
    size_t left = 0;                  // free bytes at the end of slabs.back()
    uint8_t* allocate(size_t bytes);
};

struct LayerWeights {
    std::vector<float> ln1, ln2;      // [n_embd]
    Mat wq, wk, wv, wo;               // [n_embd, n_embd] each
    std::vector<float> routerData;    // [num_experts, n_embd] float32
    Mat router;                       // view of routerData
    Mat shGate, shUp, shDown;         // shared expert: w1, w2 [ffs, n_embd]; c_proj [n_embd, ffs]
    std::vector<Mat> gate, up, down;  // routed experts, same layout with expert_intermediate_size
};

struct Model::Impl {
    ModelConfig config;
    Gpt2Tokenizer tokenizer;
    LoadOptions options;
    const Kernels* kernels = nullptr;
    bool q8Acts = false;              // some matrix is Q8_0 and activations are quantised for it
    WType mainType = WType::F32;
    WType kvType = WType::F32;        // the sessions' KV cache elements (LoadOptions::kvType resolved)
    float eps = 1e-5f;

    Mat embd;                         // [vocab, n_embd]
    Mat head;                         // the LM head: embd when tied (always, for Eve files)
    std::vector<float> lnf;
    std::vector<LayerWeights> layers;
    std::vector<float> ropeCos, ropeSin;   // [block_size, head_dim / 2]

    WeightArena owned;
    std::unique_ptr<HfWeights> hf;    // kept open while mapped weights point into it
    std::unique_ptr<GgufFile> gguf;
    ModelStats stats;
    std::vector<std::string> warnings;
    std::unique_ptr<ThreadPool> pool;
    OpProfile* profile = nullptr;     // Model::attachProfile: forward passes time their phases into it
};

// One matrix product of a phase: y[j * ldy + r] = W[r] . x_j for every row r of w and j < n.
struct MatJob {
    const Mat* w = nullptr;
    Act x;                            // float rows
    Act xq;                           // BlockQ8A rows (used when w is Q8_0 and q8Acts)
    int n = 0;
    float* y = nullptr;
    int64_t ldy = 0;
};

// Per-forward working memory, sized once for `cap` tokens.
struct Scratch {
    int cap = 0;
    std::vector<float> x, xn, qkv, att, proj;          // [cap][E] ([cap][3E] for qkv)
    std::vector<BlockQ8A> xq;                          // [cap][E/32]: quantised xn or att
    std::vector<float> routerLogits;                   // [cap][X]
    std::vector<int32_t> chosen;                       // [cap][k]
    std::vector<float> chosenWeight;                   // [cap][k]
    std::vector<int32_t> expertCount, expertStart;     // [X]
    std::vector<int32_t> slotToken;                    // [cap*k]: token of each routed slot, grouped by expert
    std::vector<int32_t> tokenSlot;                    // [cap][k]: slot of each (token, choice)
    std::vector<float> shGate, shUp, shOut;            // [cap][FFs], [cap][FFs], [cap][E]
    std::vector<float> exGate, exUp, exOut;            // [cap*k][FF], [cap*k][FF], [cap*k][E]
    std::vector<BlockQ8A> shq, exq;                    // quantised hidden rows
    std::vector<float> scores;                         // [threads][block_size]
    std::vector<float> logits;                         // [n][vocab], batched decode only (grown on use)
    std::vector<int32_t> pos;                          // [cap]
    std::vector<Session::State*> seq;                  // [cap]
    std::vector<int32_t> outIdx;                       // [cap]
    std::vector<MatJob> jobs;                          // capacity 2 * (X + 1) + 4
    std::vector<int32_t> jobTaskStart;                 // prefix sums of tasks per job
};

struct Session::State {
    std::shared_ptr<const Model::Impl> model;
    int ctx = 0;
    int pos = 0;
    // [n_layer][n_head][ctx] rows of head_dim values of model->kvType, kvRowBytes each. Not
    // initialised: a page becomes resident when a position in it is first written.
    std::unique_ptr<uint8_t[]> k, v;
    size_t kvRowBytes = 0;
    std::vector<float> logits;                         // [vocab]
    std::vector<float> allLogits;                      // [n][vocab] of the last prefill(.., true)
    std::vector<int32_t> chosen;                       // [n_layer][top_k]
    std::vector<float> chosenWeight;
    Scratch scratch;
};

void allocateScratch(const Model::Impl& m, Scratch& s, int cap);

// Runs the transformer over n tokens. Token i belongs to session seq[i] at position pos[i]; the
// cache rows of those positions are written. When nOut > 0, the logits of tokens outIdx[0..nOut)
// (nullptr: 0..nOut-1) are written to out[j * ldOut ..].
void forwardTokens(const Model::Impl& m, Scratch& s, int n, const int32_t* tokens, int nOut,
                   const int32_t* outIdx, float* out, int64_t ldOut);

} // namespace swarm::engine
