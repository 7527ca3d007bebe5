#include "core/tokenizer.h"

#include "core/error.h"
#include "core/resources.h"
#include "core/unicode_tables.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

namespace swarm {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using unicode::CharClass;

constexpr const char* kEndOfTextString = "<|endoftext|>";
constexpr int64_t kMaxTokenId = (int64_t(1) << 24) - 1;    // sanity bound on ids read from files

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet: GPT-2 maps every byte to a printable code point so that BPE works on
// strings. Printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards in order.

void appendUtf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

struct ByteLevel {
    static constexpr char32_t kCodePoints = 256 + 68;
    std::string utf8[256];          // byte -> its code point, UTF-8 encoded
    int16_t byteOf[kCodePoints];    // code point -> byte, -1 when none

    ByteLevel() {
        std::fill(std::begin(byteOf), std::end(byteOf), int16_t(-1));
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char32_t cp = printable ? char32_t(b) : next++;
            appendUtf8(utf8[b], cp);
            byteOf[cp] = int16_t(b);
        }
    }
};

const ByteLevel& byteLevel() {
    static const ByteLevel table;
    return table;
}

// ---------------------------------------------------------------------------------------------
// UTF-8 decoding, strict: overlong forms, surrogates and values above U+10FFFF are invalid.
// Returns the sequence length (an invalid byte is a sequence of length 1, cp = kInvalid).

constexpr char32_t kInvalid = 0xFFFFFFFFu;   // classifies as Other

inline int decodeUtf8(const unsigned char* p, const unsigned char* end, char32_t& cp) {
    unsigned char b0 = p[0];
    auto cont = [&](int i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (cont(1)) {
            cp = (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
            return 2;
        }
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (cont(1) && cont(2)) {
            char32_t v = (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
                cp = v;
                return 3;
            }
        }
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (cont(1) && cont(2) && cont(3)) {
            char32_t v = (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
                         (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
            if (v >= 0x10000 && v <= 0x10FFFF) {
                cp = v;
                return 4;
            }
        }
    }
    cp = kInvalid;
    return 1;
}

inline CharClass classAt(const unsigned char* p, const unsigned char* end, int& len) {
    if (*p < 0x80) {
        len = 1;
        return unicode::kAsciiClass[*p];
    }
    char32_t cp;
    len = decodeUtf8(p, end, cp);
    return unicode::classifySlow(cp);
}

// ---------------------------------------------------------------------------------------------
// GPT-2 pre-tokeniser, the regex
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// as a scanner. Alternatives are tried in order at each position; the pieces cover the text.
// emit(begin, end) is called for each piece, in order.

template <typename Emit>
void splitWords(std::string_view text, Emit&& emit) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char c = *p;
        // 's 't 're 've 'm 'll 'd: case-sensitive, ASCII apostrophe only.
        if (c == '\'' && p + 1 < end) {
            const unsigned char c1 = p[1];
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                emit(p, p + 2);
                p += 2;
                continue;
            }
            if (p + 2 < end) {
                const unsigned char c2 = p[2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                    emit(p, p + 3);
                    p += 3;
                    continue;
                }
            }
        }
        int len;
        CharClass cls = classAt(p, end, len);
        const unsigned char* q = p;   // where the run of letters / numbers / others starts
        if (c == ' ' && p + 1 < end) {
            int len2;
            CharClass next = classAt(p + 1, end, len2);
            if (next != CharClass::Space) {   // " ?" takes the space
                q = p + 1;
                cls = next;
                len = len2;
            }
        }
        if (cls != CharClass::Space) {
            // ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+  -- greedy run of one class
            const unsigned char* r = q + len;
            while (r < end) {
                const unsigned char b = *r;
                if (b < 0x80) {
                    if (unicode::kAsciiClass[b] != cls) break;
                    ++r;
                } else {
                    int l2;
                    if (classAt(r, end, l2) != cls) break;
                    r += l2;
                }
            }
            emit(p, r);
            p = r;
            continue;
        }
        // \s+(?!\S) | \s+ : the whitespace run; when something other than whitespace follows and
        // the run has several characters, its last one is left to start the next piece.
        const unsigned char* r = p;
        const unsigned char* last = p;
        while (r < end) {
            int l2;
            if (classAt(r, end, l2) != CharClass::Space) break;
            last = r;
            r += l2;
        }
        const unsigned char* stop = (r == end || last == p) ? r : last;
        emit(p, stop);
        p = stop;
    }
}

