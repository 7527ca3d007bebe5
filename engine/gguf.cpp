#include "engine/gguf.h"

#include "core/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace swarm::engine {

const char* ggufTypeName(GgufType t) {
    switch (t) {
    case GgufType::UInt8: return "UINT8";
    case GgufType::Int8: return "INT8";
    case GgufType::UInt16: return "UINT16";
    case GgufType::Int16: return "INT16";
    case GgufType::UInt32: return "UINT32";
    case GgufType::Int32: return "INT32";
    case GgufType::Float32: return "FLOAT32";
    case GgufType::Bool: return "BOOL";
    case GgufType::String: return "STRING";
    case GgufType::Array: return "ARRAY";
    case GgufType::UInt64: return "UINT64";
    case GgufType::Int64: return "INT64";
    case GgufType::Float64: return "FLOAT64";
    }
    return "?";
}

const char* ggmlTypeName(uint32_t type) {
    switch (type) {
    case uint32_t(GgmlType::F32): return "F32";
    case uint32_t(GgmlType::F16): return "F16";
    case uint32_t(GgmlType::Q4_0): return "Q4_0";
    case uint32_t(GgmlType::Q8_0): return "Q8_0";
    case uint32_t(GgmlType::BF16): return "BF16";
    }
    return "unsupported";
}

namespace {

// Size in bytes of one scalar element; 0 for strings and arrays.
uint64_t scalarSize(GgufType t) {
    switch (t) {
    case GgufType::UInt8:
    case GgufType::Int8:
    case GgufType::Bool: return 1;
    case GgufType::UInt16:
    case GgufType::Int16: return 2;
    case GgufType::UInt32:
    case GgufType::Int32:
    case GgufType::Float32: return 4;
    case GgufType::UInt64:
    case GgufType::Int64:
    case GgufType::Float64: return 8;
    case GgufType::String:
    case GgufType::Array: return 0;
    }
    return 0;
}

bool knownType(uint32_t t) { return t <= uint32_t(GgufType::Float64); }

// Elements per block and bytes per block of the ggml types the engine reads.
bool ggmlBlock(uint32_t type, uint64_t& blockElems, uint64_t& blockBytes) {
    switch (type) {
    case uint32_t(GgmlType::F32): blockElems = 1; blockBytes = 4; return true;
    case uint32_t(GgmlType::F16): blockElems = 1; blockBytes = 2; return true;
    case uint32_t(GgmlType::BF16): blockElems = 1; blockBytes = 2; return true;
    case uint32_t(GgmlType::Q8_0): blockElems = 32; blockBytes = 34; return true;
    case uint32_t(GgmlType::Q4_0): blockElems = 32; blockBytes = 18; return true;
    }
    return false;
}

// A bounds-checked little-endian cursor over the mapping.
class Cursor {
public:
    Cursor(const GgufFile& f, const uint8_t* p, uint64_t size) : file_(f), p_(p), size_(size) {}
    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }
    void seek(uint64_t pos) { pos_ = pos; }

    // Throws unless n more bytes are available.
    void need(uint64_t n, const std::string& what) {
        if (n > size_ - pos_)
            throw Error(file_.path() + ": truncated at offset " + std::to_string(pos_) + " while reading " + what +
                        " (needs " + std::to_string(n) + " bytes, " + std::to_string(size_ - pos_) + " left)");
    }
    template <class T>
    T read(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, p_ + pos_, sizeof(T));   // the reader assumes a little-endian host
        pos_ += sizeof(T);
        return v;
    }
    std::string readString(const std::string& what) {
        const uint64_t len = read<uint64_t>(what + " length");
        need(len, what);
        std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
        pos_ += len;
        return s;
    }
    void skip(uint64_t n, const std::string& what) {
        need(n, what);
        pos_ += n;
    }

private:
    const GgufFile& file_;
    const uint8_t* p_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

} // namespace

void GgufFile::fail(uint64_t offset, const std::string& what) const {
    throw Error(path_ + ": " + what + " (at offset " + std::to_string(offset) + ")");
}

