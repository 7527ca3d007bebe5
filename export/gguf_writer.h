#pragma once
// A GGUF (version 3) writer, written from the GGUF specification. No LibTorch, no engine.
//
// Byte layout (little-endian):
//   "GGUF", u32 version = 3, u64 tensor count, u64 metadata count,
//   metadata entries: key (u64 length + bytes, no NUL), u32 value type, value
//     (strings: u64 length + bytes; BOOL: one byte; ARRAY: u32 element type + u64 count + elements,
//      no nested arrays),
//   tensor infos: name (u64 length + bytes, under 64 bytes), u32 n_dims, u64 dims (innermost
//     first), u32 ggml type, u64 offset relative to the data section,
//   zero padding up to the alignment (32, or general.alignment), the data section: each tensor at
//   its offset (running total of the previous tensors' sizes, each rounded up to the alignment),
//   zero bytes in the gaps.
//
// Tensor data is produced on demand, one tensor at a time (a callback), and streamed to an
// AtomicFile: a full disk, an unwritable folder or a cancel leave no partial file behind.
#include "core/atomic_file.h"
#include "core/error.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace swarm::gguf {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxNameBytes = 63;          // names are under 64 bytes
constexpr int kBlock = 32;                      // elements per Q8_0 / Q4_0 block
constexpr size_t kQ8_0BlockBytes = 34;          // f16 scale + 32 int8
constexpr size_t kQ4_0BlockBytes = 18;          // f16 scale + 16 bytes of nibbles

enum class ValueType : uint32_t {
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
};
const char* valueTypeName(ValueType t);

// ggml tensor types written here.
enum class TensorType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };
const char* tensorTypeName(TensorType t);        // "F32", "F16", "Q4_0", "Q8_0", "BF16"
// Bytes of `nelements` values of `t`; quantised types need rowLength % 32 == 0 (throws otherwise).
uint64_t tensorBytes(TensorType t, uint64_t rowLength, uint64_t nelements);

// The llama.cpp file type (general.file_type) of a file whose bulk is `t`.
uint32_t fileTypeOf(TensorType t);               // F32 0, F16 1, Q4_0 2, Q8_0 7, BF16 32

// One metadata value, kept encoded (the bytes after the u32 value type).
class Value {
public:
    static Value u8(uint8_t v);
    static Value i8(int8_t v);
    static Value u16(uint16_t v);
    static Value i16(int16_t v);
    static Value u32(uint32_t v);
    static Value i32(int32_t v);
    static Value f32(float v);
    static Value boolean(bool v);
    static Value string(const std::string& v);
    static Value u64(uint64_t v);
    static Value i64(int64_t v);
    static Value f64(double v);
    // Arrays of one scalar or string type (GGUF has no nested arrays).
    static Value stringArray(const std::vector<std::string>& v);
    static Value int32Array(const std::vector<int32_t>& v);
    static Value uint32Array(const std::vector<uint32_t>& v);
    static Value float32Array(const std::vector<float>& v);
    // Any element type but ARRAY: every element must be of type `element` (throws otherwise).
    static Value array(ValueType element, const std::vector<Value>& elements);

    ValueType type() const { return type_; }
    ValueType arrayType() const { return arrayType_; }
    const std::string& encoded() const { return bytes_; }

private:
    ValueType type_ = ValueType::UInt8;
    ValueType arrayType_ = ValueType::UInt8;
    std::string bytes_;
};

// Raised when the cancel flag is seen; the temporary file is already gone.
class Cancelled : public Error {
public:
    explicit Cancelled(const std::string& m) : Error(m) {}
};

class Writer {
public:
    // Fills `out` with exactly tensorBytes(type, dims[0], product of dims) bytes.
    using Producer = std::function<void(std::vector<uint8_t>& out)>;
    // (bytes written so far, total bytes of the file)
    using Progress = std::function<void(uint64_t done, uint64_t total)>;

    // Adds or replaces a key (first insertion order is kept). "general.alignment" must be a
    // UINT32 power of two (>= 8) and sets the alignment.
    void set(const std::string& key, Value value);
    bool has(const std::string& key) const;
    // dims innermost first (dims[0] is the row length). Throws for an empty, too long or
    // duplicate name, 0 or more than 4 dims, a zero dim, or a quantised row not a multiple of 32.
    void addTensor(const std::string& name, const std::vector<uint64_t>& dims, TensorType type, Producer produce);

    uint64_t alignment() const { return alignment_; }
    size_t tensorCount() const { return tensors_.size(); }
    uint64_t dataOffset() const;                 // where the data section starts
    uint64_t fileSize() const;                   // the exact size write() produces

    // Writes everything into `file` (not committed: the caller decides, e.g. after checking the
    // temporary). On any failure or cancel the file is abandoned and the error rethrown.
    void writeTo(AtomicFile& file, const std::atomic<bool>* cancel = nullptr, const Progress& progress = {}) const;
    // writeTo + commit.
    void write(const std::string& path, const std::atomic<bool>* cancel = nullptr, const Progress& progress = {}) const;

private:
    struct Tensor {
        std::string name;
        std::vector<uint64_t> dims;
        TensorType type = TensorType::F32;
        uint64_t nbytes = 0;
        uint64_t offset = 0;
        Producer produce;
    };
    std::vector<std::pair<std::string, Value>> kv_;
    std::vector<Tensor> tensors_;
    uint64_t alignment_ = kDefaultAlignment;
    uint64_t dataBytes_ = 0;                     // running data size (tensor offsets are set on add)
    std::string header() const;
};

// Block encoders (n % 32 == 0). Q8_0: d = max|x| / 127 stored as f16, q = round(x * (1/d)) with
// ties away from zero (identical to the engine's quantizeRowQ8_0 and llama.cpp's reference).
// Q4_0: m = the value of largest magnitude (the first, if several), d = m / -8 stored as f16,
// q = clamp(floor(x * (1/d) + 8.5), 0, 15), i.e. round(x/d) + 8 with exact ties rounded up, as
// llama.cpp's reference quantiser does; low nibbles hold elements 0..15, high nibbles 16..31.
// An all-zero block has q = 0 (Q8_0) / 8 (Q4_0); its Q4_0 d is 0 / -8 = -0.0 (0x8000), as in llama.cpp.
void quantizeQ8_0(const float* x, uint8_t* out, int64_t n);
void quantizeQ4_0(const float* x, uint8_t* out, int64_t n);
void dequantizeQ8_0(const uint8_t* in, float* y, int64_t n);
void dequantizeQ4_0(const uint8_t* in, float* y, int64_t n);
// Float rows to any of the types above (F16/BF16 round to nearest even); out gets the bytes.
void encodeRows(TensorType t, const float* x, int64_t rows, int64_t cols, std::vector<uint8_t>& out);

} // namespace swarm::gguf
