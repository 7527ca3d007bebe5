#include "export/gguf_writer.h"

#include "core/half.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace swarm::gguf {

namespace {

template <typename T>
void put(std::string& s, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));   // little-endian hosts only (x86-64, ARM64)
    s.append(b, sizeof(T));
}

void putString(std::string& s, const std::string& v) {
    put<uint64_t>(s, v.size());
    s += v;
}

uint64_t roundUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool isQuantised(TensorType t) { return t == TensorType::Q8_0 || t == TensorType::Q4_0; }

} // namespace

const char* valueTypeName(ValueType t) {
    switch (t) {
    case ValueType::UInt8: return "UINT8";
    case ValueType::Int8: return "INT8";
    case ValueType::UInt16: return "UINT16";
    case ValueType::Int16: return "INT16";
    case ValueType::UInt32: return "UINT32";
    case ValueType::Int32: return "INT32";
    case ValueType::Float32: return "FLOAT32";
    case ValueType::Bool: return "BOOL";
    case ValueType::String: return "STRING";
    case ValueType::Array: return "ARRAY";
    case ValueType::UInt64: return "UINT64";
    case ValueType::Int64: return "INT64";
    case ValueType::Float64: return "FLOAT64";
    }
    return "?";
}

const char* tensorTypeName(TensorType t) {
    switch (t) {
    case TensorType::F32: return "F32";
    case TensorType::F16: return "F16";
    case TensorType::Q4_0: return "Q4_0";
    case TensorType::Q8_0: return "Q8_0";
    case TensorType::BF16: return "BF16";
    }
    return "?";
}

uint64_t tensorBytes(TensorType t, uint64_t rowLength, uint64_t nelements) {
    if (isQuantised(t) && rowLength % kBlock != 0)
        throw Error(std::string("rows of ") + std::to_string(rowLength) + " values cannot be stored as " +
                    tensorTypeName(t) + " (a multiple of 32 is needed)");
    switch (t) {
    case TensorType::F32: return nelements * 4;
    case TensorType::F16:
    case TensorType::BF16: return nelements * 2;
    case TensorType::Q8_0: return nelements / kBlock * kQ8_0BlockBytes;
    case TensorType::Q4_0: return nelements / kBlock * kQ4_0BlockBytes;
    }
    return 0;
}

