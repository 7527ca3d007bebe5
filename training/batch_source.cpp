#include "training/batch_source.h"

#include "training/packed_corpus.h"
#include "training/train_config.h"

#include "core/error.h"
#include "core/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <numeric>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

namespace {

std::string absoluteOrEmpty(const std::string& path) { return path.empty() ? std::string() : fs::absolute(path).string(); }

// Fine-tuning: the examples of a dataset. Right-padded with <|endoftext|>; labels -100 over the
// prompt and the padding.
class ExampleBatches : public BatchSource {
public:
    ExampleBatches(const TrainingData& data, int64_t blockSize) : data_(data) {
        for (const TrainingExample& e : data_.train) {
            if (int64_t(e.ids.size()) > blockSize)
                throw Error("training example " + std::to_string(e.exampleId) + " has " + std::to_string(e.ids.size()) +
                            " tokens, more than the model's context of " + std::to_string(blockSize));
            if (e.ids.size() < 2) throw Error("training example " + std::to_string(e.exampleId) + " has fewer than 2 tokens");
            lengths_.push_back(int32_t(e.ids.size()));
        }
    }
    int64_t trainSequences() const override { return int64_t(data_.train.size()); }
    int64_t longestSequence() const override {
        return lengths_.empty() ? 0 : *std::max_element(lengths_.begin(), lengths_.end());
    }
    std::vector<GlobalBatch> planEpoch(int globalBatch, int microBatch, uint64_t seed, int epoch) const override {
        return swarm::planEpoch(lengths_, globalBatch, microBatch, seed, epoch);
    }
    int64_t labelledTokens(int32_t i) const override {
        const TrainingExample& e = data_.train[size_t(i)];
        return std::max<int64_t>(0, int64_t(e.ids.size()) - std::max<int64_t>(e.promptLen, 1));
    }
    MicroTensors trainBatch(const MicroBatch& members, const torch::Device& device) const override {
        return tensorsOf(data_.train, members, device);
    }
    std::vector<MicroBatch> validationPlan(int microBatch, int limit) const override {
        // The first `limit` examples, by length: little padding.
        const size_t n = std::min<size_t>(data_.validation.size(), size_t(std::max(limit, 0)));
        std::vector<int32_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
            return data_.validation[size_t(a)].ids.size() < data_.validation[size_t(b)].ids.size();
        });
        std::vector<MicroBatch> plan;
        for (size_t start = 0; start < n; start += size_t(microBatch))
            plan.emplace_back(order.begin() + long(start), order.begin() + long(std::min(n, start + size_t(microBatch))));
        return plan;
    }
    MicroTensors validationBatch(const MicroBatch& members, const torch::Device& device) const override {
        return tensorsOf(data_.validation, members, device);
    }
    uint64_t fingerprint() const override { return data_.fingerprint(); }
    json describe() const override {
        return json{{"name", data_.datasetName},
                    {"id", data_.datasetId},
                    {"project", absoluteOrEmpty(data_.projectPath)},
                    {"train_examples", data_.train.size()},
                    {"validation_examples", data_.validation.size()},
                    {"fingerprint", std::to_string(fingerprint())}};
    }
    const char* manifestKey() const override { return "dataset"; }

private:
    static MicroTensors tensorsOf(const std::vector<TrainingExample>& examples, const MicroBatch& members,
                                  const torch::Device& device) {
        int64_t T = 0;
        for (int32_t i : members) T = std::max<int64_t>(T, int64_t(examples[size_t(i)].ids.size()));
        const int64_t B = int64_t(members.size());
        torch::Tensor ids = torch::full({B, T}, int64_t(Gpt2Tokenizer::kEndOfText), torch::kInt64);
        torch::Tensor labels = torch::full({B, T}, int64_t(-100), torch::kInt64);
        auto idsA = ids.accessor<int64_t, 2>();
        auto labelsA = labels.accessor<int64_t, 2>();
        MicroTensors m;
        for (int64_t b = 0; b < B; ++b) {
            const TrainingExample& e = examples[size_t(members[size_t(b)])];
            for (size_t t = 0; t < e.ids.size(); ++t) {
                idsA[b][int64_t(t)] = e.ids[t];
                if (int64_t(t) >= e.promptLen) labelsA[b][int64_t(t)] = e.ids[t];
            }
            m.realTokens += int64_t(e.ids.size());
        }
        m.ids = ids.to(device);
        m.labels = labels.to(device);
        return m;
    }

    const TrainingData& data_;
    std::vector<int32_t> lengths_;
};