// ---------------------------------------------------------------------------------------------
// Per-thread cache of encoded words (pre-tokenisation pieces), keyed by the word's bytes. It is
// thread_local, so encode() shares no mutable state between threads. It belongs to one tokenizer
// at a time (owner = instance id) and is emptied when another one uses it or when it fills up.

inline uint64_t hashBytes(const unsigned char* p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t(n) * 0xD6E8FEB86659FD93ull);
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h;
}

struct WordCache {
    static constexpr uint32_t kSlots = 1u << 16;        // power of two
    static constexpr uint32_t kMaxEntries = kSlots / 2;
    static constexpr size_t kMaxWordBytes = 64;        // longer words are not cached
    struct Slot {
        uint64_t hash;
        uint32_t keyOffset;
        uint32_t valueOffset;
        uint16_t keyLength;
        uint16_t valueLength;
        uint32_t generation;     // valid when equal to the cache's generation
    };

    uint64_t owner = 0;
    uint32_t generation = 0;
    uint32_t entries = 0;
    std::vector<Slot> slots;
    std::string keys;
    std::vector<int32_t> values;

    void reset(uint64_t newOwner) {
        owner = newOwner;
        entries = 0;
        keys.clear();
        values.clear();
        if (slots.empty() || ++generation == 0) {
            slots.assign(kSlots, Slot{0, 0, 0, 0, 0, 0});
            generation = 1;
        }
    }
};

thread_local WordCache tlWordCache;

// ---------------------------------------------------------------------------------------------
// File and JSON helpers; every error names the file.

std::string quoteToken(const std::string& s) {
    std::string shown = s.size() > 60 ? s.substr(0, 60) + "..." : s;
    return json(shown).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string readFile(const std::string& path, const char* what) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(std::string(what) + " " + path + " does not exist");
    if (fs::is_directory(path, ec)) throw Error(std::string(what) + " " + path + " is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(std::string("cannot open ") + what + " " + path + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(std::string("cannot read ") + what + " " + path);
    return std::move(ss).str();
}

json parseJson(const std::string& text, const std::string& path) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw Error(path + ": malformed JSON: " + e.what());
    }
}

// "a b" -> (a, b); false unless exactly two non-empty parts separated by one space.
bool splitMerge(std::string_view line, std::pair<std::string, std::string>& out) {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size()) return false;
    if (line.find(' ', sp + 1) != std::string_view::npos) return false;
    out.first.assign(line.substr(0, sp));
    out.second.assign(line.substr(sp + 1));
    return true;
}

inline uint64_t mergeKey(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

inline uint64_t mergeHash(uint64_t key) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

} // namespace

// =============================================================================================
// Loading

uint64_t Gpt2Tokenizer::newInstanceId() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
}

void Gpt2Tokenizer::setVocab(std::vector<std::pair<std::string, int64_t>>&& entries, const std::string& source) {
    int64_t maxId = -1;
    for (const auto& [token, id] : entries) {
        if (token.empty()) throw Error(source + ": the vocab contains an empty token string");
        if (id < 0 || id > kMaxTokenId)
            throw Error(source + ": token " + quoteToken(token) + " has out-of-range id " + std::to_string(id));
        maxId = std::max(maxId, id);
    }
    if (maxId < 0) throw Error(source + ": the vocab is empty");
    idToToken_.assign(size_t(maxId + 1), std::string());
    tokenToId_.clear();
    tokenToId_.reserve(entries.size());
    for (auto& [token, id] : entries) {
        std::string& slot = idToToken_[size_t(id)];
        if (!slot.empty())
            throw Error(source + ": id " + std::to_string(id) + " is used by both " + quoteToken(slot) + " and " +
                        quoteToken(token));
        if (!tokenToId_.emplace(token, int32_t(id)).second)
            throw Error(source + ": token " + quoteToken(token) + " appears twice");
        slot = std::move(token);
    }
}

