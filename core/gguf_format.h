#pragma once
// The GGUF file format (version 3, from the GGUF specification and ggml's type table): the facts
// that the writer (export/gguf_writer) and the reader (engine/gguf) share. No LibTorch, no engine.
//
// Byte layout (little-endian):
//   "GGUF", u32 version, u64 tensor count, u64 metadata count,
//   metadata entries: key (u64 length + bytes, no NUL), u32 value type, value
//     (strings: u64 length + bytes; BOOL: one byte; ARRAY: u32 element type + u64 count + elements,
//      no nested arrays),
//   tensor infos: name (u64 length + bytes, under 64 bytes), u32 n_dims, u64 dims (innermost
//     first), u32 ggml type, u64 offset relative to the data section,
//   zero padding up to the alignment (32, or general.alignment), the data section: each tensor at
//   its offset (running total of the previous tensors' sizes, each rounded up to the alignment),
//   zero bytes in the gaps.
//
// Versions 2 and 3 share this layout; writers emit 3.
#include <cstddef>
#include <cstdint>

namespace swarm::gguf {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxTensorNameBytes = 63;   // ggml keeps names in 64 bytes with the NUL
constexpr uint32_t kMaxDims = 4;

// ---------------------------------------------------------------------------------------------
// Metadata value types

enum class ValueType : uint32_t {
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
};
bool isValueType(uint32_t id);
const char* valueTypeName(ValueType t);           // "UINT8", ..., "FLOAT64"
// Bytes of one scalar of type t; 0 for STRING and ARRAY (their size is in the file).
uint64_t scalarBytes(ValueType t);

// ---------------------------------------------------------------------------------------------
// ggml tensor types. The ids are ggml's; the ones listed are those this code reads and writes.

enum class TensorType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30,
};

struct TensorTypeInfo {
    TensorType type;
    const char* name;                 // "F32", "F16", "Q4_0", "Q5_0", "Q5_1", "Q8_0", "Q4_K", ...
    uint32_t blockElements;           // values per block (1 for the float types)
    uint32_t blockBytes;              // bytes per block
};
// nullptr for an id that is not one of the types above.
const TensorTypeInfo* findTensorType(uint32_t id);
const char* tensorTypeName(TensorType t);
// Bytes of one row of `rowLength` values; throws swarm::Error unless rowLength is a whole number
// of blocks.
uint64_t rowBytes(TensorType t, uint64_t rowLength);
// Bytes of `nelements` values stored in rows of `rowLength` (throws as rowBytes).
uint64_t tensorBytes(TensorType t, uint64_t rowLength, uint64_t nelements);
bool isQuantized(TensorType t);                   // a block type (not F32/F16/BF16)
// The llama.cpp file type (general.file_type, llama_ftype) of a file whose bulk is `t`:
// F32 0, F16 1, Q4_0 2, Q8_0 7, Q5_0 8, Q5_1 9, BF16 32, and for the k-quants the "_M" mixes that
// llama-quantize writes (Q4_K: 15 = Q4_K_M, Q5_K: 17 = Q5_K_M, Q6_K: 18).
uint32_t fileTypeOf(TensorType t);

// ---------------------------------------------------------------------------------------------
// Quantised blocks, exactly as they lie in the file (a file's blocks are used in place from its
// memory mapping).

constexpr int kBlockElements = 32;               // QK8_0 = QK4_0

