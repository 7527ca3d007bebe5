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

enum class TensorType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };

struct TensorTypeInfo {
    TensorType type;
    const char* name;                 // "F32", "F16", "Q4_0", "Q8_0", "BF16"
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
// The llama.cpp file type (general.file_type) of a file whose bulk is `t`.
uint32_t fileTypeOf(TensorType t);                // F32 0, F16 1, Q4_0 2, Q8_0 7, BF16 32

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
