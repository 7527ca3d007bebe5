// The held-out validation slice of a corpus: whole documents in the order of a seeded score,
// until the target token count is reached. Works on the index file in blocks, so the number of
// documents is not bounded by memory.
#include "datasets/corpus_steps.h"

#include "core/error.h"
#include "core/rng.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace swarm::corpus_steps {

namespace cf = corpus_format;

namespace {

constexpr size_t kBlockEntries = size_t(1) << 16;
constexpr int kBucketBits = 16;

void readEntries(int fd, const std::string& path, uint64_t first, size_t n, cf::IndexEntry* out) {
    char* p = reinterpret_cast<char*>(out);
    size_t bytes = n * cf::kIndexEntryBytes;
    uint64_t offset = cf::kIndexHeaderBytes + first * cf::kIndexEntryBytes;
    while (bytes > 0) {
        const ssize_t r = ::pread(fd, p, bytes, off_t(offset));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) throw Error("cannot read back " + path + ": " + (r < 0 ? std::strerror(errno) : "the file is short"));
        p += r;
        bytes -= size_t(r);
        offset += uint64_t(r);
    }
}

void writeFlags(int fd, const std::string& path, uint64_t document, uint32_t flags) {
    const uint64_t offset = cf::kIndexHeaderBytes + document * cf::kIndexEntryBytes + offsetof(cf::IndexEntry, flags);
    ssize_t w;
    do w = ::pwrite(fd, &flags, sizeof flags, off_t(offset));
    while (w < 0 && errno == EINTR);
    if (w != ssize_t(sizeof flags)) throw Error("cannot write " + path + ": " + describeWriteError(w < 0 ? errno : ENOSPC));
}

// Calls fn(document, entry) for every entry, in blocks.
template <typename Fn>
void forEachEntry(int fd, const std::string& path, uint64_t documents, Fn&& fn) {
    std::vector<cf::IndexEntry> block(std::min<uint64_t>(documents, kBlockEntries));
    for (uint64_t first = 0; first < documents; first += block.size()) {
        const size_t n = size_t(std::min<uint64_t>(block.size(), documents - first));
        readEntries(fd, path, first, n, block.data());
        for (size_t i = 0; i < n; ++i) fn(first + i, block[i]);
    }
}

} // namespace

uint64_t documentScore(uint64_t seed, uint64_t document) {
    const uint64_t seedHash = SplitMix64(seed).next();
    return SplitMix64(seedHash ^ (document * 0xD1B54A32D192ED03ull)).next();
}

ValidationChoice markValidationDocuments(int fd, const std::string& path, uint64_t documents, uint64_t targetTokens,
                                         uint64_t seed) {
    ValidationChoice chosen;
    if (targetTokens == 0 || documents < 2) return chosen;

    // Pass 1: tokens per score bucket; the bucket where the running sum reaches the target.
    std::vector<uint64_t> bucketTokens(size_t(1) << kBucketBits, 0);
    forEachEntry(fd, path, documents, [&](uint64_t d, const cf::IndexEntry& e) {
        bucketTokens[size_t(documentScore(seed, d) >> (64 - kBucketBits))] += e.tokenCount;
    });
    size_t boundary = 0;
    uint64_t below = 0;
    while (boundary + 1 < bucketTokens.size() && below + bucketTokens[boundary] < targetTokens)
        below += bucketTokens[boundary++];

    // Pass 2: every document of a lower bucket is held out; the boundary bucket's documents wait
    // to be taken in score order.
    struct Candidate {
        uint64_t score, document, tokens;
    };
    std::vector<Candidate> candidates;
    uint64_t lastTaken = 0;
    uint64_t lastScore = 0;
    forEachEntry(fd, path, documents, [&](uint64_t d, const cf::IndexEntry& e) {
        const uint64_t score = documentScore(seed, d);
        const size_t bucket = size_t(score >> (64 - kBucketBits));
        if (bucket < boundary) {
            writeFlags(fd, path, d, e.flags | cf::kFlagValidation);
            ++chosen.documents;
            chosen.tokens += e.tokenCount;
            if (chosen.documents == 1 || score > lastScore) {
                lastScore = score;
                lastTaken = d;
            }
        } else if (bucket == boundary) {
            candidates.push_back({score, d, e.tokenCount});
        }
    });
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        return a.score != b.score ? a.score < b.score : a.document < b.document;
    });
    for (const Candidate& c : candidates) {
        if (chosen.tokens >= targetTokens) break;
        writeFlags(fd, path, c.document, cf::kFlagValidation);
        ++chosen.documents;
        chosen.tokens += c.tokens;
        lastTaken = c.document;
    }
    // Never every document: the last one taken (the highest score) goes back to training.
    if (chosen.documents == documents) {
        cf::IndexEntry e;
        readEntries(fd, path, lastTaken, 1, &e);
        writeFlags(fd, path, lastTaken, 0);
        --chosen.documents;
        chosen.tokens -= e.tokenCount;
    }
    return chosen;
}

} // namespace swarm::corpus_steps
