#pragma once
// A minimal GGUF parser for the tests (test-only, from the specification): every field read with
// bounds checks, independent of the product's writer (export/gguf_writer) and reader (engine/gguf).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gguftest {

struct PValue {
    uint32_t type = 0;
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    std::string s;
    uint32_t arrType = 0;
    std::vector<PValue> arr;
};
struct PTensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type = 0;
    uint64_t offset = 0;
};
struct PFile {
    uint32_t version = 0;
    std::vector<std::pair<std::string, PValue>> kv;
    std::vector<PTensor> tensors;
    uint64_t dataStart = 0;
    uint64_t infosEnd = 0;
    std::string bytes;
    const PValue& at(const std::string& k) const {
        for (const auto& e : kv)
            if (e.first == k) return e.second;
        throw std::runtime_error("missing key " + k);
    }
    bool has(const std::string& k) const {
        for (const auto& e : kv)
            if (e.first == k) return true;
        return false;
    }
    const PTensor& tensor(const std::string& n) const {
        for (const auto& t : tensors)
            if (t.name == n) return t;
        throw std::runtime_error("missing tensor " + n);
    }
};

class Reader {
public:
    explicit Reader(const std::string& b) : b_(b) {}
    template <typename T>
    T get() {
        if (pos_ + sizeof(T) > b_.size()) throw std::runtime_error("read past the end at " + std::to_string(pos_));
        T v;
        std::memcpy(&v, b_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string str() {
        const uint64_t n = get<uint64_t>();
        if (n > b_.size() - pos_) throw std::runtime_error("string past the end");
        std::string s = b_.substr(size_t(pos_), size_t(n));
        pos_ += n;
        return s;
    }
    PValue value(uint32_t type) {
        PValue v;
        v.type = type;
        switch (type) {
        case 0: v.u = get<uint8_t>(); break;
        case 1: v.i = get<int8_t>(); break;
        case 2: v.u = get<uint16_t>(); break;
        case 3: v.i = get<int16_t>(); break;
        case 4: v.u = get<uint32_t>(); break;
        case 5: v.i = get<int32_t>(); break;
        case 6: v.f = get<float>(); break;
        case 7: {
            const uint8_t b = get<uint8_t>();
            if (b > 1) throw std::runtime_error("bool byte is not 0 or 1");
            v.u = b;
            break;
        }
        case 8: v.s = str(); break;
        case 9: {
            v.arrType = get<uint32_t>();
            if (v.arrType == 9) throw std::runtime_error("nested array");
            const uint64_t n = get<uint64_t>();
            for (uint64_t k = 0; k < n; ++k) v.arr.push_back(value(v.arrType));
            break;
        }
        case 10: v.u = get<uint64_t>(); break;
        case 11: v.i = get<int64_t>(); break;
        case 12: v.f = get<double>(); break;
        default: throw std::runtime_error("unknown value type " + std::to_string(type));
        }
        return v;
    }
    uint64_t pos() const { return pos_; }

private:
    const std::string& b_;
    uint64_t pos_ = 0;
};

inline PFile parseGguf(const std::string& path) {
    PFile f;
    std::ifstream in(path, std::ios::binary);
    f.bytes.assign(std::istreambuf_iterator<char>(in), {});
    Reader r(f.bytes);
    if (f.bytes.compare(0, 4, "GGUF") != 0) throw std::runtime_error("bad magic");
    r.get<uint32_t>();
    f.version = r.get<uint32_t>();
    const uint64_t nt = r.get<uint64_t>(), nkv = r.get<uint64_t>();
    for (uint64_t k = 0; k < nkv; ++k) {
        std::string key = r.str();
        const uint32_t type = r.get<uint32_t>();
        f.kv.emplace_back(key, r.value(type));
    }
    for (uint64_t k = 0; k < nt; ++k) {
        PTensor t;
        t.name = r.str();
        const uint32_t nd = r.get<uint32_t>();
        for (uint32_t d = 0; d < nd; ++d) t.dims.push_back(r.get<uint64_t>());
        t.type = r.get<uint32_t>();
        t.offset = r.get<uint64_t>();
        f.tensors.push_back(t);
    }
    f.infosEnd = r.pos();
    uint64_t align = 32;
    if (f.has("general.alignment")) align = f.at("general.alignment").u;
    f.dataStart = (f.infosEnd + align - 1) / align * align;
    return f;
}

// Bytes of n values of a ggml type (F32, F16, BF16, Q8_0, Q4_0).
inline uint64_t ggmlBytes(uint32_t type, uint64_t n) {
    switch (type) {
    case 0: return n * 4;
    case 1:
    case 30: return n * 2;
    case 8: return n / 32 * 34;
    case 2: return n / 32 * 18;
    }
    throw std::runtime_error("type");
}

} // namespace gguftest
