#pragma once
// Importing raw text for pre-training: plain text files, folders of them (recursively), and
// JSONL/JSON/CSV/TSV/Parquet files with a text field, into one corpus (datasets/text_corpus.h).
//
// Streamed: the sources are read in pieces (a plain text file in pieces of about 1 MiB cut where
// the GPT-2 pre-tokeniser would cut anyway, so the tokens equal those of the whole file; a record
// file one record at a time), tokenised on every core in order-preserving batches and appended to
// the token file, so memory is bounded by two batches whatever the corpus size. Each document (a
// text file, or one record) ends with <|endoftext|>; "<|endoftext|>" written in the text itself
// is ordinary text. The held-out validation slice is whole documents, chosen by the seed: each
// document gets a seeded random score, and documents are held out in score order until the
// requested share of the tokens is reached (at least one document, never all of them).
//
// Files that cannot be used (binary, not UTF-8, UTF-16, empty, unreadable, a record file without
// the text field) are skipped and listed with the reason; bad records (malformed, no text field,
// not a string, empty) likewise. The corpus folder is written under a temporary name and renamed
// when complete, and the project row is committed with it: an error (disk full, nothing usable),
// or a cancel leaves neither the folder nor the row.
#include "core/error.h"
#include "core/project_store.h"
#include "datasets/corpus_store.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm {

class Gpt2Tokenizer;

struct CorpusImportProgress {
    uint64_t bytesRead = 0, bytesTotal = 0;     // of the source files
    int64_t filesDone = 0, filesTotal = 0;
    int64_t documents = 0, tokens = 0;
    double seconds = 0;
};

// Thrown when CorpusImportOptions::cancel is set; nothing was written.
class CorpusImportCancelled : public Error {
public:
    CorpusImportCancelled() : Error("corpus import cancelled; nothing was written") {}
};

struct CorpusImportOptions {
    std::string name;                           // the corpus (and its folder's) name
    std::vector<std::string> inputs;            // files and folders
    std::string textField = "text";             // a field path (meta.text, turns[0]) for record files
    // The held-out validation slice, whole documents: a share of the tokens, or a token count
    // when validationTokens >= 0 (0: none).
    double validationFraction = 0.01;
    int64_t validationTokens = -1;
    uint64_t seed = 42;
    int threads = 0;                            // tokenising threads; 0: every core
    std::string tokenizerSource = "bundled GPT-2";   // for the manifest
    size_t maxRecordBytes = size_t(64) << 20;   // a larger record is skipped
    size_t pieceBytes = size_t(1) << 20;        // plain text is tokenised in pieces of about this size
    std::function<void(const CorpusImportProgress&)> progress;
    const std::atomic<bool>* cancel = nullptr;
};

struct SkippedSource {
    std::string path;
    std::string reason;
};

struct CorpusImportResult {
    CorpusInfo info;                            // the project row
    std::string folder;                         // the corpus folder (absolute)
    nlohmann::json manifest;                    // corpus.json
    std::vector<SkippedSource> skippedFiles;
    int64_t skippedRecords = 0;
    std::vector<std::string> warnings;
    double seconds = 0;
    double tokensPerSecond = 0;
    int64_t textBytes = 0;                      // UTF-8 bytes of the documents' text
};

// Throws swarm::Error naming the input and the cause: a path that does not exist or cannot be
// read, a name that is taken or not a folder name, options out of range, nothing usable in the
// inputs (listing why each file was skipped), a write that fails (disk full); and
// CorpusImportCancelled. In every case nothing is left behind.
CorpusImportResult importCorpus(ProjectStore& project, const Gpt2Tokenizer& tokenizer, const CorpusImportOptions& options);

// Removes the corpus's row and its folder.
void deleteCorpus(ProjectStore& project, const std::string& name);

} // namespace swarm
