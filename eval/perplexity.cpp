// Perplexity on raw text: the sliding windows, the text to score (a file or a corpus's
// validation documents), and the scoring itself on the engine. The tables: perplexity_store.cpp.
#include "eval/perplexity.h"

#include "datasets/corpus_store.h"
#include "datasets/dataset_reader.h"
#include "datasets/text_corpus.h"
#include "engine/engine.h"

#include "core/error.h"
#include "core/tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace swarm::eval {

namespace fs = std::filesystem;
using nlohmann::json;

json PerplexitySettings::key() const { return json{{"context", context}, {"stride", stride}, {"dtype", dtype}}; }

std::vector<PerplexityWindow> perplexityWindows(int64_t targets, int context, int stride) {
    if (context < 1) throw Error("the perplexity context must be at least 1 token, got " + std::to_string(context));
    if (stride < 1 || stride > context)
        throw Error("the perplexity stride must be between 1 and the context (" + std::to_string(context) + "), got " +
                    std::to_string(stride));
    std::vector<PerplexityWindow> windows;
    int64_t scored = 0;   // predictions made so far: targets 1..scored
    for (int64_t begin = 0; scored < targets; begin += stride) {
        const int64_t end = std::min<int64_t>(begin + context, targets);
        if (end <= scored) continue;
        windows.push_back(PerplexityWindow{begin, end, scored});
        scored = end;
    }
    return windows;
}

// ---------------------------------------------------------------------------------------------
// Sources

PerplexitySource perplexityFile(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error("text file " + path + " does not exist");
    if (!fs::is_regular_file(path, ec)) throw Error(path + " is not a file (give a UTF-8 text file to --perplexity)");
    const fs::path abs = fs::absolute(path, ec).lexically_normal();
    PerplexitySource s;
    s.kind = "file";
    s.name = abs.filename().string();
    s.path = abs.string();
    s.fingerprint = "file:" + s.path + ":" + std::to_string(fs::file_size(abs, ec)) + ":" +
                    std::to_string(fs::last_write_time(abs, ec).time_since_epoch().count());
    return s;
}

PerplexitySource perplexityCorpus(const ProjectStore& project, const std::string& corpusName) {
    CorpusStore store(project);
    const CorpusInfo info = store.corpus(corpusName);
    if (info.validationDocuments == 0)
        throw Error("corpus '" + info.name + "' holds no validation documents (import it with --validation-fraction)");
    PerplexitySource s;
    s.kind = "corpus";
    s.name = info.name;
    s.path = store.folderOf(info);
    s.fingerprint = "corpus:" + info.name + ":" + info.checksum;
    return s;
}

// ---------------------------------------------------------------------------------------------
// The text