struct BlockQ8_0 {
    uint16_t d;                       // IEEE half scale
    int8_t qs[kBlockElements];        // value = d * q
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block: f16 scale + 32 int8");
static_assert(offsetof(BlockQ8_0, qs) == 2, "Q8_0 block: the values follow the scale");

struct BlockQ4_0 {
    uint16_t d;                       // IEEE half scale
    uint8_t qs[kBlockElements / 2];   // value = d * (nibble - 8); low nibbles 0..15, high 16..31
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block: f16 scale + 16 bytes of nibbles");
static_assert(offsetof(BlockQ4_0, qs) == 2, "Q4_0 block: the nibbles follow the scale");

// 5-bit blocks of 32 (ggml block_q5_0 / block_q5_1). The fifth bit of element j is bit j of qh
// (little-endian u32); low nibbles of qs hold elements 0..15, high nibbles 16..31.
struct BlockQ5_0 {
    uint16_t d;                       // value = d * (q - 16), q = nibble | (bit << 4)
    uint8_t qh[4];
    uint8_t qs[kBlockElements / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block: f16 scale + 4 bytes of high bits + 16 bytes of nibbles");

struct BlockQ5_1 {
    uint16_t d;                       // value = d * q + m
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[kBlockElements / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block: f16 scale, f16 min, high bits, nibbles");

// k-quants: super-blocks of 256 values (ggml QK_K), so only rows that are a multiple of 256 can
// be stored in them (Eve's expert width 1408 cannot: llama.cpp falls back, see kquantFallback).
constexpr int kSuperBlockElements = 256;     // QK_K
constexpr int kKScaleBytes = 12;             // K_SCALE_SIZE

// Q4_K: 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit min packed into `scales`
// (sub-block j < 4: scale = scales[j] & 63, min = scales[j + 4] & 63; j >= 4: scale =
// (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4, min = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4).
// value = d * scale * q - dmin * min. qs: 4 chunks of 32 bytes; chunk c holds sub-block 2c in its
// low nibbles and 2c + 1 in its high nibbles.
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qs[kSuperBlockElements / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block: 2 halves + 12 scale bytes + 128 bytes of nibbles");

// Q5_K: Q4_K plus a fifth bit: element l of sub-block j has its high bit in bit j of qh[l].
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qh[kSuperBlockElements / 8];
    uint8_t qs[kSuperBlockElements / 2];
};
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block: Q4_K + 32 bytes of high bits");

// Q6_K: 16 sub-blocks of 16 with int8 scales; value = d * scale * (q - 32), q = 6 bits. Each
// half of 128 values uses 64 bytes of ql and 32 of qh: for l < 32, element l is the low nibble of
// ql[l] with bits 0-1 of qh[l], l + 32 the low nibble of ql[l + 32] with bits 2-3, l + 64 the high
// nibble of ql[l] with bits 4-5, l + 96 the high nibble of ql[l + 32] with bits 6-7.
struct BlockQ6_K {
    uint8_t ql[kSuperBlockElements / 2];
    uint8_t qh[kSuperBlockElements / 4];
    int8_t scales[kSuperBlockElements / 16];
    uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block: 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d");
static_assert(offsetof(BlockQ6_K, d) == 208, "Q6_K block: the scale comes last");

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block.
inline void kScaleMin(const uint8_t* scales, int j, uint8_t& scale, uint8_t& min) {
    if (j < 4) {
        scale = scales[j] & 63;
        min = scales[j + 4] & 63;
    } else {
        scale = uint8_t((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
        min = uint8_t((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

// llama.cpp's type for a tensor whose rows do not fit `t`'s blocks (llama-quantize's
// convert_incompatible_tensor): Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; `t` itself otherwise.
TensorType kquantFallback(TensorType t, uint64_t rowLength);

// Reference codecs of one row (n % 32 == 0), as llama.cpp's reference quantisers:
// Q8_0: d = max|x| / 127 stored as f16, q = round(x * (1/d)) with ties away from zero, clamped
//   to [-127, 127] (so that a NaN or infinite input gives defined bytes).
// Q4_0: m = the value of largest magnitude (the first, if several), d = m / -8 stored as f16,
//   q = clamp(floor(x * (1/d) + 8.5), 0, 15), i.e. round(x/d) + 8 with exact ties rounded up.
// An all-zero block has q = 0 (Q8_0) / 8 (Q4_0); its Q4_0 d is 0 / -8 = -0.0 (0x8000), as in llama.cpp.
void quantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n);
void dequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n);
void quantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n);
void dequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t n);
// Q5_0: m = the value of largest magnitude, d = m / -16, q = min(31, trunc(x/d + 16.5)).
// Q5_1: d = (max - min) / 31, m = min, q = trunc((x - min)/d + 0.5).
void quantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t n);
void dequantizeRowQ5_0(const BlockQ5_0* x, float* y, int64_t n);
void quantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t n);
void dequantizeRowQ5_1(const BlockQ5_1* x, float* y, int64_t n);
// k-quants (n % 256 == 0), llama.cpp's reference quantisers without an importance matrix (what
// llama-quantize runs when no imatrix is given): Q4_K / Q5_K fit a scale and a min per sub-block
// of 32 by a weighted search (weights |x| + rms of the sub-block), then quantise the scales and
// mins to 6 bits; Q6_K fits a scale per 16 (weights x^2) and quantises the scales to int8.
void quantizeRowQ4_K(const float* x, BlockQ4_K* y, int64_t n);
void dequantizeRowQ4_K(const BlockQ4_K* x, float* y, int64_t n);
void quantizeRowQ5_K(const float* x, BlockQ5_K* y, int64_t n);
void dequantizeRowQ5_K(const BlockQ5_K* x, float* y, int64_t n);
void quantizeRowQ6_K(const float* x, BlockQ6_K* y, int64_t n);
void dequantizeRowQ6_K(const BlockQ6_K* x, float* y, int64_t n);

// Any type: n values (a whole number of blocks) from `src` bytes to floats, and back. F16/BF16
// round to nearest even. `src` / `dst` need no alignment.
void decodeRow(TensorType t, const uint8_t* src, float* dst, int64_t n);
void encodeRow(TensorType t, const float* src, uint8_t* dst, int64_t n);

// ---------------------------------------------------------------------------------------------
// Metadata keys that both the writer and the reader spell.

namespace key {
constexpr const char* kArchitecture = "general.architecture";
constexpr const char* kAlignment = "general.alignment";
constexpr const char* kTokenizerModel = "tokenizer.ggml.model";
constexpr const char* kTokenizerTokens = "tokenizer.ggml.tokens";
constexpr const char* kTokenizerTokenType = "tokenizer.ggml.token_type";
constexpr const char* kTokenizerMerges = "tokenizer.ggml.merges";

// Per-architecture keys: the architecture's name, a dot, then these.
constexpr const char* kContextLength = "context_length";
constexpr const char* kEmbeddingLength = "embedding_length";
constexpr const char* kBlockCount = "block_count";
constexpr const char* kFeedForwardLength = "feed_forward_length";
constexpr const char* kSharedExpertFeedForwardLength = "expert_shared_feed_forward_length";
constexpr const char* kExpertCount = "expert_count";
constexpr const char* kExpertUsedCount = "expert_used_count";
constexpr const char* kHeadCount = "attention.head_count";
constexpr const char* kHeadCountKv = "attention.head_count_kv";
constexpr const char* kRmsEpsilon = "attention.layer_norm_rms_epsilon";
constexpr const char* kEmbeddingScale = "embedding_scale";
constexpr const char* kResidualScale = "residual_scale";
constexpr const char* kAttentionScale = "attention.scale";
constexpr const char* kLogitScale = "logit_scale";
constexpr const char* kRopeFreqBase = "rope.freq_base";
constexpr const char* kRopeDimensionCount = "rope.dimension_count";
constexpr const char* kVocabSize = "vocab_size";
} // namespace key

// The llama.cpp architecture an Eve model is exported as and read back from
// (shared/docs/gguf-export.md): granitemoe with its shared expert.
constexpr const char* kEveArchitecture = "granitemoe";
constexpr const char* kGpt2TokenizerModel = "gpt2";

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

} // namespace swarm::gguf
