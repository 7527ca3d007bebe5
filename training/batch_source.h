#pragma once
// The sequences a run trains on, behind one interface so that the training loop does not know
// the objective:
//   fine-tuning  a dataset's examples, prompt masked, planned by batch_plan.h (length-bucketed
//                micro-batches, right-padded to the longest member);
//   pre-training packed windows of a corpus (training/packed_corpus.h): every window the
//                context long, no masking, the epoch's order from PackedCorpus::epochOrder.
// A plan is a pure function of (seed, epoch), so a step number is a position in the data:
// checkpoints and resume need nothing more.
#include "training/batch_plan.h"
#include "training/training_data.h"

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace swarm {

struct TrainConfig;

// One micro-batch as tensors [B, T]: ids, and labels with -100 where no loss is taken (prompt,
// padding). realTokens: the tokens that are not padding.
struct MicroTensors {
    torch::Tensor ids, labels;
    int64_t realTokens = 0;
};

class BatchSource {
public:
    virtual ~BatchSource() = default;

    // Training sequences per epoch (examples, or windows).
    virtual int64_t trainSequences() const = 0;
    // The longest sequence a micro-batch can hold (the memory pre-flight's length).
    virtual int64_t longestSequence() const = 0;
    virtual std::vector<GlobalBatch> planEpoch(int globalBatch, int microBatch, uint64_t seed, int epoch) const = 0;
    // Predictions that carry loss in training sequence i: labels at positions 1..L-1 that are not -100.
    virtual int64_t labelledTokens(int32_t i) const = 0;
    virtual MicroTensors trainBatch(const MicroBatch& members, const torch::Device& device) const = 0;

    // Validation over at most `limit` held-out sequences, as micro-batches (empty: none held out).
    virtual std::vector<MicroBatch> validationPlan(int microBatch, int limit) const = 0;
    virtual MicroTensors validationBatch(const MicroBatch& members, const torch::Device& device) const = 0;

    // Identifies the sequences and their split: a resumed run refuses other data.
    virtual uint64_t fingerprint() const = 0;
    // run.json's "dataset" or "corpus" object (what ranks of a job must agree on, and the
    // project that holds the data).
    virtual nlohmann::json describe() const = 0;
    // The manifest key of describe(): "dataset" or "corpus".
    virtual const char* manifestKey() const = 0;
};

// Pre-training: the window length a run of `config` uses on a model of context `blockSize`.
int64_t pretrainContext(const TrainConfig& config, int64_t blockSize);

// The batch source for `data` under `config` on a model of context `blockSize`. Throws
// swarm::Error when an example is longer than the model's context or shorter than 2 tokens, when
// the pre-training context is longer than the model's, or when a corpus has fewer training tokens
// than one window.
std::unique_ptr<BatchSource> makeBatchSource(const TrainingData& data, const TrainConfig& config, int64_t blockSize);

} // namespace swarm
