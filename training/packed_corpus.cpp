#include "training/packed_corpus.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/tokenizer.h"

#include <algorithm>
#include <numeric>

namespace swarm {

PackedCorpus PackedCorpus::open(const std::string& corpusFolder, int context) {
    return PackedCorpus(std::make_shared<const TextCorpus>(TextCorpus::open(corpusFolder)), context);
}

PackedCorpus::PackedCorpus(std::shared_ptr<const TextCorpus> corpus, int context)
    : corpus_(std::move(corpus)), context_(context) {
    if (!corpus_) throw Error("packing needs a corpus");
    if (context < 2) throw Error("the context must be at least 2 tokens, got " + std::to_string(context));
    // Consecutive documents of the same stream merge into one run.
    for (uint64_t d = 0; d < corpus_->documentCount(); ++d) {
        const CorpusDocument doc = corpus_->document(d);
        Stream& s = doc.validation ? validation_ : train_;
        if (!s.runs.empty() && s.runs.back().fileStart + s.runs.back().length == doc.firstToken) {
            s.runs.back().length += doc.tokenCount;
        } else {
            s.runs.push_back(Run{s.tokens, doc.firstToken, doc.tokenCount});
        }
        s.tokens += doc.tokenCount;
    }
    if (train_.tokens == 0) throw Error(corpus_->folder() + ": the corpus has no training documents");
}

int64_t PackedCorpus::windowsOf(const Stream& s) const {
    return int64_t((s.tokens + uint64_t(context_) - 1) / uint64_t(context_));
}

int64_t PackedCorpus::tokensOf(const Stream& s, int64_t i) const {
    if (i < 0 || i >= windowsOf(s)) return 0;
    const uint64_t begin = uint64_t(i) * uint64_t(context_);
    return int64_t(std::min<uint64_t>(uint64_t(context_), s.tokens - begin));
}

void PackedCorpus::fill(const Stream& s, int64_t i, int32_t* ids, int32_t* labels) const {
    if (i < 0 || i >= windowsOf(s))
        throw Error("window " + std::to_string(i) + " is out of range (the stream has " + std::to_string(windowsOf(s)) +
                    " windows of " + std::to_string(context_) + " tokens)");
    uint64_t pos = uint64_t(i) * uint64_t(context_);
    const uint64_t end = std::min<uint64_t>(pos + uint64_t(context_), s.tokens);
    // The run holding `pos`: the last one starting at or before it.
    auto run = std::upper_bound(s.runs.begin(), s.runs.end(), pos,
                                [](uint64_t p, const Run& r) { return p < r.streamStart; }) - 1;
    const uint16_t* tokens = corpus_->tokens();
    int t = 0;
    while (pos < end) {
        const uint64_t offset = pos - run->streamStart;
        const uint64_t n = std::min<uint64_t>(run->length - offset, end - pos);
        const uint16_t* src = tokens + run->fileStart + offset;
        for (uint64_t k = 0; k < n; ++k, ++t) ids[t] = labels[t] = int32_t(src[k]);
        pos += n;
        ++run;
    }
    for (; t < context_; ++t) {
        ids[t] = Gpt2Tokenizer::kEndOfText;
        labels[t] = kIgnoreLabel;
    }
}

std::vector<int64_t> PackedCorpus::epochOrder(uint64_t seed, int64_t epoch) const {
    std::vector<int64_t> order(static_cast<size_t>(count()));
    std::iota(order.begin(), order.end(), int64_t(0));
    SplitMix64 rng(SplitMix64(seed).next() ^ SplitMix64(uint64_t(epoch) ^ 0xE90C5EEDull).next());
    for (size_t k = order.size(); k > 1; --k) std::swap(order[k - 1], order[size_t(rng.below(k))]);
    return order;
}

uint64_t PackedCorpus::fingerprint() const {
    TokenChecksum h;
    auto add = [&](uint64_t v) { h.update(&v, sizeof v); };
    add(corpus_->checksum());
    add(corpus_->tokenCount());
    add(uint64_t(context_));
    for (const Stream* s : {&train_, &validation_}) {
        add(s->tokens);
        add(s->runs.size());
        for (const Run& r : s->runs) {
            add(r.streamStart);
            add(r.fileStart);
            add(r.length);
        }
    }
    return h.value();
}

} // namespace swarm
