#include "training/batch_plan.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace swarm {

int64_t stepsPerEpoch(int64_t examples, int globalBatch) {
    return (examples + globalBatch - 1) / globalBatch;
}

std::vector<GlobalBatch> planEpoch(const std::vector<int32_t>& lengths, int globalBatch, int microBatch,
                                   uint64_t seed, int epoch) {
    std::vector<int32_t> order(lengths.size());
    std::iota(order.begin(), order.end(), 0);
    // std::shuffle's algorithm is implementation-defined; Fisher-Yates with mt19937_64 is not.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
    for (size_t i = order.size(); i > 1; --i) {
        size_t j = size_t(rng() % i);
        std::swap(order[i - 1], order[j]);
    }
    std::vector<GlobalBatch> plan;
    for (size_t start = 0; start < order.size(); start += size_t(globalBatch)) {
        size_t end = std::min(order.size(), start + size_t(globalBatch));
        std::vector<int32_t> members(order.begin() + long(start), order.begin() + long(end));
        std::stable_sort(members.begin(), members.end(),
                         [&](int32_t a, int32_t b) { return lengths[size_t(a)] < lengths[size_t(b)]; });
        GlobalBatch batch;
        for (size_t m = 0; m < members.size(); m += size_t(microBatch)) {
            size_t mEnd = std::min(members.size(), m + size_t(microBatch));
            batch.emplace_back(members.begin() + long(m), members.begin() + long(mEnd));
        }
        plan.push_back(std::move(batch));
    }
    return plan;
}

GlobalBatch rankShare(const GlobalBatch& batch, int rank, int worldSize) {
    GlobalBatch share;
    for (size_t i = size_t(rank); i < batch.size(); i += size_t(worldSize)) share.push_back(batch[i]);
    return share;
}

double paddingShare(const std::vector<GlobalBatch>& plan, const std::vector<int32_t>& lengths) {
    double real = 0, total = 0;
    for (const GlobalBatch& g : plan)
        for (const MicroBatch& m : g) {
            int32_t longest = 0;
            for (int32_t i : m) {
                longest = std::max(longest, lengths[size_t(i)]);
                real += lengths[size_t(i)];
            }
            total += double(longest) * double(m.size());
        }
    return total > 0 ? 1.0 - real / total : 0.0;
}

} // namespace swarm