void Gpt2Tokenizer::buildTables(const std::string& vocabSource, const std::string& mergesSource,
                                const std::vector<int32_t>& mergeLines, const std::string& mergesField) {
    const ByteLevel& bl = byteLevel();

    // Raw bytes of each token: its characters mapped back through the byte-level alphabet. A token
    // with characters outside it (an added token such as "<|im_start|>" with a space) is its text.
    idToBytes_.assign(idToToken_.size(), std::string());
    for (size_t id = 0; id < idToToken_.size(); ++id) {
        const std::string& tok = idToToken_[id];
        const auto* p = reinterpret_cast<const unsigned char*>(tok.data());
        const auto* end = p + tok.size();
        std::string bytes;
        bytes.reserve(tok.size());
        bool byteLevelForm = true;
        while (p < end) {
            char32_t cp;
            p += decodeUtf8(p, end, cp);
            if (cp >= ByteLevel::kCodePoints || bl.byteOf[cp] < 0) {
                byteLevelForm = false;
                break;
            }
            bytes += char(bl.byteOf[cp]);
        }
        idToBytes_[id] = byteLevelForm ? std::move(bytes) : tok;
    }

    for (int b = 0; b < 256; ++b) {
        auto it = tokenToId_.find(bl.utf8[b]);
        if (it == tokenToId_.end()) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", b);
            throw Error(vocabSource + ": the vocab lacks the byte-level token " + quoteToken(bl.utf8[b]) + " for byte " +
                        hex + " (not a GPT-2 byte-level BPE vocab?)");
        }
        byteToId_[b] = it->second;
    }

    auto eot = tokenToId_.find(kEndOfTextString);
    if (eot == tokenToId_.end()) throw Error(vocabSource + ": the vocab has no <|endoftext|> token");
    endOfTextId_ = eot->second;
    bool eotListed = false;
    for (const AddedToken& t : addedTokens_) eotListed |= t.id == endOfTextId_;
    if (!eotListed) {
        AddedToken t;
        t.id = endOfTextId_;
        t.content = kEndOfTextString;
        addedTokens_.push_back(t);
    }
    std::sort(addedTokens_.begin(), addedTokens_.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });

    // Merge table: open addressing with linear probing, at most half full.
    if (merges_.size() > size_t(INT32_MAX / 4)) throw Error(mergesSource + ": too many merges");
    size_t capacity = 16;
    while (capacity < merges_.size() * 2 + 2) capacity *= 2;
    mergeTable_.assign(capacity, MergeSlot());
    mergeMask_ = capacity - 1;
    auto where = [&](size_t i) {
        return mergeLines.empty() ? mergesField + "[" + std::to_string(i) + "]" : "line " + std::to_string(mergeLines[i]);
    };
    for (size_t i = 0; i < merges_.size(); ++i) {
        const auto& [a, b] = merges_[i];
        auto ia = tokenToId_.find(a);
        if (ia == tokenToId_.end())
            throw Error(mergesSource + ": merge at " + where(i) + " names unknown token " + quoteToken(a));
        auto ib = tokenToId_.find(b);
        if (ib == tokenToId_.end())
            throw Error(mergesSource + ": merge at " + where(i) + " names unknown token " + quoteToken(b));
        auto im = tokenToId_.find(a + b);
        if (im == tokenToId_.end())
            throw Error(mergesSource + ": merge at " + where(i) + " makes " + quoteToken(a + b) +
                        ", which is not in the vocab");
        const uint64_t key = mergeKey(ia->second, ib->second);
        size_t h = mergeHash(key) & mergeMask_;
        while (mergeTable_[h].key != kEmptyKey && mergeTable_[h].key != key) h = (h + 1) & mergeMask_;
        // A repeated merge takes its later rank, as in the reference implementations.
        mergeTable_[h].key = key;
        mergeTable_[h].rank = int32_t(i);
        mergeTable_[h].merged = im->second;
    }
}

