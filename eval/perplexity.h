#pragma once
// Perplexity of a model on raw text (issue 20), WikiText-2 style, with the CPU engine (no
// LibTorch): the text's tokens, preceded by one <|endoftext|> so that every token of the text has
// something to be predicted from (as lm-evaluation-harness does), are scored by a sliding window.
// The first window sees `context` tokens and scores all of them; each next window starts `stride`
// tokens later and scores only the tokens no window scored before (so every token is scored
// exactly once, after the first window with at least context - stride tokens before it).
//
//   perplexity = exp(total NLL / tokens)      bits per byte = total NLL / ln 2 / UTF-8 bytes
//
// NLL is -log softmax over the model's whole vocabulary (its padding rows included, as training's
// cross-entropy), in nats. The text is a UTF-8 file (one document) or the held-out validation
// slice of a project corpus (its documents in order, each closed by <|endoftext|>, which is then
// scored too). Results are stored in the project's evaluation tables beside the task metrics and
// reused for the same model files, text and settings; `swarm compare` shows them as columns.
#include "eval/harness.h"

#include "core/error.h"
#include "core/project_store.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm {
class Gpt2Tokenizer;
class TextCorpus;
namespace engine {
class Model;
}
} // namespace swarm

namespace swarm::eval {

struct PerplexitySettings {
    int context = 0;                 // tokens a window sees; 0: the model's block_size
    int stride = 0;                  // tokens between window starts; 0: context / 2
    int threads = 0;                 // engine threads; 0: all cores
    std::string dtype;               // engine weight type; empty: as stored
    // The fields that change results (the reuse key): context, stride and dtype as given.
    nlohmann::json key() const;
};

// One window of the sliding evaluation over a sequence s[0..T] (s[0] the leading <|endoftext|>):
// the model reads inputs s[begin, end) and the window scores the predictions made at positions
// [scoredFrom, end), i.e. the targets s[scoredFrom + 1 .. end].
struct PerplexityWindow {
    int64_t begin = 0, end = 0, scoredFrom = 0;
};
// The windows for T targets; 1 <= stride <= context. Throws swarm::Error otherwise.
std::vector<PerplexityWindow> perplexityWindows(int64_t targets, int context, int stride);

// What is scored, before it is read: enough to find a stored result.
struct PerplexitySource {
    std::string kind;                // "file" or "corpus"
    std::string name;                // for tables: the file name, or the corpus name
    std::string path;                // the file, or the corpus folder
    std::string fingerprint;         // the file's path, size and mtime; the corpus's checksum
};
// Throws swarm::Error naming the file when it does not exist or is not a regular file.
PerplexitySource perplexityFile(const std::string& path);
// Throws naming the project when it has no such corpus, or the corpus holds no documents out.
PerplexitySource perplexityCorpus(const ProjectStore& project, const std::string& corpusName);

// The token sequence s[0..size()) of a source: <|endoftext|>, then the text's tokens.
class PerplexityText {
public:
    // A file is tokenised with the model's tokenizer (throws naming the file when it is empty,
    // binary or not UTF-8); a corpus's tokens are read in place (throws when its tokenizer is not
    // the model's).
    static PerplexityText load(const PerplexitySource& source, const Gpt2Tokenizer& modelTokenizer);
    // From ids already tokenised (tests); ids excludes the leading <|endoftext|>.
    static PerplexityText fromTokens(std::vector<int32_t> ids, int64_t bytes);

    int64_t size() const { return size_; }
    int64_t targets() const { return size_ - 1; }
    int64_t bytes() const { return bytes_; }       // UTF-8 bytes the targets spell (EOS: none)
    void read(int64_t begin, int64_t n, int32_t* out) const;

private:
    struct Run {
        int64_t start = 0;           // position in the sequence
        uint64_t fileStart = 0;      // first token in the corpus's token file
        uint64_t length = 0;
    };
    std::vector<int32_t> ids_;                     // a file's sequence, whole
    std::shared_ptr<const TextCorpus> corpus_;     // or the corpus's validation documents
    std::vector<Run> runs_;
    int64_t size_ = 0;
    int64_t bytes_ = 0;
};

struct PerplexityResult {
    int64_t id = 0;                  // the stored row (0: not stored)
    std::string modelName, modelPath, modelKind, modelFingerprint;
    PerplexitySource source;
    nlohmann::json settings;         // PerplexitySettings::key()
    int context = 0, stride = 0;     // as used
    int64_t tokens = 0;              // targets scored
    int64_t bytes = 0;
    int64_t windows = 0;
    int64_t inputTokens = 0;         // tokens read by the model (windows overlap)
    double nll = 0;                  // total, nats
    double meanNll = 0;
    double perplexity = 0;
    double bitsPerByte = 0;
    double seconds = 0;
    std::string createdAt;
    bool reused = false;             // found stored
    nlohmann::json toJson() const;
};

struct PerplexityProgress {
    int64_t windows = 0, totalWindows = 0;
    int64_t tokens = 0, totalTokens = 0;   // scored so far
    double elapsedSeconds = 0;
};

struct PerplexityCallbacks {
    std::function<void(const PerplexityProgress&)> progress;
    const std::atomic<bool>* cancel = nullptr;   // checked between chunks
    std::function<void(const std::string&)> log;
};

// Thrown when PerplexityCallbacks::cancel is set; nothing is stored.
class PerplexityCancelled : public Error {
public:
    PerplexityCancelled() : Error("perplexity evaluation cancelled; nothing was stored") {}
};

// Scores text with a loaded engine model (nothing stored). Fills the numbers of the result.
PerplexityResult computePerplexity(const engine::Model& model, const PerplexityText& text,
                                   const PerplexitySettings& settings, const PerplexityCallbacks& callbacks = {});

// Resolves the model (resolveModel), reuses a stored result of the same model files, source and
// settings when `project` is given, else loads the model, computes and stores (when `project`).
PerplexityResult evaluatePerplexity(ProjectStore* project, const std::string& model, const PerplexitySource& source,
                                    const PerplexitySettings& settings, const PerplexityCallbacks& callbacks = {});

// The stored results of a model (by its fingerprint), newest first.
std::vector<PerplexityResult> storedPerplexities(ProjectStore& project, const std::string& modelFingerprint);
// The newest stored perplexity of a model on each text, as comparison values:
// "ppl:FILE_NAME" for a file, "ppl:corpus:NAME" for a corpus's validation slice.
std::map<std::string, double> perplexityValues(ProjectStore& project, const std::string& modelFingerprint);

// The perplexity tables' migration of the "evaluation" line (eval_store.cpp registers it).
void registerPerplexityMigration();

} // namespace swarm::eval
