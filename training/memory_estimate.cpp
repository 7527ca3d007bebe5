#include "training/memory_estimate.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace swarm {

MemoryEstimate estimateTrainingMemory(const ModelConfig& c, int microBatch, int seqLen, bool bf16Activations) {
    MemoryEstimate m;
    const uint64_t params = uint64_t(c.totalParameters());
    m.weights = params * 4;          // master weights stay F32
    m.gradients = params * 4;
    m.optimizer = params * 8;        // AdamW: two F32 moments
    // Floats kept per token per layer: norms, qkv, rotated q/k, attention output and residuals
    // (~12 E), scores, mask and probabilities (3 H T), the shared expert's four ff-wide tensors,
    // and for each chosen expert its input, output and four ff-wide tensors.
    const double E = double(c.n_embd), T = double(seqLen);
    const double perLayer = 12 * E + 3 * double(c.n_head) * T + 4 * double(c.shared_expert_intermediate_size) +
                            double(c.top_k) * (2 * E + 4 * double(c.expert_intermediate_size));
    // Logits, their float32 log-softmax and gradient: three vocab-wide tensors per token.
    const double head = 3 * double(c.vocab_size) + 2 * E;
    const double bytesPerFloat = bf16Activations ? 2.0 : 4.0;
    const double tokens = double(microBatch) * T;
    m.activations = uint64_t(1.2 * tokens * (perLayer * double(c.n_layer) * bytesPerFloat + head * 4.0));
    return m;
}

uint64_t availableMemory(const std::string& device) {
    if (device.rfind("cuda", 0) == 0) return 0;   // LibTorch's C++ API has no portable free-VRAM query
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("MemAvailable:", 0) == 0) {
            std::istringstream s(line.substr(13));
            uint64_t kb = 0;
            s >> kb;
            return kb * 1024;
        }
    }
    return 0;
}

std::string formatGiB(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
    return buf;
}

PreflightVerdict preflight(const ModelConfig& model, int microBatch, int seqLen, bool bf16Activations,
                           uint64_t available) {
    PreflightVerdict v;
    v.estimate = estimateTrainingMemory(model, microBatch, seqLen, bf16Activations);
    v.available = available;
    for (int mb = microBatch; mb >= 1; --mb) {
        if (available == 0 || estimateTrainingMemory(model, mb, seqLen, bf16Activations).total() <= available * 9 / 10) {
            v.suggestedMicroBatch = mb;
            break;
        }
    }
    const MemoryEstimate& e = v.estimate;
    std::string numbers = "needs about " + formatGiB(e.total()) + " (weights " + formatGiB(e.weights) +
                          ", gradients " + formatGiB(e.gradients) + ", optimizer " + formatGiB(e.optimizer) +
                          ", activations " + formatGiB(e.activations) + " for micro-batch " +
                          std::to_string(microBatch) + " x " + std::to_string(seqLen) + " tokens)";
    if (available == 0) {
        v.kind = PreflightVerdict::Fits;
        v.message = numbers + "; free memory on this device is unknown";
    } else if (e.total() > available) {
        v.kind = PreflightVerdict::DoesNotFit;
        v.message = numbers + ", but only " + formatGiB(available) + " is free" +
                    (v.suggestedMicroBatch > 0 ? "; micro-batch " + std::to_string(v.suggestedMicroBatch) + " would fit"
                                               : "; even micro-batch 1 does not fit");
    } else if (e.total() > available * 8 / 10) {
        v.kind = PreflightVerdict::Tight;
        v.message = numbers + " of " + formatGiB(available) + " free: tight" +
                    (v.suggestedMicroBatch > 0 && v.suggestedMicroBatch < microBatch
                         ? "; micro-batch " + std::to_string(v.suggestedMicroBatch) + " leaves headroom" : "");
    } else {
        v.kind = PreflightVerdict::Fits;
        v.message = numbers + " of " + formatGiB(available) + " free";
    }
    return v;
}

} // namespace swarm
