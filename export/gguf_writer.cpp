#include "export/gguf_writer.h"

#include "core/system.h"

#include "core/half.h"

#include <algorithm>
#include <cstring>
#include <thread>

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

} // namespace

// ---------------------------------------------------------------------------------------------
// Values

namespace {

template <typename T>
std::string encodedScalar(T v) {
    std::string s;
    put<T>(s, v);
    return s;
}

template <typename T>
std::string encodedArray(ValueType element, const std::vector<T>& v) {
    std::string s;
    put<uint32_t>(s, uint32_t(element));
    put<uint64_t>(s, v.size());
    for (T e : v) put<T>(s, e);
    return s;
}

} // namespace

Value::Value(ValueType type, std::string bytes) : type_(type), bytes_(std::move(bytes)) {}

Value Value::u8(uint8_t v) { return Value(ValueType::UInt8, encodedScalar(v)); }
Value Value::i8(int8_t v) { return Value(ValueType::Int8, encodedScalar(v)); }
Value Value::u16(uint16_t v) { return Value(ValueType::UInt16, encodedScalar(v)); }
Value Value::i16(int16_t v) { return Value(ValueType::Int16, encodedScalar(v)); }
Value Value::u32(uint32_t v) { return Value(ValueType::UInt32, encodedScalar(v)); }
Value Value::i32(int32_t v) { return Value(ValueType::Int32, encodedScalar(v)); }
Value Value::f32(float v) { return Value(ValueType::Float32, encodedScalar(v)); }
Value Value::u64(uint64_t v) { return Value(ValueType::UInt64, encodedScalar(v)); }
Value Value::i64(int64_t v) { return Value(ValueType::Int64, encodedScalar(v)); }
Value Value::f64(double v) { return Value(ValueType::Float64, encodedScalar(v)); }
Value Value::boolean(bool v) { return Value(ValueType::Bool, encodedScalar(uint8_t(v ? 1 : 0))); }

Value Value::string(const std::string& v) {
    std::string s;
    putString(s, v);
    return Value(ValueType::String, std::move(s));
}

Value Value::stringArray(const std::vector<std::string>& v) {
    std::string s;
    put<uint32_t>(s, uint32_t(ValueType::String));
    put<uint64_t>(s, v.size());
    for (const std::string& e : v) putString(s, e);
    return Value(ValueType::Array, std::move(s));
}

Value Value::int32Array(const std::vector<int32_t>& v) {
    return Value(ValueType::Array, encodedArray(ValueType::Int32, v));
}

Value Value::array(ValueType element, const std::vector<Value>& elements) {
    if (element == ValueType::Array) throw Error("GGUF arrays cannot hold arrays");
    if (!isValueType(uint32_t(element))) throw Error("unknown GGUF value type " + std::to_string(uint32_t(element)));
    std::string s;
    put<uint32_t>(s, uint32_t(element));
    put<uint64_t>(s, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) {
        if (elements[i].type_ != element)
            throw Error(std::string("GGUF array element ") + std::to_string(i) + " is " +
                        valueTypeName(elements[i].type_) + ", the array holds " + valueTypeName(element));
        s += elements[i].bytes_;
    }
    return Value(ValueType::Array, std::move(s));
}

// ---------------------------------------------------------------------------------------------
// Writer

void Writer::set(const std::string& key, Value value) {
    if (key.empty()) throw Error("GGUF metadata key is empty");
    if (key == key::kAlignment) {
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

void Writer::addTensor(const std::string& name, const std::vector<uint64_t>& dims, TensorType type, Producer produce) {
    if (name.empty()) throw Error("GGUF tensor name is empty");
    if (name.size() > kMaxTensorNameBytes)
        throw Error("GGUF tensor name '" + name + "' is " + std::to_string(name.size()) + " bytes (at most 63)");
    for (const Tensor& t : tensors_)
        if (t.name == name) throw Error("GGUF tensor '" + name + "' is added twice");
    if (dims.empty() || dims.size() > kMaxDims)
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
// Rows

void encodeRows(TensorType t, const float* x, int64_t rows, int64_t cols, std::vector<uint8_t>& out) {
    const uint64_t n = uint64_t(rows) * uint64_t(cols);
    out.resize(size_t(tensorBytes(t, uint64_t(cols), n)));
    if (!isQuantized(t) || rows < 64) {
        // Rows are whole blocks (tensorBytes checked it), so the rows encode as one.
        encodeRow(t, x, out.data(), int64_t(n));
        return;
    }
    // The k-quant reference quantisers search each sub-block's scale (~200 flops a weight): the
    // rows are shared out among the cores. Each row's bytes depend on that row alone.
    const size_t perRow = size_t(rowBytes(t, uint64_t(cols)));
    const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(availableCores(), rows / 32));
    std::vector<std::thread> threads;
    for (int64_t k = 0; k < workers; ++k)
        threads.emplace_back([&, k] {
            for (int64_t r = k * rows / workers; r < (k + 1) * rows / workers; ++r)
                encodeRow(t, x + r * cols, out.data() + size_t(r) * perRow, cols);
        });
    for (std::thread& th : threads) th.join();
}

} // namespace swarm::gguf
