#pragma once
// The two steps of the project's 64-bit content hashes (datasets/dataset_import.h hashText,
// datasets/text_corpus.h TokenChecksum): MurmurHash3's finaliser, and absorbing one 8-byte word.
// Both hashes are stored in project files, so their values must never change.
#include <cstdint>

namespace swarm {

inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

inline uint64_t absorbWord(uint64_t h, uint64_t word) { return (h ^ mix64(word)) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull; }

} // namespace swarm
