#include "engine/gguf.h"

#include "core/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace swarm::engine {

using gguf::ValueType;

// A bounds-checked little-endian cursor over the mapping.
struct GgufFile::Cursor {
    const GgufFile& file;
    const uint8_t* p;
    uint64_t size;
    uint64_t pos = 0;

    uint64_t remaining() const { return size - pos; }
    // Throws unless n more bytes are available.
    void need(uint64_t n, const std::string& what) const {
        if (n > size - pos)
            throw Error(file.path() + ": truncated at offset " + std::to_string(pos) + " while reading " + what +
                        " (needs " + std::to_string(n) + " bytes, " + std::to_string(size - pos) + " left)");
    }
    template <class T>
    T read(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, p + pos, sizeof(T));   // the reader assumes a little-endian host
        pos += sizeof(T);
        return v;
    }
    std::string readString(const std::string& what) {
        const uint64_t len = read<uint64_t>(what + " length");
        need(len, what);
        std::string s(reinterpret_cast<const char*>(p + pos), size_t(len));
        pos += len;
        return s;
    }
    void skip(uint64_t n, const std::string& what) {
        need(n, what);
        pos += n;
    }
};

void GgufFile::fail(uint64_t offset, const std::string& what) const {
    throw Error(path_ + ": " + what + " (at offset " + std::to_string(offset) + ")");
}

GgufFile::GgufFile(const std::string& path) : path_(path) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader assumes a little-endian host");
    map();
    // From here the mapping must be released if validation fails.
    try {
        Cursor c{*this, map_, size_};
        if (std::memcmp(map_, "GGUF", 4) != 0) throw Error(path + ": not a GGUF file (bad magic)");
        c.pos = 4;
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
        readMetadata(c, nKv);
        readAlignment();
        readTensorInfos(c, nTensors);
        placeTensors(c.pos);
    } catch (...) {
        ::munmap(const_cast<uint8_t*>(map_), size_t(size_));
        map_ = nullptr;
        throw;
    }
}