namespace {

std::string readWholeFile(const std::string& path) {
    constexpr uint64_t kLimit = uint64_t(1) << 30;
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (ec) throw Error("cannot read " + path + ": " + ec.message());
    if (size > kLimit)
        throw Error(path + " is " + std::to_string(size) + " bytes: over 1 GiB (import it as a corpus with swarm corpus import and use --corpus)");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    std::string text(size_t(size), '\0');
    size_t got = 0;
    while (got < text.size()) {
        const ssize_t r = ::read(fd, text.data() + got, text.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += size_t(r);
    }
    ::close(fd);
    text.resize(got);
    return text;
}

} // namespace

PerplexityText PerplexityText::load(const PerplexitySource& source, const Gpt2Tokenizer& tok) {
    PerplexityText t;
    if (source.kind == "file") {
        std::string text = readWholeFile(source.path);
        if (text.compare(0, 3, "\xef\xbb\xbf") == 0) text.erase(0, 3);
        if (text.empty()) throw Error(source.path + " is empty: there is no text to score");
        if (const void* nul = std::memchr(text.data(), 0, text.size()))
            throw Error(source.path + " is binary (a NUL byte at offset " +
                        std::to_string(static_cast<const char*>(nul) - text.data()) + "), not UTF-8 text");
        size_t bad = 0;
        if (!isValidUtf8(text, &bad))
            throw Error(source.path + " is not UTF-8 text (an invalid byte at offset " + std::to_string(bad) + ")");
        t.ids_.reserve(text.size() / 3 + 2);
        t.ids_.push_back(Gpt2Tokenizer::kEndOfText);
        const std::vector<int32_t> ids = tok.encode(text, false);
        t.ids_.insert(t.ids_.end(), ids.begin(), ids.end());
        t.size_ = int64_t(t.ids_.size());
        t.bytes_ = int64_t(text.size());
        return t;
    }
    if (source.kind != "corpus") throw Error("unknown perplexity source kind '" + source.kind + "'");
    t.corpus_ = std::make_shared<const TextCorpus>(TextCorpus::open(source.path));
    const TextCorpus& c = *t.corpus_;
    const std::string modelTokenizer = tokenizerFingerprint(tok);
    if (c.tokenizerFingerprint() != modelTokenizer)
        throw Error("corpus '" + c.name() + "' was tokenised with another tokenizer (fingerprint " +
                    c.tokenizerFingerprint() + ") than the model's (" + modelTokenizer + ")");
    std::vector<int64_t> tokenBytes(size_t(tok.vocabSize()), 0);
    for (int32_t id = 0; id < tok.vocabSize(); ++id)
        if (id != Gpt2Tokenizer::kEndOfText) tokenBytes[size_t(id)] = int64_t(tok.tokenBytes(id).size());
    int64_t pos = 1;   // after the leading <|endoftext|>
    for (uint64_t d = 0; d < c.documentCount(); ++d) {
        const CorpusDocument doc = c.document(d);
        if (!doc.validation) continue;
        if (!t.runs_.empty() && t.runs_.back().fileStart + t.runs_.back().length == doc.firstToken)
            t.runs_.back().length += doc.tokenCount;
        else
            t.runs_.push_back(Run{pos, doc.firstToken, doc.tokenCount});
        pos += int64_t(doc.tokenCount);
        const uint16_t* p = c.tokens() + doc.firstToken;
        for (uint64_t k = 0; k < doc.tokenCount; ++k)
            if (p[k] < tokenBytes.size()) t.bytes_ += tokenBytes[p[k]];
    }
    if (t.runs_.empty()) throw Error("corpus '" + c.name() + "' holds no validation documents");
    t.size_ = pos;
    return t;
}

PerplexityText PerplexityText::fromTokens(std::vector<int32_t> ids, int64_t bytes) {
    PerplexityText t;
    t.ids_.reserve(ids.size() + 1);
    t.ids_.push_back(Gpt2Tokenizer::kEndOfText);
    t.ids_.insert(t.ids_.end(), ids.begin(), ids.end());
    t.size_ = int64_t(t.ids_.size());
    t.bytes_ = bytes;
    return t;
}

void PerplexityText::read(int64_t begin, int64_t n, int32_t* out) const {
    if (begin < 0 || n < 0 || begin + n > size_) throw Error("perplexity text: read past the end");
    if (!corpus_) {
        std::copy(ids_.begin() + begin, ids_.begin() + begin + n, out);
        return;
    }
    int64_t pos = begin;
    if (pos == 0 && n > 0) {
        *out++ = Gpt2Tokenizer::kEndOfText;
        ++pos;
    }
    auto run = std::upper_bound(runs_.begin(), runs_.end(), pos, [](int64_t p, const Run& r) { return p < r.start; }) - 1;
    const uint16_t* tokens = corpus_->tokens();
    while (pos < begin + n) {
        const int64_t offset = pos - run->start;
        const int64_t take = std::min<int64_t>(int64_t(run->length) - offset, begin + n - pos);
        const uint16_t* src = tokens + run->fileStart + uint64_t(offset);
        for (int64_t k = 0; k < take; ++k) *out++ = int32_t(src[k]);
        pos += take;
        ++run;
    }
}

// ---------------------------------------------------------------------------------------------
// Scoring

namespace {

// -log softmax(logits)[target], in double.
double negativeLogProb(const float* logits, int n, int32_t target) {
    float mx = logits[0];
    for (int i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - double(mx));
    return std::log(sum) - (double(logits[target]) - double(mx));
}

} // namespace

PerplexityResult computePerplexity(const engine::Model& model, const PerplexityText& text, const PerplexitySettings& s,
                                   const PerplexityCallbacks& cb) {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    const int blockSize = int(model.config().block_size);
    const int context = s.context > 0 ? s.context : blockSize;
    if (context > blockSize)
        throw Error("the perplexity context " + std::to_string(context) + " is longer than the model's block_size " +
                    std::to_string(blockSize));
    const int stride = s.stride > 0 ? s.stride : std::max(1, context / 2);
    if (text.targets() < 1) throw Error("the text has no tokens to score");
    const std::vector<PerplexityWindow> windows = perplexityWindows(text.targets(), context, stride);

    engine::SessionOptions so;
    so.context = context;
    so.maxBatch = std::min(context, 128);
    engine::Session session(model, so);
    const int vocab = session.vocabSize();
    const int chunk = session.maxBatch();
    std::vector<int32_t> ids(size_t(context) + 1);

    PerplexityResult r;
    r.context = context;
    r.stride = stride;
    r.tokens = text.targets();
    r.bytes = text.bytes();
    r.windows = int64_t(windows.size());
    int64_t scored = 0;
    for (size_t w = 0; w < windows.size(); ++w) {
        const PerplexityWindow& win = windows[w];
        if (cb.cancel && cb.cancel->load()) throw PerplexityCancelled();
        const int n = int(win.end - win.begin);
        text.read(win.begin, n + 1, ids.data());        // the inputs and the last target
        session.reset();
        const int lead = int(win.scoredFrom - win.begin);
        if (lead > 0) session.prefill(ids.data(), lead, false);
        for (int a = lead; a < n; a += chunk) {
            if (cb.cancel && cb.cancel->load()) throw PerplexityCancelled();
            const int b = std::min(n, a + chunk);
            session.prefill(ids.data() + a, b - a, true);
            const float* logits = session.allLogits().data();
            for (int p = a; p < b; ++p) r.nll += negativeLogProb(logits + size_t(p - a) * size_t(vocab), vocab, ids[size_t(p) + 1]);
        }
        r.inputTokens += n;
        scored += win.end - win.scoredFrom;
        if (cb.progress) {
            PerplexityProgress p;
            p.windows = int64_t(w) + 1;
            p.totalWindows = r.windows;
            p.tokens = scored;
            p.totalTokens = r.tokens;
            p.elapsedSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
            cb.progress(p);
        }
    }
    r.meanNll = r.nll / double(r.tokens);
    r.perplexity = std::exp(r.meanNll);
    r.bitsPerByte = r.bytes > 0 ? r.nll / std::log(2.0) / double(r.bytes) : 0;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return r;
}

} // namespace swarm::eval