Gpt2Tokenizer Gpt2Tokenizer::fromVocabAndMerges(const std::string& vocabJsonPath, const std::string& mergesTxtPath) {
    Gpt2Tokenizer tok;
    {
        json vocab = parseJson(readFile(vocabJsonPath, "vocab file"), vocabJsonPath);
        if (!vocab.is_object()) throw Error(vocabJsonPath + ": expected a JSON object mapping tokens to ids");
        std::vector<std::pair<std::string, int64_t>> entries;
        entries.reserve(vocab.size());
        for (auto it = vocab.begin(); it != vocab.end(); ++it) {
            if (!it.value().is_number_integer())
                throw Error(vocabJsonPath + ": token " + quoteToken(it.key()) + " has a non-integer id " + it.value().dump());
            entries.emplace_back(it.key(), it.value().get<int64_t>());
        }
        tok.setVocab(std::move(entries), vocabJsonPath);
    }

    const std::string text = readFile(mergesTxtPath, "merges file");
    std::vector<int32_t> lines;
    size_t pos = 0;
    int32_t lineNo = 0;
    std::pair<std::string, std::string> merge;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string_view line(text.data() + pos, nl - pos);
        pos = nl + 1;
        ++lineNo;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        if (lineNo == 1 && line.substr(0, 8) == "#version") continue;
        if (!splitMerge(line, merge))
            throw Error(mergesTxtPath + ": line " + std::to_string(lineNo) +
                        " is malformed (expected two tokens separated by one space): " + quoteToken(std::string(line)));
        tok.merges_.push_back(merge);
        lines.push_back(lineNo);
    }
    tok.buildTables(vocabJsonPath, mergesTxtPath, lines);
    return tok;
}

Gpt2Tokenizer Gpt2Tokenizer::fromTokens(std::vector<std::pair<std::string, int64_t>> vocab,
                                       const std::vector<std::string>& merges, const std::string& source,
                                       const std::string& mergesField) {
    Gpt2Tokenizer tok;
    tok.setVocab(std::move(vocab), source);
    std::pair<std::string, std::string> merge;
    tok.merges_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
        if (!splitMerge(merges[i], merge))
            throw Error(source + ": " + mergesField + "[" + std::to_string(i) +
                        "] is malformed (expected two tokens separated by one space): " + quoteToken(merges[i]));
        tok.merges_.push_back(merge);
    }
    tok.buildTables(source, source, {}, mergesField);
    return tok;
}

