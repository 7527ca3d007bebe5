#pragma once
// Speed and memory measurements of the engine, shared by `swarm bench` and bench/bench_engine:
// prefill, decode and batched-decode throughput, peak resident memory, and the machine's memory
// copy bandwidth that bounds decode speed.
#include "engine/engine.h"

#include <cstdint>

namespace swarm::engine {

struct PerfOptions {
    int promptTokens = 256;       // prefill: one prompt of this many tokens
    int decodeTokens = 128;       // decode: this many tokens after the prompt, one at a time
    int batch = 8;                // batched decode: this many sequences decoded together
    int batchPrompt = 32;         // each batched sequence starts with a prompt this long
    int batchSteps = 32;          // and decodes this many steps
    int context = 2048;           // KV cache of the single-session runs
    uint64_t seed = 1;            // token ids are pseudo-random (the speed does not depend on them)
};

// Where a forward pass's time goes, accumulated while attached (Model::attachProfile). Matrix
// products are timed as the wall time of their parallel region; `sync` is the part of those
// regions that threads spent not computing (waiting at the region's end or for work: imbalance
// and hand-off), so the compute of a phase is its time minus its share of sync.
enum class Op { Embed, Norms, Qkv, Attention, AttnOut, Router, ExpertUpGate, ExpertDown, MoeCombine, LmHead, Sampling, Count };
const char* opName(Op op);   // "embedding", "norms+quantise", "q/k/v", "attention", ...
struct OpProfile {
    double seconds[int(Op::Count)] = {};
    double syncSeconds = 0;         // inside the matrix-product regions, threads idle
    int64_t forwards = 0;
    int64_t tokens = 0;
    void add(Op op, double s) { seconds[int(op)] += s; }
    double total() const;
};

struct PerfResult {
    double prefillTokPerS = 0;
    double decodeTokPerS = 0;
    double batchTokPerS = 0;        // tokens over all sequences per second
    double peakRssSingleMiB = 0;    // peak RSS after load + one session with all `context` tokens used
    double peakRssMiB = 0;          // peak RSS after the batched run as well
};

// Runs the three measurements on a loaded model (one warm-up forward first).
PerfResult measurePerf(const Model& model, const PerfOptions& options);

// Decodes `tokens` tokens one at a time after a `prompt`-token prompt with greedy sampling (the
// sampler's time included) and returns where the time went, per decoded token.
OpProfile profileDecode(const Model& model, int prompt, int tokens, uint64_t seed = 1);

// Memory copy bandwidth in bytes per second, counting bytes read plus bytes written (the STREAM
// "copy" convention), with `threads` threads each copying its share of a `bytes` buffer; the best
// of a few repetitions.
double measureCopyBandwidth(int threads, size_t bytes = size_t(512) << 20);

// Read-only bandwidth in bytes per second (each thread sums its share of a `bytes` buffer): what
// decode, which only reads weights, can at best stream. Best of a few repetitions.
double measureReadBandwidth(int threads, size_t bytes = size_t(512) << 20);

} // namespace swarm::engine
