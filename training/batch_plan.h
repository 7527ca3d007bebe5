#pragma once
// Which examples go into which optimiser step and micro-batch. An epoch is a seeded permutation
// cut into global batches; inside a global batch, examples are sorted by length and cut into
// micro-batches, so sequences of similar length share a micro-batch and little padding is wasted.
// The gradient of a step does not depend on how its global batch is split (the loss is
// normalised over the whole global batch), so bucketing changes speed, not results.
#include <cstdint>
#include <vector>

namespace swarm {

using MicroBatch = std::vector<int32_t>;             // indices into the training examples
using GlobalBatch = std::vector<MicroBatch>;

// lengths[i]: token count of example i. The same (seed, epoch) always gives the same plan.
std::vector<GlobalBatch> planEpoch(const std::vector<int32_t>& lengths, int globalBatch, int microBatch,
                                   uint64_t seed, int epoch);

int64_t stepsPerEpoch(int64_t examples, int globalBatch);

// Data parallelism: rank r of W computes micro-batches r, r+W, r+2W... of each global batch.
// Whole micro-batches, so that every micro-batch (its padding, its load-balancing loss) is the
// one a single process computes; round-robin over the length-sorted list spreads long and short
// ones over the ranks. A rank may get none when the batch has fewer micro-batches than ranks.
GlobalBatch rankShare(const GlobalBatch& batch, int rank, int worldSize);

// Padding share of a plan: padded tokens / all tokens in the micro-batch tensors.
double paddingShare(const std::vector<GlobalBatch>& plan, const std::vector<int32_t>& lengths);

} // namespace swarm