Gpt2Tokenizer Gpt2Tokenizer::fromTokenizerJson(const std::string& tokenizerJsonPath) {
    const std::string& path = tokenizerJsonPath;
    Gpt2Tokenizer tok;
    json root = parseJson(readFile(path, "tokenizer file"), path);
    try {
        if (!root.is_object()) throw Error(path + ": expected a JSON object");
        auto model = root.find("model");
        if (model == root.end() || !model->is_object())
            throw Error(path + ": no \"model\" object (a BPE model is required)");
        auto type = model->find("type");
        if (type != model->end() && !(type->is_string() && type->get<std::string>() == "BPE"))
            throw Error(path + ": model.type is " + type->dump() + ", not \"BPE\"");
        auto vocab = model->find("vocab");
        if (vocab == model->end() || !vocab->is_object())
            throw Error(path + ": model.vocab is missing or not an object (a BPE model is required)");
        auto merges = model->find("merges");
        if (merges == model->end() || !merges->is_array())
            throw Error(path + ": model.merges is missing or not an array (a BPE model is required)");

        std::vector<std::pair<std::string, int64_t>> entries;
        entries.reserve(vocab->size() + 1);
        for (auto it = vocab->begin(); it != vocab->end(); ++it) {
            if (!it.value().is_number_integer())
                throw Error(path + ": model.vocab token " + quoteToken(it.key()) + " has a non-integer id " +
                            it.value().dump());
            entries.emplace_back(it.key(), it.value().get<int64_t>());
        }

        auto added = root.find("added_tokens");
        if (added != root.end() && !added->is_null()) {
            if (!added->is_array()) throw Error(path + ": added_tokens is not an array");
            for (size_t i = 0; i < added->size(); ++i) {
                const json& a = (*added)[i];
                const std::string where = path + ": added_tokens[" + std::to_string(i) + "]";
                if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
                    !a["content"].is_string())
                    throw Error(where + " is malformed (needs an integer \"id\" and a string \"content\")");
                AddedToken t;
                int64_t id = a["id"].get<int64_t>();
                if (id < 0 || id > kMaxTokenId) throw Error(where + " has out-of-range id " + std::to_string(id));
                t.id = int32_t(id);
                t.content = a["content"].get<std::string>();
                auto flag = [&](const char* name, bool fallback) {
                    auto f = a.find(name);
                    return f != a.end() && f->is_boolean() ? f->get<bool>() : fallback;
                };
                t.singleWord = flag("single_word", false);
                t.lstrip = flag("lstrip", false);
                t.rstrip = flag("rstrip", false);
                t.normalized = flag("normalized", true);
                t.special = flag("special", true);
                auto inVocab = vocab->find(t.content);
                if (inVocab != vocab->end()) {
                    if (inVocab->get<int64_t>() != id)
                        throw Error(where + " gives " + quoteToken(t.content) + " id " + std::to_string(id) +
                                    " but model.vocab gives it " + inVocab->dump());
                } else {
                    entries.emplace_back(t.content, id);
                }
                tok.addedTokens_.push_back(std::move(t));
            }
        }
        tok.setVocab(std::move(entries), path);

        tok.merges_.reserve(merges->size());
        std::pair<std::string, std::string> merge;
        for (size_t i = 0; i < merges->size(); ++i) {
            const json& m = (*merges)[i];
            bool ok = false;
            if (m.is_string()) {
                ok = splitMerge(m.get_ref<const std::string&>(), merge);
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                merge.first = m[0].get<std::string>();
                merge.second = m[1].get<std::string>();
                ok = !merge.first.empty() && !merge.second.empty();
            }
            if (!ok)
                throw Error(path + ": model.merges[" + std::to_string(i) + "] is malformed (expected \"a b\" or [\"a\", \"b\"]): " +
                            m.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 80));
            tok.merges_.push_back(merge);
        }
    } catch (const json::exception& e) {
        throw Error(path + ": unexpected content: " + e.what());
    }
    tok.buildTables(path, path, {});
    return tok;
}

Gpt2Tokenizer Gpt2Tokenizer::bundled() {
    const std::string vocab = findResource("tokenizer/vocab.json");
    if (vocab.empty())
        throw Error("bundled tokenizer not found: tokenizer/vocab.json is in none of $SWARM_RESOURCES_DIR, "
                    "<executable>/../share/swarm-workbench and the source tree's resources/");
    const std::string merges = (fs::path(vocab).parent_path() / "merges.txt").string();
    return fromVocabAndMerges(vocab, merges);
}

// =============================================================================================
// Encoding

inline bool Gpt2Tokenizer::findMerge(int32_t left, int32_t right, int32_t& rank, int32_t& merged) const {
    const uint64_t key = mergeKey(left, right);
    size_t h = mergeHash(key) & mergeMask_;
    for (;;) {
        const MergeSlot& s = mergeTable_[h];
        if (s.key == key) {
            rank = s.rank;
            merged = s.merged;
            return true;
        }
        if (s.key == kEmptyKey) return false;
        h = (h + 1) & mergeMask_;
    }
}

namespace {
constexpr size_t kShortWord = 128;   // longer words use the heap-based merge loop
}

