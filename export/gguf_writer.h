#pragma once
// A GGUF (version 3) writer, written from the GGUF specification. No LibTorch, no engine. The
// format's types, block layouts and codecs are core/gguf_format.h's.
//
// Tensor data is produced on demand, one tensor at a time (a callback), and streamed to an
// AtomicFile: a full disk, an unwritable folder or a cancel leave no partial file behind.
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/gguf_format.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace swarm::gguf {

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
    // Any element type but ARRAY: every element must be of type `element` (throws otherwise).
    static Value array(ValueType element, const std::vector<Value>& elements);

    ValueType type() const { return type_; }
    const std::string& encoded() const { return bytes_; }

private:
    Value(ValueType type, std::string bytes);
    ValueType type_ = ValueType::UInt8;
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
    // dims innermost first (dims[0] is the row length). Throws for an empty, too long or
    // duplicate name, 0 or more than 4 dims, a zero dim, or a quantised row not a whole number of
    // blocks (32 values, 256 for the k-quants).
    void addTensor(const std::string& name, const std::vector<uint64_t>& dims, TensorType type, Producer produce);

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

// Float rows to any tensor type (F16/BF16 round to nearest even, the block types by the reference
// codecs of core/gguf_format.h); out gets the bytes.
void encodeRows(TensorType t, const float* x, int64_t rows, int64_t cols, std::vector<uint8_t>& out);

} // namespace swarm::gguf