uint32_t fileTypeOf(TensorType t) {
    switch (t) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q8_0: return 7;
    case TensorType::BF16: return 32;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Values

#define SWARM_GGUF_SCALAR(fn, T, VT)   \
    Value Value::fn(T v) {             \
        Value x;                       \
        x.type_ = ValueType::VT;       \
        put<T>(x.bytes_, v);           \
        return x;                      \
    }
SWARM_GGUF_SCALAR(u8, uint8_t, UInt8)
SWARM_GGUF_SCALAR(i8, int8_t, Int8)
SWARM_GGUF_SCALAR(u16, uint16_t, UInt16)
SWARM_GGUF_SCALAR(i16, int16_t, Int16)
SWARM_GGUF_SCALAR(u32, uint32_t, UInt32)
SWARM_GGUF_SCALAR(i32, int32_t, Int32)
SWARM_GGUF_SCALAR(f32, float, Float32)
SWARM_GGUF_SCALAR(u64, uint64_t, UInt64)
SWARM_GGUF_SCALAR(i64, int64_t, Int64)
SWARM_GGUF_SCALAR(f64, double, Float64)
#undef SWARM_GGUF_SCALAR

Value Value::boolean(bool v) {
    Value x;
    x.type_ = ValueType::Bool;
    x.bytes_.push_back(v ? char(1) : char(0));
    return x;
}

Value Value::string(const std::string& v) {
    Value x;
    x.type_ = ValueType::String;
    putString(x.bytes_, v);
    return x;
}

Value Value::stringArray(const std::vector<std::string>& v) {
    Value x;
    x.type_ = ValueType::Array;
    x.arrayType_ = ValueType::String;
    put<uint32_t>(x.bytes_, uint32_t(ValueType::String));
    put<uint64_t>(x.bytes_, v.size());
    for (const std::string& s : v) putString(x.bytes_, s);
    return x;
}

namespace {
template <typename T>
void numericArray(ValueType et, const std::vector<T>& v, std::string& bytes) {
    put<uint32_t>(bytes, uint32_t(et));
    put<uint64_t>(bytes, v.size());
    for (T e : v) put<T>(bytes, e);
}
} // namespace

Value Value::int32Array(const std::vector<int32_t>& v) {
    Value x;
    x.type_ = ValueType::Array;
    x.arrayType_ = ValueType::Int32;
    numericArray(ValueType::Int32, v, x.bytes_);
    return x;
}

Value Value::uint32Array(const std::vector<uint32_t>& v) {
    Value x;
    x.type_ = ValueType::Array;
    x.arrayType_ = ValueType::UInt32;
    numericArray(ValueType::UInt32, v, x.bytes_);
    return x;
}

Value Value::float32Array(const std::vector<float>& v) {
    Value x;
    x.type_ = ValueType::Array;
    x.arrayType_ = ValueType::Float32;
    numericArray(ValueType::Float32, v, x.bytes_);
    return x;
}

Value Value::array(ValueType element, const std::vector<Value>& elements) {
    if (element == ValueType::Array) throw Error("GGUF arrays cannot hold arrays");
    if (uint32_t(element) > uint32_t(ValueType::Float64)) throw Error("unknown GGUF value type");
    Value x;
    x.type_ = ValueType::Array;
    x.arrayType_ = element;
    put<uint32_t>(x.bytes_, uint32_t(element));
    put<uint64_t>(x.bytes_, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) {
        if (elements[i].type_ != element)
            throw Error(std::string("GGUF array element ") + std::to_string(i) + " is " +
                        valueTypeName(elements[i].type_) + ", the array holds " + valueTypeName(element));
        x.bytes_ += elements[i].bytes_;
    }
    return x;
}

// ---------------------------------------------------------------------------------------------
// Writer

void Writer::set(const std::string& key, Value value) {
    if (key.empty()) throw Error("GGUF metadata key is empty");
    if (key == "general.alignment") {
        if (value.type() != ValueType::UInt32) throw Error("general.alignment must be a UINT32");
        uint32_t a;
        std::memcpy(&a, value.encoded().data(), 4);
        if (a < 8 || (a & (a - 1)) != 0) throw Error("general.alignment must be a power of two >= 8");
        if (!tensors_.empty() && a != alignment_) throw Error("set general.alignment before adding tensors");
        alignment_ = a;
    }
    for (auto& kv : kv_)
        if (kv.first == key) {
            kv.second = std::move(value);
            return;
        }
    kv_.emplace_back(key, std::move(value));
}

bool Writer::has(const std::string& key) const {
    for (const auto& kv : kv_)
        if (kv.first == key) return true;
    return false;
}

void Writer::addTensor(const std::string& name, const std::vector<uint64_t>& dims, TensorType type, Producer produce) {
    if (name.empty()) throw Error("GGUF tensor name is empty");
    if (name.size() > kMaxNameBytes)
        throw Error("GGUF tensor name '" + name + "' is " + std::to_string(name.size()) + " bytes (at most 63)");
    for (const Tensor& t : tensors_)
        if (t.name == name) throw Error("GGUF tensor '" + name + "' is added twice");
    if (dims.empty() || dims.size() > 4)
        throw Error("GGUF tensor '" + name + "' has " + std::to_string(dims.size()) + " dims (1 to 4)");
    uint64_t n = 1;
    for (uint64_t d : dims) {
        if (d == 0) throw Error("GGUF tensor '" + name + "' has a zero dimension");
        n *= d;
    }
    Tensor t;
    t.name = name;
    t.dims = dims;
    t.type = type;
    try {
        t.nbytes = tensorBytes(type, dims[0], n);
    } catch (const Error& e) {
        throw Error("GGUF tensor '" + name + "': " + e.what());
    }
    t.offset = dataBytes_;
    t.produce = std::move(produce);
    dataBytes_ = roundUp(dataBytes_ + t.nbytes, alignment_);
    tensors_.push_back(std::move(t));
}

std::string Writer::header() const {
    std::string h;
    h += "GGUF";
    put<uint32_t>(h, kVersion);
    put<uint64_t>(h, tensors_.size());
    put<uint64_t>(h, kv_.size());
    for (const auto& [key, value] : kv_) {
        putString(h, key);
        put<uint32_t>(h, uint32_t(value.type()));
        h += value.encoded();
    }
    for (const Tensor& t : tensors_) {
        putString(h, t.name);
        put<uint32_t>(h, uint32_t(t.dims.size()));
        for (uint64_t d : t.dims) put<uint64_t>(h, d);
        put<uint32_t>(h, uint32_t(t.type));
        put<uint64_t>(h, t.offset);
    }
    h.append(size_t(roundUp(h.size(), alignment_) - h.size()), '\0');
    return h;
}

uint64_t Writer::dataOffset() const { return header().size(); }

uint64_t Writer::fileSize() const {
    if (tensors_.empty()) return dataOffset();
    const Tensor& last = tensors_.back();
    return dataOffset() + last.offset + last.nbytes;   // no padding after the last tensor
}

void Writer::writeTo(AtomicFile& file, const std::atomic<bool>* cancel, const Progress& progress) const {
    try {
        const std::string h = header();
        const uint64_t total = h.size() + (tensors_.empty() ? 0 : tensors_.back().offset + tensors_.back().nbytes);
        auto checkCancel = [&] {
            if (cancel && cancel->load()) {
                file.abandon();
                throw Cancelled("cancelled: nothing was written to '" + file.targetPath() + "'");
            }
        };
        checkCancel();
        file.write(h);
        uint64_t pos = 0;                    // relative to the data section
        static const char zeros[64] = {};
        std::vector<uint8_t> buf;
        if (progress) progress(h.size(), total);
        for (const Tensor& t : tensors_) {
            checkCancel();
            while (pos < t.offset) {
                const size_t pad = size_t(std::min<uint64_t>(t.offset - pos, sizeof zeros));
                file.write(zeros, pad);
                pos += pad;
            }
            buf.clear();
            t.produce(buf);
            if (buf.size() != t.nbytes)
                throw Error("GGUF tensor '" + t.name + "': produced " + std::to_string(buf.size()) + " bytes, " +
                            tensorTypeName(t.type) + " needs " + std::to_string(t.nbytes));
            checkCancel();
            // Chunks, so that a cancel is seen within a large tensor too.
            const size_t chunk = size_t(8) << 20;
            for (size_t off = 0; off < buf.size(); off += chunk) {
                file.write(buf.data() + off, std::min(chunk, buf.size() - off));
                if (off + chunk < buf.size()) checkCancel();
            }
            pos += t.nbytes;
            if (progress) progress(h.size() + pos, total);
        }
    } catch (...) {
        file.abandon();
        throw;
    }
}

void Writer::write(const std::string& path, const std::atomic<bool>* cancel, const Progress& progress) const {
    AtomicFile file(path);
    writeTo(file, cancel, progress);
    file.commit();
}

// ---------------------------------------------------------------------------------------------
// Block encoders

void quantizeQ8_0(const float* x, uint8_t* out, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b) {
        const float* xb = x + b * kBlock;
        uint8_t* o = out + b * int64_t(kQ8_0BlockBytes);
        float amax = 0.0f;
        for (int i = 0; i < kBlock; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = floatToF16(d);
        std::memcpy(o, &dh, 2);
        for (int i = 0; i < kBlock; ++i) {
            const float q = std::round(xb[i] * id);
            o[2 + i] = uint8_t(int8_t(std::fmax(-127.0f, std::fmin(127.0f, q))));
        }
    }
}

void quantizeQ4_0(const float* x, uint8_t* out, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b) {
        const float* xb = x + b * kBlock;
        uint8_t* o = out + b * int64_t(kQ4_0BlockBytes);
        float amax = 0.0f, m = 0.0f;
        for (int i = 0; i < kBlock; ++i)
            if (std::fabs(xb[i]) > amax) {
                amax = std::fabs(xb[i]);
                m = xb[i];
            }
        const float d = m / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = floatToF16(d);
        std::memcpy(o, &dh, 2);
        auto q = [&](float v) {
            const float f = std::floor(v * id + 8.5f);
            return uint8_t(f < 0.0f ? 0 : (f > 15.0f ? 15 : int(f)));
        };
        for (int i = 0; i < kBlock / 2; ++i) o[2 + i] = uint8_t(q(xb[i]) | (q(xb[i + kBlock / 2]) << 4));
    }
}

