#pragma once
// The pre-training view over a text corpus (datasets/text_corpus.h): packed windows of the
// context length, read in place from the memory-mapped token file (nothing is copied into memory
// but the few runs of documents). Torch-free (swarm_packing).
//
// The training stream is the corpus's training documents concatenated in corpus order, each one
// closed by <|endoftext|> (50256), which therefore marks every document boundary. Window i of a
// context T covers the stream's tokens [i*T, (i+1)*T): ids are those tokens and labels equal the
// ids (no masking: the model's shifted loss makes position t predict token t + 1). The last window
// is padded past the stream's end with <|endoftext|> labelled -100. So an epoch of count()
// windows uses every training token exactly once. The validation stream (the held-out documents,
// in corpus order) is packed the same way.
//
//   PackedCorpus data = PackedCorpus::open(corpusFolder, 2048);
//   std::vector<int64_t> order = data.epochOrder(seed, epoch);    // a permutation of the windows
//   std::vector<int32_t> ids(2048), labels(2048);
//   data.window(order[k], ids.data(), labels.data());
//
// Thread-safe once opened: window() only reads the mapping.
#include "datasets/text_corpus.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace swarm {

class PackedCorpus {
public:
    // The label of padding positions past the end of a stream.
    static constexpr int32_t kIgnoreLabel = -100;

    // Throws swarm::Error when the folder is not a valid corpus (TextCorpus::open) or context < 2.
    static PackedCorpus open(const std::string& corpusFolder, int context);
    PackedCorpus(std::shared_ptr<const TextCorpus> corpus, int context);

    int context() const { return context_; }
    const TextCorpus& corpus() const { return *corpus_; }
    uint64_t trainTokens() const { return train_.tokens; }
    uint64_t validationTokens() const { return validation_.tokens; }

    // Training windows per epoch: ceil(trainTokens / context).
    int64_t count() const { return windowsOf(train_); }
    // ids and labels each receive context() values.
    void window(int64_t i, int32_t* ids, int32_t* labels) const { fill(train_, i, ids, labels); }
    // The real (not padding) tokens of window i: context(), or fewer for the last window.
    int64_t windowTokens(int64_t i) const { return tokensOf(train_, i); }

    // The validation stream's windows, the same way (0 when the corpus holds no documents out).
    int64_t validationCount() const { return windowsOf(validation_); }
    void validationWindow(int64_t i, int32_t* ids, int32_t* labels) const { fill(validation_, i, ids, labels); }
    int64_t validationWindowTokens(int64_t i) const { return tokensOf(validation_, i); }

    // The training windows' order in epoch `epoch` (0-based): a permutation of [0, count()), the
    // same for the same (seed, epoch) everywhere, a different one for another epoch or seed.
    std::vector<int64_t> epochOrder(uint64_t seed, int64_t epoch) const;

    // Identifies the tokens (the corpus checksum), the split and the context: a run resumed on
    // anything else must refuse it.
    uint64_t fingerprint() const;

private:
    // A run of documents of one stream that lie back to back in the token file.
    struct Run {
        uint64_t streamStart = 0;     // the run's first token in the stream
        uint64_t fileStart = 0;       // ... and in the token file
        uint64_t length = 0;
    };
    struct Stream {
        std::vector<Run> runs;        // by streamStart
        uint64_t tokens = 0;
    };

    int64_t windowsOf(const Stream& s) const;
    int64_t tokensOf(const Stream& s, int64_t i) const;
    void fill(const Stream& s, int64_t i, int32_t* ids, int32_t* labels) const;

    std::shared_ptr<const TextCorpus> corpus_;
    int context_ = 0;
    Stream train_, validation_;
};

} // namespace swarm