// BPE of one pre-tokenised word, with the reference semantics: repeatedly take the adjacent pair
// of lowest rank and merge all its occurrences, left to right, without overlap.
void Gpt2Tokenizer::bpe(std::string_view word, std::vector<int32_t>& out) const {
    const size_t length = word.size();
    if (length == 0) return;
    if (length > kShortWord) {
        bpeLong(word, out);
        return;
    }
    int32_t sym[kShortWord];
    int32_t rank[kShortWord];     // rank[i]: rank of pair (sym[i], sym[i+1]), INT32_MAX if none
    int32_t merged[kShortWord];   // merged[i]: the token it makes
    bool dirty[kShortWord];
    int n = int(length);
    for (int i = 0; i < n; ++i) sym[i] = byteToId_[static_cast<unsigned char>(word[size_t(i)])];
    for (int i = 0; i + 1 < n; ++i)
        if (!findMerge(sym[i], sym[i + 1], rank[i], merged[i])) rank[i] = INT32_MAX;

    while (n > 1) {
        int best = -1;
        int32_t bestRank = INT32_MAX;
        for (int i = 0; i + 1 < n; ++i) {
            if (rank[i] < bestRank) {
                bestRank = rank[i];
                best = i;
            }
        }
        if (best < 0) break;
        const int32_t first = sym[best], second = sym[best + 1], made = merged[best];
        int j = best;
        for (int i = best; i < n; ++j) {
            if (i + 1 < n && sym[i] == first && sym[i + 1] == second) {
                sym[j] = made;
                dirty[j] = true;
                if (j > 0) dirty[j - 1] = true;
                i += 2;
            } else {
                sym[j] = sym[i];
                rank[j] = rank[i];
                merged[j] = merged[i];
                dirty[j] = false;
                ++i;
            }
        }
        n = j;
        for (int i = best > 0 ? best - 1 : 0; i + 1 < n; ++i)
            if (dirty[i] && !findMerge(sym[i], sym[i + 1], rank[i], merged[i])) rank[i] = INT32_MAX;
    }
    out.insert(out.end(), sym, sym + n);
}

