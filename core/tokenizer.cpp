// Encoding (pre-tokenisation, then BPE of each piece, with a per-thread cache of pieces) and
// decoding. Loading and writing the files: tokenizer_files.cpp.
#include "core/tokenizer.h"
#include "core/tokenizer_internal.h"
#include "core/tokenizer_pretokenizer.h"

#include "core/error.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <queue>

namespace swarm {

namespace {

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

} // namespace

uint64_t Gpt2Tokenizer::newInstanceId() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
}

// =============================================================================================
// Encoding

inline bool Gpt2Tokenizer::findMerge(int32_t left, int32_t right, int32_t& rank, int32_t& merged) const {
    const uint64_t key = gpt2::mergeKey(left, right);
    size_t h = gpt2::mergeHash(key) & mergeMask_;
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
    gpt2::splitWords(text, [&](const unsigned char* b, const unsigned char* e) {
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
    const std::string_view special(gpt2::kEndOfTextString);
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

} // namespace swarm
