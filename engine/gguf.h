#pragma once
// A GGUF reader (versions 2 and 3; the layout and the types are core/gguf_format.h's).
//
// The file is memory-mapped and validated completely on open: every length, count, offset and
// size is checked against the file size before it is used, so a truncated or lying file gives a
// swarm::Error naming the file, the offset and the field, never an out-of-bounds read.
#include "core/gguf_format.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace swarm::engine {

struct GgufValue {
    gguf::ValueType type = gguf::ValueType::UInt8;
    // Scalars: the one matching `type` is set (unsigned types in u, signed in i, floats in f).
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    bool b = false;
    std::string str;
    // Arrays: element type, count and where the elements start in the file (not parsed eagerly).
    gguf::ValueType arrayType = gguf::ValueType::UInt8;
    uint64_t arrayCount = 0;
    uint64_t arrayOffset = 0;
};

struct GgufTensor {
    std::string name;
    std::vector<uint64_t> dims;       // innermost first (dims[0] is the row length)
    gguf::TensorType type = gguf::TensorType::F32;
    uint64_t offset = 0;              // relative to the data section
    uint64_t nbytes = 0;
    uint64_t nelements = 0;
    const uint8_t* data = nullptr;    // into the mapping
};

class GgufFile {
public:
    explicit GgufFile(const std::string& path);       // throws swarm::Error
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
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

private:
    struct Cursor;
    void map();
    void readMetadata(Cursor& c, uint64_t count);
    GgufValue readValue(Cursor& c, const std::string& key, uint64_t at);
    void readAlignment();
    void readTensorInfos(Cursor& c, uint64_t count);
    GgufTensor readTensorInfo(Cursor& c, uint64_t index);
    void placeTensors(uint64_t infosEnd);
    [[noreturn]] void fail(uint64_t offset, const std::string& what) const;

    std::string path_;
    const uint8_t* map_ = nullptr;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint64_t alignment_ = gguf::kDefaultAlignment;
    uint64_t dataOffset_ = 0;
    std::map<std::string, GgufValue> kv_;
    std::vector<std::string> keyOrder_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t> tensorIndex_;
};

} // namespace swarm::engine