// The same semantics in O(n log n) for long words: a linked list of symbols and a min-heap of
// candidate pairs ordered by (rank, position). All occurrences of one rank are merged before any
// pair of lower rank that those merges create (held in `pending` until the rank is done).
void Gpt2Tokenizer::bpeLong(std::string_view word, std::vector<int32_t>& out) const {
    const size_t n = word.size();
    if (n > size_t(INT32_MAX))   // positions are 32-bit; a 2 GB piece (one run of letters...) is refused
        throw Error("Gpt2Tokenizer::encode: a single pre-tokenised piece of " + std::to_string(n) +
                    " bytes is too long");
    std::vector<int32_t> sym(n), next(n), prev(n);
    for (size_t i = 0; i < n; ++i) {
        sym[i] = byteToId_[static_cast<unsigned char>(word[i])];
        next[i] = i + 1 < n ? int32_t(i + 1) : -1;
        prev[i] = int32_t(i) - 1;
    }
    struct Candidate {
        uint64_t key;   // (rank << 32) | position of the left symbol
        int32_t left, right, made;
        bool operator>(const Candidate& o) const { return key > o.key; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
    std::vector<Candidate> pending;
    int64_t currentRank = -1;
    auto consider = [&](int32_t a, int32_t b) {
        int32_t r, m;
        if (!findMerge(sym[size_t(a)], sym[size_t(b)], r, m)) return;
        Candidate c{(uint64_t(uint32_t(r)) << 32) | uint32_t(a), sym[size_t(a)], sym[size_t(b)], m};
        if (r < currentRank) pending.push_back(c);
        else heap.push(c);
    };
    for (size_t i = 0; i + 1 < n; ++i) consider(int32_t(i), int32_t(i + 1));

    for (;;) {
        if (!pending.empty() && (heap.empty() || int64_t(heap.top().key >> 32) != currentRank)) {
            for (const Candidate& c : pending) heap.push(c);
            pending.clear();
        }
        if (heap.empty()) break;
        const Candidate c = heap.top();
        heap.pop();
        const int32_t pos = int32_t(uint32_t(c.key));
        const int32_t nx = next[size_t(pos)];
        if (sym[size_t(pos)] != c.left || nx < 0 || sym[size_t(nx)] != c.right) continue;   // stale
        currentRank = int64_t(c.key >> 32);
        sym[size_t(pos)] = c.made;
        sym[size_t(nx)] = -1;
        const int32_t after = next[size_t(nx)];
        next[size_t(pos)] = after;
        if (after >= 0) prev[size_t(after)] = pos;
        if (prev[size_t(pos)] >= 0) consider(prev[size_t(pos)], pos);
        if (after >= 0) consider(pos, after);
    }
    for (int32_t i = 0; i >= 0; i = next[size_t(i)]) out.push_back(sym[size_t(i)]);
}

void Gpt2Tokenizer::encodeOrdinary(std::string_view text, std::vector<int32_t>& out) const {
    WordCache& cache = tlWordCache;
    if (cache.owner != instanceId_) cache.reset(instanceId_);
    splitWords(text, [&](const unsigned char* b, const unsigned char* e) {
        const size_t n = size_t(e - b);
        if (n == 1) {
            out.push_back(byteToId_[*b]);
            return;
        }
        std::string_view word(reinterpret_cast<const char*>(b), n);
        if (n == 2 || n > WordCache::kMaxWordBytes) {
            bpe(word, out);
            return;
        }
        const uint64_t h = hashBytes(b, n);
        uint32_t slot = uint32_t(h) & (WordCache::kSlots - 1);
        for (;;) {
            const WordCache::Slot& s = cache.slots[slot];
            if (s.generation != cache.generation) break;
            if (s.hash == h && s.keyLength == n && std::memcmp(cache.keys.data() + s.keyOffset, b, n) == 0) {
                const int32_t* v = cache.values.data() + s.valueOffset;
                out.insert(out.end(), v, v + s.valueLength);
                return;
            }
            slot = (slot + 1) & (WordCache::kSlots - 1);
        }
        const size_t start = out.size();
        bpe(word, out);
        if (cache.entries >= WordCache::kMaxEntries) {
            cache.reset(instanceId_);   // full: start over (the probe slot found above is stale)
            slot = uint32_t(h) & (WordCache::kSlots - 1);
        }
        WordCache::Slot& s = cache.slots[slot];
        s.hash = h;
        s.keyOffset = uint32_t(cache.keys.size());
        s.keyLength = uint16_t(n);
        s.valueOffset = uint32_t(cache.values.size());
        s.valueLength = uint16_t(out.size() - start);
        s.generation = cache.generation;
        cache.keys.append(word);
        cache.values.insert(cache.values.end(), out.begin() + std::ptrdiff_t(start), out.end());
        ++cache.entries;
    });
}

std::vector<int32_t> Gpt2Tokenizer::encode(std::string_view text, bool allowSpecial) const {
    if (idToToken_.empty()) throw Error("Gpt2Tokenizer::encode: the tokenizer has no vocabulary (not loaded)");
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 8);
    if (!allowSpecial) {
        encodeOrdinary(text, out);
        return out;
    }
    const std::string_view special(kEndOfTextString);
    size_t pos = 0;
    for (;;) {
        const size_t hit = text.find(special, pos);
        if (hit == std::string_view::npos) break;
        encodeOrdinary(text.substr(pos, hit - pos), out);
        out.push_back(endOfTextId_);
        pos = hit + special.size();
    }
    encodeOrdinary(text.substr(pos), out);
    return out;
}

// =============================================================================================
// Decoding and lookup

namespace {
[[noreturn]] void badId(const char* where, int32_t id, size_t size, bool hole) {
    throw Error(std::string(where) + ": token id " + std::to_string(id) +
                (hole ? " is not in the vocabulary" : " is out of range (vocab size " + std::to_string(size) + ")"));
}
} // namespace

std::string Gpt2Tokenizer::decode(const std::vector<int32_t>& ids) const {
    size_t total = 0;
    for (int32_t id : ids) {
        if (id < 0 || size_t(id) >= idToToken_.size()) badId("decode", id, idToToken_.size(), false);
        if (idToToken_[size_t(id)].empty()) badId("decode", id, idToToken_.size(), true);
        total += idToBytes_[size_t(id)].size();
    }
    std::string text;
    text.reserve(total);
    for (int32_t id : ids) text += idToBytes_[size_t(id)];
    return text;
}

std::string Gpt2Tokenizer::tokenBytes(int32_t id) const {
    if (id < 0 || size_t(id) >= idToToken_.size()) badId("tokenBytes", id, idToToken_.size(), false);
    if (idToToken_[size_t(id)].empty()) badId("tokenBytes", id, idToToken_.size(), true);
    return idToBytes_[size_t(id)];
}

const std::string& Gpt2Tokenizer::tokenString(int32_t id) const {
    if (id < 0 || size_t(id) >= idToToken_.size()) badId("tokenString", id, idToToken_.size(), false);
    if (idToToken_[size_t(id)].empty()) badId("tokenString", id, idToToken_.size(), true);
    return idToToken_[size_t(id)];
}

// =============================================================================================
// tokenizer.json writer. Written by hand rather than through nlohmann::ordered_json, whose
// insertion is linear per key (quadratic for a 50k-entry vocab); the vocab is listed in id order.

std::string Gpt2Tokenizer::toTokenizerJson() const {
    auto q = [](const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); };
    auto b = [](bool v) { return v ? "true" : "false"; };
    std::string out;
    out.reserve(idToToken_.size() * 24 + merges_.size() * 20 + 4096);
    out += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [";
    for (size_t i = 0; i < addedTokens_.size(); ++i) {
        const AddedToken& t = addedTokens_[i];
        out += i ? ",\n    {" : "\n    {";
        out += "\"id\": " + std::to_string(t.id) + ", \"content\": " + q(t.content) +
               ", \"single_word\": " + b(t.singleWord) + ", \"lstrip\": " + b(t.lstrip) + ", \"rstrip\": " +
               b(t.rstrip) + ", \"normalized\": " + b(t.normalized) + ", \"special\": " + b(t.special) + "}";
    }
    out += "\n  ],\n"
           "  \"normalizer\": null,\n"
           "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
           "\"use_regex\": true},\n"
           "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, "
           "\"use_regex\": true},\n"
           "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
           "\"use_regex\": true},\n"
           "  \"model\": {\n"
           "    \"type\": \"BPE\",\n"
           "    \"dropout\": null,\n"
           "    \"unk_token\": null,\n"
           "    \"continuing_subword_prefix\": \"\",\n"
           "    \"end_of_word_suffix\": \"\",\n"
           "    \"fuse_unk\": false,\n"
           "    \"byte_fallback\": false,\n"
           "    \"vocab\": {";
    bool firstEntry = true;
    for (size_t id = 0; id < idToToken_.size(); ++id) {
        if (idToToken_[id].empty()) continue;
        out += firstEntry ? "\n      " : ",\n      ";
        firstEntry = false;
        out += q(idToToken_[id]);
        out += ": ";
        out += std::to_string(id);
    }
    out += "\n    },\n    \"merges\": [";
    // "a b" strings are read by every tokenizers version; pairs are needed only if a token has a space.
    bool asPairs = false;
    for (const auto& [l, r] : merges_)
        asPairs |= l.find(' ') != std::string::npos || r.find(' ') != std::string::npos;
    for (size_t i = 0; i < merges_.size(); ++i) {
        out += i ? ",\n      " : "\n      ";
        if (asPairs) out += "[" + q(merges_[i].first) + ", " + q(merges_[i].second) + "]";
        else out += q(merges_[i].first + " " + merges_[i].second);
    }
    out += "\n    ]\n  }\n}\n";
    return out;
}

} // namespace swarm
