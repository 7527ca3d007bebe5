#pragma once
// A GGUF reader (versions 2 and 3; both have the same layout, 3 is what current writers emit).
// Little-endian: magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the metadata
// (key string, u32 value type, value), the tensor infos (name, u32 n_dims, u64 dims innermost
// first, u32 ggml type, u64 offset relative to the data section), padding to the alignment
// (general.alignment, default 32), the data section.
//
// The file is memory-mapped and validated completely on open: every length, count, offset and
// size is checked against the file size before it is used, so a truncated or lying file gives a
// swarm::Error naming the file, the offset and the field, never an out-of-bounds read.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace swarm::engine {

enum class GgufType : uint32_t {
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
};
const char* ggufTypeName(GgufType t);

// ggml tensor types the engine reads.
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };
const char* ggmlTypeName(uint32_t type);      // "F32", ..., or "type 12" for others

struct GgufValue {
    GgufType type = GgufType::UInt8;
    // Scalars: the one matching `type` is set (unsigned types in u, signed in i, floats in f).
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    bool b = false;
    std::string str;
    // Arrays: element type, count and where the elements start in the file (not parsed eagerly).
    GgufType arrayType = GgufType::UInt8;
    uint64_t arrayCount = 0;
    uint64_t arrayOffset = 0;
};

struct GgufTensor {
    std::string name;
    std::vector<uint64_t> dims;       // innermost first (dims[0] is the row length)
    uint32_t type = 0;                // GgmlType value
    uint64_t offset = 0;              // relative to the data section
    uint64_t nbytes = 0;
    uint64_t nelements = 0;
    const uint8_t* data = nullptr;    // into the mapping
};

class GgufFile {
public:
    static constexpr uint64_t kMaxDims = 4;
    static constexpr uint64_t kMaxNameBytes = 64;     // as ggml: names are under 64 bytes

    explicit GgufFile(const std::string& path);       // throws swarm::Error
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t fileSize() const { return size_; }
    uint64_t dataOffset() const { return dataOffset_; }

    const std::vector<std::string>& keys() const { return keyOrder_; }       // in file order
    const GgufValue* find(const std::string& key) const;                      // nullptr if absent
    const std::vector<GgufTensor>& tensors() const { return tensors_; }     // in file order
    const GgufTensor* tensor(const std::string& name) const;                  // nullptr if absent

    // Typed access: throw swarm::Error naming the key when it is missing or of another type.
    // The optional forms return `fallback` when the key is absent (a wrong type still throws).
    uint32_t u32(const std::string& key) const;
    uint32_t u32(const std::string& key, uint32_t fallback) const;
    float f32(const std::string& key) const;
    float f32(const std::string& key, float fallback) const;
    bool boolean(const std::string& key, bool fallback) const;
    std::string string(const std::string& key) const;
    std::string string(const std::string& key, const std::string& fallback) const;
    std::vector<std::string> stringArray(const std::string& key) const;
    std::vector<int64_t> intArray(const std::string& key) const;    // any integer element type

    // The mapped bytes [offset, offset + size) (already validated by the caller's sizes).
    const uint8_t* bytes() const { return map_; }

private:
    [[noreturn]] void fail(uint64_t offset, const std::string& what) const;

    std::string path_;
    const uint8_t* map_ = nullptr;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t dataOffset_ = 0;
    std::map<std::string, GgufValue> kv_;
    std::vector<std::string> keyOrder_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t> tensorIndex_;
};

} // namespace swarm::engine