GgufFile::GgufFile(const std::string& path) : path_(path) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader assumes a little-endian host");
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": not a regular file");
    }
    size_ = uint64_t(st.st_size);
    if (size_ < 24) {
        ::close(fd);
        throw Error(path + ": not a GGUF file (" + std::to_string(size_) + " bytes, shorter than the header)");
    }
    void* m = ::mmap(nullptr, size_t(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    int mapErr = errno;
    ::close(fd);
    if (m == MAP_FAILED) throw Error(path + ": cannot map: " + std::strerror(mapErr));
    map_ = static_cast<const uint8_t*>(m);

    try {
        Cursor c(*this, map_, size_);
        if (std::memcmp(map_, "GGUF", 4) != 0) throw Error(path + ": not a GGUF file (bad magic)");
        c.seek(4);
        version_ = c.read<uint32_t>("version");
        if (version_ != 2 && version_ != 3) {
            // A big-endian file reads as a huge version number.
            throw Error(path + ": unsupported GGUF version " + std::to_string(version_) +
                        (version_ > 0xffff ? " (a big-endian file?)" : "") + "; versions 2 and 3 are supported");
        }
        const uint64_t nTensors = c.read<uint64_t>("tensor count");
        const uint64_t nKv = c.read<uint64_t>("metadata count");
        // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info
        // at least 8 + 4 + 8 + 4 + 8. Reject counts the file cannot hold before looping or reserving.
        if (nKv > c.remaining() / 13) fail(16, "metadata count " + std::to_string(nKv) + " is larger than the file can hold");
        if (nTensors > c.remaining() / 32)
            fail(8, "tensor count " + std::to_string(nTensors) + " is larger than the file can hold");

        for (uint64_t k = 0; k < nKv; ++k) {
            const uint64_t at = c.pos();
            std::string key = c.readString("metadata key " + std::to_string(k));
            if (key.empty()) fail(at, "metadata key " + std::to_string(k) + " is empty");
            if (kv_.count(key)) fail(at, "metadata key '" + key + "' appears twice");
            GgufValue v;
            const uint32_t type = c.read<uint32_t>("type of '" + key + "'");
            if (!knownType(type)) fail(at, "metadata '" + key + "' has unknown value type " + std::to_string(type));
            v.type = GgufType(type);
            const std::string what = "value of '" + key + "'";
            switch (v.type) {
            case GgufType::UInt8: v.u = c.read<uint8_t>(what); break;
            case GgufType::Int8: v.i = c.read<int8_t>(what); break;
            case GgufType::UInt16: v.u = c.read<uint16_t>(what); break;
            case GgufType::Int16: v.i = c.read<int16_t>(what); break;
            case GgufType::UInt32: v.u = c.read<uint32_t>(what); break;
            case GgufType::Int32: v.i = c.read<int32_t>(what); break;
            case GgufType::UInt64: v.u = c.read<uint64_t>(what); break;
            case GgufType::Int64: v.i = c.read<int64_t>(what); break;
            case GgufType::Float32: v.f = c.read<float>(what); break;
            case GgufType::Float64: v.f = c.read<double>(what); break;
            case GgufType::Bool: {
                const uint8_t b = c.read<uint8_t>(what);
                if (b > 1) fail(at, "metadata '" + key + "' is a BOOL with value " + std::to_string(b));
                v.b = b != 0;
                break;
            }
            case GgufType::String: v.str = c.readString(what); break;
            case GgufType::Array: {
                const uint32_t et = c.read<uint32_t>("element type of '" + key + "'");
                if (!knownType(et)) fail(at, "array '" + key + "' has unknown element type " + std::to_string(et));
                if (GgufType(et) == GgufType::Array) fail(at, "array '" + key + "' nests arrays, which GGUF does not allow");
                v.arrayType = GgufType(et);
                v.arrayCount = c.read<uint64_t>("length of '" + key + "'");
                v.arrayOffset = c.pos();
                if (v.arrayType == GgufType::String) {
                    if (v.arrayCount > c.remaining() / 8)
                        fail(at, "array '" + key + "' claims " + std::to_string(v.arrayCount) +
                                     " strings, more than the file can hold");
                    for (uint64_t e = 0; e < v.arrayCount; ++e) {
                        const uint64_t len = c.read<uint64_t>("string " + std::to_string(e) + " of '" + key + "'");
                        c.skip(len, "string " + std::to_string(e) + " of '" + key + "'");
                    }
                } else {
                    const uint64_t es = scalarSize(v.arrayType);
                    if (v.arrayCount > c.remaining() / es)
                        fail(at, "array '" + key + "' claims " + std::to_string(v.arrayCount) + " elements of " +
                                     ggufTypeName(v.arrayType) + ", more than the file can hold");
                    c.skip(v.arrayCount * es, "elements of '" + key + "'");
                }
                break;
            }
            }
            keyOrder_.push_back(key);
            kv_.emplace(std::move(key), std::move(v));
        }

        if (const GgufValue* a = find("general.alignment")) {
            if (a->type != GgufType::UInt32)
                throw Error(path + ": general.alignment must be UINT32, is " + ggufTypeName(a->type));
            if (a->u == 0 || (a->u & (a->u - 1)) != 0)
                throw Error(path + ": general.alignment " + std::to_string(a->u) + " is not a power of two");
            alignment_ = a->u;
        }

        tensors_.reserve(size_t(nTensors));
        for (uint64_t t = 0; t < nTensors; ++t) {
            const uint64_t at = c.pos();
            GgufTensor info;
            info.name = c.readString("name of tensor " + std::to_string(t));
            if (info.name.empty()) fail(at, "tensor " + std::to_string(t) + " has an empty name");
            if (info.name.size() >= kMaxNameBytes)
                fail(at, "tensor name '" + info.name.substr(0, 80) + "' is " + std::to_string(info.name.size()) +
                             " bytes (at most " + std::to_string(kMaxNameBytes - 1) + ")");
            if (tensorIndex_.count(info.name)) fail(at, "tensor '" + info.name + "' appears twice");
            const uint32_t nDims = c.read<uint32_t>("dimension count of '" + info.name + "'");
            if (nDims == 0 || nDims > kMaxDims)
                fail(at, "tensor '" + info.name + "' has " + std::to_string(nDims) + " dimensions (1 to 4 allowed)");
            uint64_t n = 1;
            for (uint32_t d = 0; d < nDims; ++d) {
                const uint64_t dim = c.read<uint64_t>("dimensions of '" + info.name + "'");
                if (dim == 0 || dim > (uint64_t(1) << 40))
                    fail(at, "tensor '" + info.name + "' has dimension " + std::to_string(d) + " = " + std::to_string(dim));
                if (__builtin_mul_overflow(n, dim, &n) || n > (uint64_t(1) << 48))
                    fail(at, "tensor '" + info.name + "' has an element count that overflows");
                info.dims.push_back(dim);
            }
            info.nelements = n;
            info.type = c.read<uint32_t>("type of '" + info.name + "'");
            uint64_t blockElems = 0, blockBytes = 0;
            if (!ggmlBlock(info.type, blockElems, blockBytes))
                fail(at, "tensor '" + info.name + "' has ggml type " + std::to_string(info.type) +
                             ", which the engine does not read (F32, F16, BF16, Q8_0, Q4_0)");
            if (info.dims[0] % blockElems != 0)
                fail(at, "tensor '" + info.name + "' is " + ggmlTypeName(info.type) + " but its rows (" +
                             std::to_string(info.dims[0]) + ") are not a multiple of " + std::to_string(blockElems));
            info.nbytes = n / blockElems * blockBytes;
            info.offset = c.read<uint64_t>("offset of '" + info.name + "'");
            if (info.offset % alignment_ != 0)
                fail(at, "tensor '" + info.name + "' offset " + std::to_string(info.offset) +
                             " is not a multiple of the alignment " + std::to_string(alignment_));
            tensorIndex_[info.name] = tensors_.size();
            tensors_.push_back(std::move(info));
        }

        // The data section starts at the next multiple of the alignment (it may be empty).
        uint64_t data = c.pos();
        if (data % alignment_ != 0) data += alignment_ - data % alignment_;
        if (data > size_ && !tensors_.empty())
            throw Error(path + ": truncated: the data section would start at " + std::to_string(data) +
                        ", past the end of the file (" + std::to_string(size_) + " bytes)");
        dataOffset_ = data;
        for (GgufTensor& t : tensors_) {
            const uint64_t room = size_ - dataOffset_;
            if (t.offset > room || t.nbytes > room - t.offset)
                throw Error(path + ": tensor '" + t.name + "' (" + std::to_string(t.nbytes) + " bytes at data offset " +
                            std::to_string(t.offset) + ") runs past the end of the file (" + std::to_string(size_) +
                            " bytes): truncated or lying sizes");
            t.data = map_ + dataOffset_ + t.offset;
        }
    } catch (...) {
        ::munmap(const_cast<uint8_t*>(map_), size_t(size_));
        map_ = nullptr;
        throw;
    }
}

GgufFile::~GgufFile() {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), size_t(size_));
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::tensor(const std::string& name) const {
    auto it = tensorIndex_.find(name);
    return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

namespace {

const GgufValue& typed(const GgufFile& f, const std::string& key, GgufType type) {
    const GgufValue* v = f.find(key);
    if (!v) throw Error(f.path() + ": metadata '" + key + "' is missing");
    if (v->type != type)
        throw Error(f.path() + ": metadata '" + key + "' must be " + ggufTypeName(type) + ", is " + ggufTypeName(v->type));
    return *v;
}

} // namespace

uint32_t GgufFile::u32(const std::string& key) const { return uint32_t(typed(*this, key, GgufType::UInt32).u); }
uint32_t GgufFile::u32(const std::string& key, uint32_t fallback) const { return find(key) ? u32(key) : fallback; }
float GgufFile::f32(const std::string& key) const { return float(typed(*this, key, GgufType::Float32).f); }
float GgufFile::f32(const std::string& key, float fallback) const { return find(key) ? f32(key) : fallback; }
bool GgufFile::boolean(const std::string& key, bool fallback) const {
    return find(key) ? typed(*this, key, GgufType::Bool).b : fallback;
}
std::string GgufFile::string(const std::string& key) const { return typed(*this, key, GgufType::String).str; }
std::string GgufFile::string(const std::string& key, const std::string& fallback) const {
    return find(key) ? string(key) : fallback;
}

std::vector<std::string> GgufFile::stringArray(const std::string& key) const {
    const GgufValue& v = typed(*this, key, GgufType::Array);
    if (v.arrayType != GgufType::String)
        throw Error(path_ + ": metadata '" + key + "' must be an array of STRING, is an array of " + ggufTypeName(v.arrayType));
    // Sizes were validated on open.
    std::vector<std::string> out;
    out.reserve(size_t(v.arrayCount));
    uint64_t pos = v.arrayOffset;
    for (uint64_t e = 0; e < v.arrayCount; ++e) {
        uint64_t len;
        std::memcpy(&len, map_ + pos, 8);
        out.emplace_back(reinterpret_cast<const char*>(map_ + pos + 8), size_t(len));
        pos += 8 + len;
    }
    return out;
}

std::vector<int64_t> GgufFile::intArray(const std::string& key) const {
    const GgufValue& v = typed(*this, key, GgufType::Array);
    const uint64_t es = scalarSize(v.arrayType);
    const bool isInt = v.arrayType != GgufType::Float32 && v.arrayType != GgufType::Float64 &&
                       v.arrayType != GgufType::Bool && es != 0;
    if (!isInt) throw Error(path_ + ": metadata '" + key + "' must be an array of integers, is an array of " +
                            ggufTypeName(v.arrayType));
    std::vector<int64_t> out(size_t(v.arrayCount));
    const uint8_t* p = map_ + v.arrayOffset;
    for (uint64_t e = 0; e < v.arrayCount; ++e, p += es) {
        switch (v.arrayType) {
        case GgufType::UInt8: out[e] = *p; break;
        case GgufType::Int8: out[e] = int8_t(*p); break;
        case GgufType::UInt16: { uint16_t x; std::memcpy(&x, p, 2); out[e] = x; break; }
        case GgufType::Int16: { int16_t x; std::memcpy(&x, p, 2); out[e] = x; break; }
        case GgufType::UInt32: { uint32_t x; std::memcpy(&x, p, 4); out[e] = x; break; }
        case GgufType::Int32: { int32_t x; std::memcpy(&x, p, 4); out[e] = x; break; }
        case GgufType::UInt64: { uint64_t x; std::memcpy(&x, p, 8); out[e] = int64_t(x); break; }
        case GgufType::Int64: { int64_t x; std::memcpy(&x, p, 8); out[e] = x; break; }
        default: break;
        }
    }
    return out;
}

} // namespace swarm::engine
