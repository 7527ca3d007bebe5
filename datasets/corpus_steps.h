#pragma once
// The steps of importCorpus, internal to swarm_datasets: finding the source files
// (corpus_sources.cpp), reading them as pieces of document text (corpus_readers.cpp), writing
// the token file and the index (corpus_writer.cpp), choosing the validation documents
// (corpus_split.cpp). corpus_import.cpp runs them.
#include "datasets/corpus_import.h"
#include "datasets/dataset_reader.h"
#include "datasets/field_path.h"
#include "datasets/text_corpus.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace swarm::corpus_steps {

// ---------------------------------------------------------------------------------------------
// Sources

enum class SourceKind { Text, Records };

struct SourceFile {
    std::string path;
    SourceKind kind = SourceKind::Text;
    uint64_t bytes = 0;
};

struct SourceListing {
    std::vector<SourceFile> files;              // in the order given; a folder's files sorted by path
    std::vector<SkippedSource> skipped;         // not regular files, unreadable entries
    int64_t hiddenSkipped = 0;                  // names starting with '.' inside folders (.git, ...)
    uint64_t bytesTotal = 0;
};

// Expands the inputs: files as they are, folders recursively. Throws swarm::Error for an input
// that does not exist or cannot be read, and for a folder with no files at all.
SourceListing listSources(const std::vector<std::string>& inputs);

// ---------------------------------------------------------------------------------------------
// Cutting text into pieces that tokenise as the whole does

// The length of the first piece of `text` of at most `limit` bytes: it ends just before an ASCII
// whitespace byte that follows a printable ASCII byte. The GPT-2 pre-tokeniser always splits
// there (a piece of letters, digits or symbols ends at whitespace, and the whitespace run starts a
// new piece whose split depends only on what follows), so the pieces' tokens are the text's.
// With no such place in the first `limit` bytes, the piece ends at the last UTF-8 character
// boundary within the limit and *cutInsideWord is set (its tokens may then differ at the cut).
// Returns text.size() when it fits in the limit.
size_t firstPieceLength(std::string_view text, size_t limit, bool* cutInsideWord);

// ---------------------------------------------------------------------------------------------
// Reading sources as pieces of documents

// A piece of document text with its place in the corpus; tokenised as one unit.
struct TextPiece {
    std::string text;
    uint32_t file = 0;                 // index into SourceListing::files
    uint64_t record = 0;               // 1-based record of a record file; 0 for a text file
    bool endsDocument = false;         // <|endoftext|> follows this piece
    bool discardsDocument = false;     // no text: the open document is dropped (its file failed)
    std::vector<int32_t> ids;          // filled by the tokeniser
};

struct SkippedRecord {
    uint32_t file = 0;
    int64_t record = 0, line = 0;
    std::string reason, detail;
};

// Reads the source files one after the other and hands out their pieces in order. Skipped files
// and records are collected here.
class PieceReader {
public:
    PieceReader(const SourceListing& sources, const CorpusImportOptions& options);
    ~PieceReader();

    // Appends pieces to `out` until about `maxBytes` of text or `maxPieces` pieces; false once
    // every source is read (out may still have received pieces).
    bool read(std::vector<TextPiece>& out, size_t maxBytes, size_t maxPieces);

    uint64_t bytesConsumed() const;    // of all the files so far
    int64_t filesDone() const { return int64_t(fileIndex_); }
    const std::vector<SkippedSource>& skippedFiles() const { return skippedFiles_; }
    int64_t skippedRecords() const { return skippedRecordCount_; }
    const std::vector<SkippedRecord>& skippedRecordSample() const { return skippedRecordSample_; }
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    class PlainText;
    bool openNextFile();
    void closeFile();
    void skipFile(const std::string& reason);
    void skipRecord(const SourceRecord& rec, const std::string& reason, const std::string& detail);
    // One record file's next record as pieces; false at its end.
    bool readRecord(std::vector<TextPiece>& out, size_t& bytes);
    // One plain text file's next piece; false at its end.
    bool readTextPiece(std::vector<TextPiece>& out, size_t& bytes);
    void addPieces(std::vector<TextPiece>& out, std::string_view text, uint64_t record, size_t& bytes);

