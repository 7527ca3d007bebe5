#pragma once
// GPT-2 byte-level BPE, written here. Loads the classic pair (vocab.json + merges.txt) or a
// Hugging Face tokenizer.json with a BPE model. Encoding follows GPT-2 exactly: the pre-tokeniser
// pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ , bytes mapped
// to printable unicode characters, then BPE merges by rank. "<|endoftext|>" in the text is the
// special token 50256 when allowSpecial is true.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace swarm {

class Gpt2Tokenizer {
public:
    static constexpr int32_t kEndOfText = 50256;

    // Throws swarm::Error naming the file and line/field on malformed input.
    static Gpt2Tokenizer fromVocabAndMerges(const std::string& vocabJsonPath, const std::string& mergesTxtPath);
    static Gpt2Tokenizer fromTokenizerJson(const std::string& tokenizerJsonPath);
    // From tokens already in memory (a GGUF file's metadata): (byte-level token, id) pairs and
    // "a b" merges in rank order. Errors name `source` and mergesField[i].
    static Gpt2Tokenizer fromTokens(std::vector<std::pair<std::string, int64_t>> vocab,
                                    const std::vector<std::string>& merges, const std::string& source,
                                    const std::string& mergesField);
    // The copy shipped in resources/tokenizer (found next to the executable, in the install
    // prefix, or in the source tree); throws if none is found.
    static Gpt2Tokenizer bundled();

    std::vector<int32_t> encode(std::string_view text, bool allowSpecial = true) const;
    std::string decode(const std::vector<int32_t>& ids) const;    // invalid ids throw swarm::Error
    std::string tokenBytes(int32_t id) const;                      // raw bytes of one token
    const std::string& tokenString(int32_t id) const;              // byte-level form, as in vocab.json
    int32_t vocabSize() const { return int32_t(idToToken_.size()); }   // 50257 for GPT-2
    const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }

    // Writes a Hugging Face tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder).
    std::string toTokenizerJson() const;

private:
    static constexpr uint64_t kEmptyKey = ~uint64_t(0);
    struct MergeSlot {                 // open-addressing hash table entry for a merge
        uint64_t key = kEmptyKey;      // (left id << 32) | right id
        int32_t rank = 0;
        int32_t merged = 0;
    };
    struct AddedToken {                // "added_tokens" entry, kept for toTokenizerJson()
        int32_t id = 0;
        std::string content;
        bool singleWord = false, lstrip = false, rstrip = false, normalized = true, special = true;
    };

    // Fills idToToken_/tokenToId_ from (token, id) pairs; `source` names the file in errors.
    void setVocab(std::vector<std::pair<std::string, int64_t>>&& entries, const std::string& source);
    // Derives the token bytes, checks the byte-level alphabet and <|endoftext|>, builds the merge
    // table. mergeLines[i] is the merges.txt line of merge i (empty: tokenizer.json, "merges[i]").
    void buildTables(const std::string& vocabSource, const std::string& mergesSource,
                     const std::vector<int32_t>& mergeLines, const std::string& mergesField = "model.merges");
    bool findMerge(int32_t left, int32_t right, int32_t& rank, int32_t& merged) const;
    void encodeOrdinary(std::string_view text, std::vector<int32_t>& out) const;
    void bpe(std::string_view word, std::vector<int32_t>& out) const;
    void bpeLong(std::string_view word, std::vector<int32_t>& out) const;
    static uint64_t newInstanceId();

    std::vector<std::string> idToToken_;          // byte-level form; empty = no token has this id
    std::vector<std::string> idToBytes_;          // raw bytes of each token
    std::unordered_map<std::string, int32_t> tokenToId_;
    std::vector<std::pair<std::string, std::string>> merges_;
    std::vector<MergeSlot> mergeTable_;           // size is a power of two, at most half full
    uint64_t mergeMask_ = 0;
    int32_t byteToId_[256] = {};                  // id of the one-byte token of each byte
    int32_t endOfTextId_ = -1;
    std::vector<AddedToken> addedTokens_;
    // Distinguishes tokenizers in the per-thread word cache of encode() (copies share it: same
    // tables). encode() keeps no other mutable state, so it is safe to call from many threads.
    uint64_t instanceId_ = newInstanceId();
};

} // namespace swarm
