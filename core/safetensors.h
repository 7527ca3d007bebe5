#pragma once
// safetensors files: an 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
// then the data section; offsets are relative to the data section's start.
// The reader memory-maps the file and checks everything before handing out a pointer.
#include "core/dtype.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace swarm {

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0;                 // byte offsets relative to the data section
    uint64_t end = 0;
    int64_t numel() const;
    uint64_t nbytes() const { return end - begin; }
};

std::string shapeToString(const std::vector<int64_t>& shape);   // "[3, 4]"

class SafetensorsReader {
public:
    static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MiB, as the reference implementation

    // Opens and validates; throws swarm::Error naming the file (and the tensor, when one is at fault).
    explicit SafetensorsReader(const std::string& path);
    ~SafetensorsReader();
    SafetensorsReader(const SafetensorsReader&) = delete;
    SafetensorsReader& operator=(const SafetensorsReader&) = delete;

    const std::string& path() const { return path_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }      // in file order
    const TensorInfo* find(const std::string& name) const;                    // nullptr if absent
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const uint8_t* data(const TensorInfo& t) const { return dataStart_ + t.begin; }
    uint64_t fileSize() const { return fileSize_; }

private:
    std::string path_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
    void* map_ = nullptr;
    uint64_t fileSize_ = 0;
    const uint8_t* dataStart_ = nullptr;
};

// One tensor to be written; data is nbytes of dtype elements in row-major order.
struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const void* data = nullptr;
    uint64_t nbytes = 0;
};

// Writes atomically (see AtomicFile). The header is padded with spaces to a multiple of 8 bytes
// and the tensors follow back to back in the given order, as the reference writer lays them out
// (its reader rejects gaps). Checks that each tensor's byte size matches its shape and dtype and
// that names are unique and non-empty.
void writeSafetensors(const std::string& path, const std::vector<TensorView>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

} // namespace swarm