// Pre-training: windows of the context over the corpus's training stream, in the epoch order
// of PackedCorpus (whole windows per micro-batch, consecutive in that order).
class PackedBatches : public BatchSource {
public:
    PackedBatches(const TrainingData& data, int context) : data_(data), packed_(data.corpus, context) {
        if (packed_.trainTokens() < uint64_t(context))
            throw Error("corpus '" + data_.corpusName + "' has " + std::to_string(packed_.trainTokens()) +
                        " training tokens, fewer than one window of the context (" + std::to_string(context) +
                        "): import more text or train with a shorter --context");
        if (packed_.count() > std::numeric_limits<int32_t>::max())
            throw Error("corpus '" + data_.corpusName + "' has " + std::to_string(packed_.count()) + " windows of " +
                        std::to_string(context) + " tokens, more than a run can index (2^31 - 1): use a longer context");
    }
    int64_t trainSequences() const override { return packed_.count(); }
    int64_t longestSequence() const override { return packed_.context(); }
    std::vector<GlobalBatch> planEpoch(int globalBatch, int microBatch, uint64_t seed, int epoch) const override {
        const std::vector<int64_t> order = packed_.epochOrder(seed, epoch);
        std::vector<GlobalBatch> plan;
        for (size_t start = 0; start < order.size(); start += size_t(globalBatch)) {
            const size_t end = std::min(order.size(), start + size_t(globalBatch));
            GlobalBatch batch;
            for (size_t m = start; m < end; m += size_t(microBatch)) {
                MicroBatch micro;
                for (size_t k = m; k < std::min(end, m + size_t(microBatch)); ++k) micro.push_back(int32_t(order[k]));
                batch.push_back(std::move(micro));
            }
            plan.push_back(std::move(batch));
        }
        return plan;
    }
    int64_t labelledTokens(int32_t i) const override { return std::max<int64_t>(0, packed_.windowTokens(i) - 1); }
    MicroTensors trainBatch(const MicroBatch& members, const torch::Device& device) const override {
        return tensorsOf(members, device, false);
    }
    std::vector<MicroBatch> validationPlan(int microBatch, int limit) const override {
        const int64_t n = std::min<int64_t>(packed_.validationCount(), std::max(limit, 0));
        std::vector<MicroBatch> plan;
        for (int64_t start = 0; start < n; start += microBatch) {
            MicroBatch micro;
            for (int64_t k = start; k < std::min(n, start + int64_t(microBatch)); ++k) micro.push_back(int32_t(k));
            plan.push_back(std::move(micro));
        }
        return plan;
    }
    MicroTensors validationBatch(const MicroBatch& members, const torch::Device& device) const override {
        return tensorsOf(members, device, true);
    }
    uint64_t fingerprint() const override { return packed_.fingerprint(); }
    json describe() const override {
        const TextCorpus& c = packed_.corpus();
        return json{{"name", data_.corpusName},
                    {"id", data_.corpusId},
                    {"project", absoluteOrEmpty(data_.projectPath)},
                    {"folder", c.folder()},
                    {"checksum", TokenChecksum::hex(c.checksum())},
                    {"context", packed_.context()},
                    {"train_tokens", packed_.trainTokens()},
                    {"validation_tokens", packed_.validationTokens()},
                    {"train_windows", packed_.count()},
                    {"validation_windows", packed_.validationCount()},
                    {"fingerprint", std::to_string(fingerprint())}};
    }
    const char* manifestKey() const override { return "corpus"; }

private:
    MicroTensors tensorsOf(const MicroBatch& members, const torch::Device& device, bool validation) const {
        const int64_t B = int64_t(members.size()), T = packed_.context();
        std::vector<int32_t> ids(size_t(B * T)), labels(size_t(B * T));
        MicroTensors m;
        for (int64_t b = 0; b < B; ++b) {
            const int64_t w = members[size_t(b)];
            if (validation) packed_.validationWindow(w, ids.data() + b * T, labels.data() + b * T);
            else packed_.window(w, ids.data() + b * T, labels.data() + b * T);
            m.realTokens += validation ? packed_.validationWindowTokens(w) : packed_.windowTokens(w);
        }
        m.ids = torch::from_blob(ids.data(), {B, T}, torch::kInt32).to(torch::kInt64).to(device);
        m.labels = torch::from_blob(labels.data(), {B, T}, torch::kInt32).to(torch::kInt64).to(device);
        return m;
    }

    const TrainingData& data_;
    PackedCorpus packed_;
};

} // namespace

int64_t pretrainContext(const TrainConfig& config, int64_t blockSize) {
    return config.context > 0 ? config.context : blockSize;
}

std::unique_ptr<BatchSource> makeBatchSource(const TrainingData& data, const TrainConfig& config, int64_t blockSize) {
    if (!data.pretraining()) return std::make_unique<ExampleBatches>(data, blockSize);
    const int64_t context = pretrainContext(config, blockSize);
    if (context > blockSize)
        throw Error("the pre-training context of " + std::to_string(context) + " tokens is longer than the model's (" +
                    std::to_string(blockSize) + "): pass --context " + std::to_string(blockSize) + " or less");
    return std::make_unique<PackedBatches>(data, int(context));
}

} // namespace swarm