void dequantizeQ8_0(const uint8_t* in, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b) {
        const uint8_t* p = in + b * int64_t(kQ8_0BlockBytes);
        uint16_t dh;
        std::memcpy(&dh, p, 2);
        const float d = f16ToFloat(dh);
        for (int i = 0; i < kBlock; ++i) y[b * kBlock + i] = d * float(int8_t(p[2 + i]));
    }
}

void dequantizeQ4_0(const uint8_t* in, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlock; ++b) {
        const uint8_t* p = in + b * int64_t(kQ4_0BlockBytes);
        uint16_t dh;
        std::memcpy(&dh, p, 2);
        const float d = f16ToFloat(dh);
        for (int i = 0; i < kBlock / 2; ++i) {
            y[b * kBlock + i] = d * float(int(p[2 + i] & 0x0f) - 8);
            y[b * kBlock + i + kBlock / 2] = d * float(int(p[2 + i] >> 4) - 8);
        }
    }
}

void encodeRows(TensorType t, const float* x, int64_t rows, int64_t cols, std::vector<uint8_t>& out) {
    const uint64_t n = uint64_t(rows) * uint64_t(cols);
    out.resize(size_t(tensorBytes(t, uint64_t(cols), n)));
    uint8_t* o = out.data();
    switch (t) {
    case TensorType::F32: std::memcpy(o, x, size_t(n) * 4); return;
    case TensorType::F16:
        for (uint64_t i = 0; i < n; ++i) {
            const uint16_t h = floatToF16(x[i]);
            std::memcpy(o + 2 * i, &h, 2);
        }
        return;
    case TensorType::BF16:
        for (uint64_t i = 0; i < n; ++i) {
            const uint16_t h = floatToBf16(x[i]);
            std::memcpy(o + 2 * i, &h, 2);
        }
        return;
    case TensorType::Q8_0: quantizeQ8_0(x, o, int64_t(n)); return;      // rows are whole blocks
    case TensorType::Q4_0: quantizeQ4_0(x, o, int64_t(n)); return;
    }
}

} // namespace swarm::gguf
