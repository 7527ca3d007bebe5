#pragma once
// A text corpus for pre-training: every document tokenised once, kept in one memory-mapped token
// file with a document index, written once by the corpus import (datasets/corpus_import.h) and
// shared by every run that trains on it. The project keeps one row per corpus (corpus_store.h);
// the files live next to the project file, in <project>.corpora/<name>/:
//
//   tokens.bin   the token ids of every document in source order, each document closed by
//                <|endoftext|> (50256). Raw little-endian uint16, no header: token t is at byte
//                2 * t (numpy.memmap(path, dtype='<u2') reads it as it is). The GPT-2 vocabulary
//                (50257 ids) fits; a tokenizer with more than 65536 ids is refused.
//   docs.idx     a 64-byte header, then one 32-byte entry per document, all little-endian:
//                  header  0  char[8] magic "SWDOCIX1"
//                          8  u32 version (1)
//                         12  u32 entry size in bytes (32)
//                         16  u64 documents        24  u64 tokens (tokens.bin holds 2 * tokens bytes)
//                         32  u64 train documents  40  u64 train tokens
//                         48  u64 validation documents  56  u64 validation tokens
//                  entry   0  u64 first token (index into tokens.bin)
//                          8  u64 token count, the closing <|endoftext|> included (>= 1)
//                         16  u64 record: the 1-based record of a JSONL/JSON/Parquet source, 0 for
//                             a plain text file (one file, one document)
//                         24  u32 source: index into corpus.json "sources"
//                         28  u32 flags: bit 0 set = a held-out validation document
//                Entries are in token order: entry i + 1 starts where entry i ends, the last one
//                ends at the file's end.
//   corpus.json  the manifest: name, tokenizer (with its fingerprint), counts, the validation rule,
//                every source file with its documents and tokens, the files and records skipped
//                with their reasons, warnings, the import's speed, and the token file's checksum
//                (checksumTokens below, as 16 hex digits).
//
// A corpus folder appears whole or not at all: the import writes a temporary folder and renames
// it when complete.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the corpus files are little-endian and used in place from their mapping"
#endif

namespace swarm {

class Gpt2Tokenizer;

namespace corpus_format {
constexpr char kIndexMagic[8] = {'S', 'W', 'D', 'O', 'C', 'I', 'X', '1'};
constexpr uint32_t kIndexVersion = 1;
constexpr size_t kIndexHeaderBytes = 64;
constexpr size_t kIndexEntryBytes = 32;
constexpr uint32_t kFlagValidation = 1;
constexpr const char* kTokensFile = "tokens.bin";
constexpr const char* kIndexFile = "docs.idx";
constexpr const char* kManifestFile = "corpus.json";
constexpr const char* kManifestFormat = "swarm-text-corpus";
constexpr int kManifestVersion = 1;
constexpr int32_t kMaxTokenId = 65535;

// The index entry as it lies in the file (32 bytes, little-endian).
struct IndexEntry {
    uint64_t firstToken;
    uint64_t tokenCount;
    uint64_t record;
    uint32_t source;
    uint32_t flags;
};
static_assert(sizeof(IndexEntry) == kIndexEntryBytes, "docs.idx entries are 32 bytes");

struct IndexHeader {
    char magic[8];
    uint32_t version;
    uint32_t entryBytes;
    uint64_t documents, tokens;
    uint64_t trainDocuments, trainTokens;
    uint64_t validationDocuments, validationTokens;
};
static_assert(sizeof(IndexHeader) == kIndexHeaderBytes, "the docs.idx header is 64 bytes");
} // namespace corpus_format

// The checksum of a token file: a 64-bit hash of its bytes taken 8 at a time (a final partial
// word zero-padded, the length mixed in last), the same on every platform.
class TokenChecksum {
public:
    void update(const void* data, size_t bytes);
    uint64_t value() const;                    // of everything given so far
    static std::string hex(uint64_t v);        // 16 lower-case hex digits

private:
    uint64_t h_ = 0x243F6A8885A308D3ull;
    uint64_t length_ = 0;
    unsigned char tail_[8] = {};
    size_t tailLen_ = 0;
};

// Identifies a tokenizer's vocabulary and merges (16 hex digits): corpora and models must agree.
std::string tokenizerFingerprint(const Gpt2Tokenizer& tokenizer);

// A corpus name is also its folder's name: 1-100 of A-Z a-z 0-9 . _ -, not starting with '.'.
// Throws swarm::Error saying what is wrong.
void checkCorpusName(const std::string& name);
// <project>.corpora: the folder holding a project's corpora.
std::string corporaFolderOf(const std::string& projectPath);

struct CorpusDocument {
    uint64_t firstToken = 0;
    uint64_t tokenCount = 0;      // with the closing <|endoftext|>
    uint64_t record = 0;
    uint32_t source = 0;
    bool validation = false;
};

// A corpus folder opened for reading: tokens.bin and docs.idx mapped read-only, corpus.json
// parsed. Opening checks the manifest, the header, the file sizes and that the entries tile the
// token file (not the tokens themselves: verify() reads them). Thread-safe once opened.
class TextCorpus {
public:
    // Throws swarm::Error naming the file and what is wrong with it.
    static TextCorpus open(const std::string& folder);

    TextCorpus(TextCorpus&& o) noexcept;
    TextCorpus& operator=(TextCorpus&& o) noexcept;
    TextCorpus(const TextCorpus&) = delete;
    TextCorpus& operator=(const TextCorpus&) = delete;
    ~TextCorpus();

    const std::string& folder() const { return folder_; }
    const nlohmann::json& manifest() const { return manifest_; }
    std::string name() const;

    uint64_t tokenCount() const { return header_.tokens; }
    uint64_t documentCount() const { return header_.documents; }
    uint64_t trainTokens() const { return header_.trainTokens; }
    uint64_t trainDocuments() const { return header_.trainDocuments; }
    uint64_t validationTokens() const { return header_.validationTokens; }
    uint64_t validationDocuments() const { return header_.validationDocuments; }
    uint64_t checksum() const { return checksum_; }            // as recorded in the manifest
    std::string tokenizerFingerprint() const;                 // as recorded in the manifest

    const uint16_t* tokens() const { return tokens_; }         // tokenCount() ids
    CorpusDocument document(uint64_t i) const;                 // i < documentCount()

    // Reads every token: the checksum matches the manifest, every document ends with
    // <|endoftext|> and holds no other. Throws swarm::Error on the first mismatch.
    void verify() const;

private:
    TextCorpus() = default;
    void release();

    std::string folder_;
    nlohmann::json manifest_;
    corpus_format::IndexHeader header_{};
    uint64_t checksum_ = 0;
    const uint16_t* tokens_ = nullptr;
    size_t tokensMapBytes_ = 0;
    const unsigned char* index_ = nullptr;
    size_t indexMapBytes_ = 0;
};

// Reads the manifest of a corpus folder (small) without mapping the data files.
nlohmann::json readCorpusManifest(const std::string& folder);

} // namespace swarm
