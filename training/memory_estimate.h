#pragma once
// Pre-flight: will this run fit? Weights + gradients + AdamW state + activations of one
// micro-batch, against the memory this machine (or GPU) has free.
#include "core/model_config.h"

#include <cstdint>
#include <string>

namespace swarm {

struct MemoryEstimate {
    uint64_t weights = 0, gradients = 0, optimizer = 0, activations = 0;
    uint64_t total() const { return weights + gradients + optimizer + activations; }
};

// Activations are estimated from the tensors autograd keeps per token and layer (attention
// scores grow with the sequence length) plus the logits over the vocabulary, with 20% headroom.
MemoryEstimate estimateTrainingMemory(const ModelConfig& model, int microBatch, int seqLen, bool bf16Activations);

// Bytes available for a run on `device` ("cpu": MemAvailable from /proc/meminfo). 0 = unknown.
uint64_t availableMemory(const std::string& device);

struct PreflightVerdict {
    enum Kind { Fits, Tight, DoesNotFit } kind = Fits;
    MemoryEstimate estimate;
    uint64_t available = 0;
    int suggestedMicroBatch = 0;    // largest micro-batch that fits (0: none does)
    std::string message;            // numbers in GiB, and the suggestion
};

PreflightVerdict preflight(const ModelConfig& model, int microBatch, int seqLen, bool bf16Activations,
                           uint64_t available);

std::string formatGiB(uint64_t bytes);

} // namespace swarm