    const SourceListing& sources_;
    const CorpusImportOptions& options_;
    FieldPath field_;
    size_t fileIndex_ = 0;             // the file being read (== files.size() when done)
    bool fileOpen_ = false;
    uint64_t doneBytes_ = 0;           // bytes of the files already finished
    std::unique_ptr<PlainText> text_;
    std::unique_ptr<RecordReader> records_;
    SourceRecord record_;
    std::vector<SkippedSource> skippedFiles_;
    int64_t skippedRecordCount_ = 0;
    std::vector<SkippedRecord> skippedRecordSample_;
    std::vector<std::string> warnings_;
};

constexpr size_t kSkippedRecordSample = 100;

// ---------------------------------------------------------------------------------------------
// Writing the token file and the index

struct SourceTally {
    uint32_t file = 0;                 // index into SourceListing::files
    uint64_t documents = 0, tokens = 0;
};

// Appends documents to tokens.bin and docs.idx in `folder` (created empty by the caller).
// Every failed write throws swarm::Error naming the file ("disk full" for ENOSPC).
class CorpusWriter {
public:
    explicit CorpusWriter(const std::string& folder);
    ~CorpusWriter();
    CorpusWriter(const CorpusWriter&) = delete;
    CorpusWriter& operator=(const CorpusWriter&) = delete;

    // Token ids of the open document (each must fit uint16, the caller checked the vocabulary).
    void append(const std::vector<int32_t>& ids);
    // Closes the open document with <|endoftext|> and writes its index entry.
    void endDocument(uint32_t file, uint64_t record);
    // Drops the open document's tokens (its file turned out unusable).
    void discardDocument();

    uint64_t documents() const { return documents_; }
    uint64_t tokens() const { return flushedTokens_ + buffer_.size(); }
    // Files that gave documents, in order of their first document; index = docs.idx "source".
    const std::vector<SourceTally>& sources() const { return sources_; }

    // Flushes both files (the index header still blank); then the index can be marked.
    void flush();
    int indexFd() const { return indexFd_; }
    const std::string& indexPath() const { return indexPath_; }
    // The checksum of tokens.bin as written, read back from the file.
    uint64_t checksumTokens() const;
    // Writes the header and fsyncs both files.
    void finish(const corpus_format::IndexHeader& header);

private:
    void flushTokens();
    void flushEntries();

    std::string tokensPath_, indexPath_;
    int tokensFd_ = -1, indexFd_ = -1;
    std::vector<uint16_t> buffer_;              // tokens not yet written
    uint64_t flushedTokens_ = 0;                // tokens in the file
    uint64_t documentStart_ = 0;                // first token of the open document
    std::vector<corpus_format::IndexEntry> entries_;   // entries not yet written
    uint64_t documents_ = 0;
    std::vector<SourceTally> sources_;
    int64_t lastFile_ = -1;
};

// "disk full (No space left on device)" for ENOSPC, strerror otherwise.
std::string describeWriteError(int err);

// ---------------------------------------------------------------------------------------------
// The validation slice

// A document's seeded score in [0, 2^64): documents are held out in increasing score order.
uint64_t documentScore(uint64_t seed, uint64_t document);

struct ValidationChoice {
    uint64_t documents = 0, tokens = 0;
};

// Flags whole documents of the index (read and written through indexFd, entries after the
// 64-byte header) as validation in score order until `targetTokens` are held out: at least one
// document when targetTokens > 0, never every document. Memory: a 65536-bucket histogram and
// the documents of one bucket.
ValidationChoice markValidationDocuments(int indexFd, const std::string& indexPath, uint64_t documents,
                                         uint64_t targetTokens, uint64_t seed);

} // namespace swarm::corpus_steps
