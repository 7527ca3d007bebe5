#pragma once
// The GPT-2 pre-tokeniser: splits text into the pieces BPE encodes one by one.
#include "core/tokenizer_internal.h"
#include "core/unicode_tables.h"

#include <string_view>

namespace swarm::gpt2 {

using unicode::CharClass;

// The class of the character at p, and its length in bytes (an invalid byte is one Other).
inline CharClass classAt(const unsigned char* p, const unsigned char* end, int& len) {
    if (*p < 0x80) {
        len = 1;
        return unicode::kAsciiClass[*p];
    }
    char32_t cp;
    len = decodeUtf8(p, end, cp);
    return unicode::classifySlow(cp);
}

// The GPT-2 pre-tokeniser, the regex
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

} // namespace swarm::gpt2
