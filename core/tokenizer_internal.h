#pragma once
// GPT-2 byte-level BPE details shared by the tokenizer's sources (tokenizer.cpp: encoding,
// tokenizer_files.cpp: loading and writing the files). Not part of the tokenizer's interface.
#include <cstdint>

namespace swarm::gpt2 {

constexpr const char* kEndOfTextString = "<|endoftext|>";

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

// The merge table's key of the pair (left, right), and its hash.
inline uint64_t mergeKey(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

inline uint64_t mergeHash(uint64_t key) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

} // namespace swarm::gpt2