void GgufFile::map() {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path_ + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw Error(path_ + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path_ + ": not a regular file");
    }
    size_ = uint64_t(st.st_size);
    if (size_ < 24) {
        ::close(fd);
        throw Error(path_ + ": not a GGUF file (" + std::to_string(size_) + " bytes, shorter than the header)");
    }
    void* m = ::mmap(nullptr, size_t(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    int mapErr = errno;
    ::close(fd);
    if (m == MAP_FAILED) throw Error(path_ + ": cannot map: " + std::strerror(mapErr));
    map_ = static_cast<const uint8_t*>(m);
}

void GgufFile::readMetadata(Cursor& c, uint64_t count) {
    for (uint64_t k = 0; k < count; ++k) {
        const uint64_t at = c.pos;
        std::string key = c.readString("metadata key " + std::to_string(k));
        if (key.empty()) fail(at, "metadata key " + std::to_string(k) + " is empty");
        if (kv_.count(key)) fail(at, "metadata key '" + key + "' appears twice");
        GgufValue v = readValue(c, key, at);
        keyOrder_.push_back(key);
        kv_.emplace(std::move(key), std::move(v));
    }
}

GgufValue GgufFile::readValue(Cursor& c, const std::string& key, uint64_t at) {
    GgufValue v;
    const uint32_t type = c.read<uint32_t>("type of '" + key + "'");
    if (!gguf::isValueType(type)) fail(at, "metadata '" + key + "' has unknown value type " + std::to_string(type));
    v.type = ValueType(type);
    const std::string what = "value of '" + key + "'";
    switch (v.type) {
    case ValueType::UInt8: v.u = c.read<uint8_t>(what); break;
    case ValueType::Int8: v.i = c.read<int8_t>(what); break;
    case ValueType::UInt16: v.u = c.read<uint16_t>(what); break;
    case ValueType::Int16: v.i = c.read<int16_t>(what); break;
    case ValueType::UInt32: v.u = c.read<uint32_t>(what); break;
    case ValueType::Int32: v.i = c.read<int32_t>(what); break;
    case ValueType::UInt64: v.u = c.read<uint64_t>(what); break;
    case ValueType::Int64: v.i = c.read<int64_t>(what); break;
    case ValueType::Float32: v.f = c.read<float>(what); break;
    case ValueType::Float64: v.f = c.read<double>(what); break;
    case ValueType::Bool: {
        const uint8_t b = c.read<uint8_t>(what);
        if (b > 1) fail(at, "metadata '" + key + "' is a BOOL with value " + std::to_string(b));
        v.b = b != 0;
        break;
    }
    case ValueType::String: v.str = c.readString(what); break;
    case ValueType::Array: {
        const uint32_t et = c.read<uint32_t>("element type of '" + key + "'");
        if (!gguf::isValueType(et)) fail(at, "array '" + key + "' has unknown element type " + std::to_string(et));
        if (ValueType(et) == ValueType::Array) fail(at, "array '" + key + "' nests arrays, which GGUF does not allow");
        v.arrayType = ValueType(et);
        v.arrayCount = c.read<uint64_t>("length of '" + key + "'");
        v.arrayOffset = c.pos;
        if (v.arrayType == ValueType::String) {
            if (v.arrayCount > c.remaining() / 8)
                fail(at, "array '" + key + "' claims " + std::to_string(v.arrayCount) +
                             " strings, more than the file can hold");
            for (uint64_t e = 0; e < v.arrayCount; ++e) {
                const uint64_t len = c.read<uint64_t>("string " + std::to_string(e) + " of '" + key + "'");
                c.skip(len, "string " + std::to_string(e) + " of '" + key + "'");
            }
        } else {
            const uint64_t es = gguf::scalarBytes(v.arrayType);
            if (v.arrayCount > c.remaining() / es)
                fail(at, "array '" + key + "' claims " + std::to_string(v.arrayCount) + " elements of " +
                             gguf::valueTypeName(v.arrayType) + ", more than the file can hold");
            c.skip(v.arrayCount * es, "elements of '" + key + "'");
        }
        break;
    }
    }
    return v;
}

void GgufFile::readAlignment() {
    const GgufValue* a = find(gguf::key::kAlignment);
    if (!a) return;
    if (a->type != ValueType::UInt32)
        throw Error(path_ + ": general.alignment must be UINT32, is " + gguf::valueTypeName(a->type));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
        throw Error(path_ + ": general.alignment " + std::to_string(a->u) + " is not a power of two");
    alignment_ = a->u;
}

void GgufFile::readTensorInfos(Cursor& c, uint64_t count) {
    tensors_.reserve(size_t(count));
    for (uint64_t t = 0; t < count; ++t) {
        GgufTensor info = readTensorInfo(c, t);
        tensorIndex_[info.name] = tensors_.size();
        tensors_.push_back(std::move(info));
    }
}

GgufTensor GgufFile::readTensorInfo(Cursor& c, uint64_t index) {
    const uint64_t at = c.pos;
    GgufTensor info;
    info.name = c.readString("name of tensor " + std::to_string(index));
    if (info.name.empty()) fail(at, "tensor " + std::to_string(index) + " has an empty name");
    if (info.name.size() > gguf::kMaxTensorNameBytes)
        fail(at, "tensor name '" + info.name.substr(0, 80) + "' is " + std::to_string(info.name.size()) +
                     " bytes (at most " + std::to_string(gguf::kMaxTensorNameBytes) + ")");
    if (tensorIndex_.count(info.name)) fail(at, "tensor '" + info.name + "' appears twice");
    const uint32_t nDims = c.read<uint32_t>("dimension count of '" + info.name + "'");
    if (nDims == 0 || nDims > gguf::kMaxDims)
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
    const uint32_t type = c.read<uint32_t>("type of '" + info.name + "'");
    const gguf::TensorTypeInfo* ti = gguf::findTensorType(type);
    if (!ti)
        fail(at, "tensor '" + info.name + "' has ggml type " + std::to_string(type) +
                     ", which the engine does not read (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
    info.type = ti->type;
    if (info.dims[0] % ti->blockElements != 0)
        fail(at, "tensor '" + info.name + "' is " + ti->name + " but its rows (" + std::to_string(info.dims[0]) +
                     ") are not a multiple of " + std::to_string(ti->blockElements));
    info.nbytes = gguf::tensorBytes(ti->type, info.dims[0], n);
    info.offset = c.read<uint64_t>("offset of '" + info.name + "'");
    if (info.offset % alignment_ != 0)
        fail(at, "tensor '" + info.name + "' offset " + std::to_string(info.offset) +
                     " is not a multiple of the alignment " + std::to_string(alignment_));
    return info;
}

// The data section starts at the next multiple of the alignment after the tensor infos (it may be
// empty); every tensor must lie inside the file.
void GgufFile::placeTensors(uint64_t infosEnd) {
    uint64_t data = infosEnd;
    if (data % alignment_ != 0) data += alignment_ - data % alignment_;
    if (data > size_ && !tensors_.empty())
        throw Error(path_ + ": truncated: the data section would start at " + std::to_string(data) +
                    ", past the end of the file (" + std::to_string(size_) + " bytes)");
    dataOffset_ = data;
    for (GgufTensor& t : tensors_) {
        const uint64_t room = size_ - dataOffset_;
        if (t.offset > room || t.nbytes > room - t.offset)
            throw Error(path_ + ": tensor '" + t.name + "' (" + std::to_string(t.nbytes) + " bytes at data offset " +
                        std::to_string(t.offset) + ") runs past the end of the file (" + std::to_string(size_) +
                        " bytes): truncated or lying sizes");
        t.data = map_ + dataOffset_ + t.offset;
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

const GgufValue& typed(const GgufFile& f, const std::string& key, ValueType type) {
    const GgufValue* v = f.find(key);
    if (!v) throw Error(f.path() + ": metadata '" + key + "' is missing");
    if (v->type != type)
        throw Error(f.path() + ": metadata '" + key + "' must be " + gguf::valueTypeName(type) + ", is " + gguf::valueTypeName(v->type));
    return *v;
}

} // namespace

uint32_t GgufFile::u32(const std::string& key) const { return uint32_t(typed(*this, key, ValueType::UInt32).u); }
uint32_t GgufFile::u32(const std::string& key, uint32_t fallback) const { return find(key) ? u32(key) : fallback; }
float GgufFile::f32(const std::string& key) const { return float(typed(*this, key, ValueType::Float32).f); }
float GgufFile::f32(const std::string& key, float fallback) const { return find(key) ? f32(key) : fallback; }
bool GgufFile::boolean(const std::string& key, bool fallback) const {
    return find(key) ? typed(*this, key, ValueType::Bool).b : fallback;
}
std::string GgufFile::string(const std::string& key) const { return typed(*this, key, ValueType::String).str; }
std::string GgufFile::string(const std::string& key, const std::string& fallback) const {
    return find(key) ? string(key) : fallback;
}

std::vector<std::string> GgufFile::stringArray(const std::string& key) const {
    const GgufValue& v = typed(*this, key, ValueType::Array);
    if (v.arrayType != ValueType::String)
        throw Error(path_ + ": metadata '" + key + "' must be an array of STRING, is an array of " + gguf::valueTypeName(v.arrayType));
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
    const GgufValue& v = typed(*this, key, ValueType::Array);
    const uint64_t es = gguf::scalarBytes(v.arrayType);
    const bool isInt = v.arrayType != ValueType::Float32 && v.arrayType != ValueType::Float64 &&
                       v.arrayType != ValueType::Bool && es != 0;
    if (!isInt) throw Error(path_ + ": metadata '" + key + "' must be an array of integers, is an array of " +
                            gguf::valueTypeName(v.arrayType));
    std::vector<int64_t> out(size_t(v.arrayCount));
    const uint8_t* p = map_ + v.arrayOffset;
    for (uint64_t e = 0; e < v.arrayCount; ++e, p += es) {
        switch (v.arrayType) {
        case ValueType::UInt8: out[e] = *p; break;
        case ValueType::Int8: out[e] = int8_t(*p); break;
        case ValueType::UInt16: { uint16_t x; std::memcpy(&x, p, 2); out[e] = x; break; }
        case ValueType::Int16: { int16_t x; std::memcpy(&x, p, 2); out[e] = x; break; }
        case ValueType::UInt32: { uint32_t x; std::memcpy(&x, p, 4); out[e] = x; break; }
        case ValueType::Int32: { int32_t x; std::memcpy(&x, p, 4); out[e] = x; break; }
        case ValueType::UInt64: { uint64_t x; std::memcpy(&x, p, 8); out[e] = int64_t(x); break; }
        case ValueType::Int64: { int64_t x; std::memcpy(&x, p, 8); out[e] = x; break; }
        default: break;
        }
    }
    return out;
}

} // namespace swarm::engine
