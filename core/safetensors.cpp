#include "core/safetensors.h"

#include "core/atomic_file.h"
#include "core/error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace swarm {

// tensors() lists the tensors in the order the header names them (not sorted by name or offset).
// The header is parsed into a plain (std::map based) nlohmann::json and a SAX pass (HeaderScan)
// records the order of the top-level keys. nlohmann::ordered_json would keep the order itself, but
// it searches linearly on every insertion (quadratic in the number of keys: a 100 MiB header of
// tiny entries would take hours) and copies values recursively whenever an object grows.
using Json = nlohmann::json;

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shapeToString(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

namespace {

// Names and strings from a file go into one-line messages: escape control characters, keep the
// message short, and never let bytes of a broken file make the message itself invalid UTF-8.
std::string printable(const std::string& s, size_t maxLen = 120) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (out.size() >= maxLen) {
            out += "...";
            break;
        }
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f || c >= 0x80) {
            if (c >= 0x80) {
                // Keep well-formed multi-byte UTF-8 sequences; escape anything else.
                size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
                bool ok = len >= 2 && i + len <= s.size() && c >= 0xc2 && c <= 0xf4;
                for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
                if (ok) {
                    out.append(s, i, len);
                    i += len - 1;
                    continue;
                }
            }
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += char(c);
        }
    }
    return out;
}

std::string nameInQuotes(const std::string& name) { return "'" + printable(name) + "'"; }

// A short description of a JSON value for messages; never dumps a (possibly huge or deeply
// nested) container.
std::string describe(const Json& v) {
    if (v.is_array()) return "an array of " + std::to_string(v.size()) + " elements";
    if (v.is_object()) return "an object";
    if (v.is_string()) return "the string \"" + printable(v.get_ref<const std::string&>(), 40) + "\"";
    return v.dump();   // number, boolean, null
}

// JSON integers >= 0 ("-0" included); nlohmann parses integers beyond 64 bits as floats,
// which are refused here.
std::optional<uint64_t> nonNegative(const Json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return uint64_t(v.get<int64_t>());
    return std::nullopt;
}

// A SAX pass over the header that keeps no values. It limits the nesting depth (a valid header
// is 3 levels deep: header, entry, shape; nothing may recurse over a hostile 100 MiB of '['),
// finds duplicate keys in the header object and in each entry (they would silently replace each
// other), and records the order of the top-level keys for tensors().
// (nlohmann's callback DOM parser could do this too, but it rescans the parent object at the end
// of every nested object: quadratic in the number of tensors.)
class HeaderScan : public nlohmann::json_sax<Json> {
public:
    static constexpr int kMaxDepth = 64;
    std::vector<std::string> order;
    std::string duplicate;
    std::string error;
    bool tooDeep = false;

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
        if (!enter()) return false;
        if (depth_ == 2) entryKeys_.clear();
        return true;
    }
    bool key(string_t& k) override {
        if (depth_ == 1) {
            if (topKeys_.insert(k).second) order.push_back(k);
            else if (duplicate.empty()) duplicate = k;
        } else if (depth_ == 2) {
            if (!entryKeys_.insert(k).second && duplicate.empty()) duplicate = k;
        }
        return true;
    }
    bool end_object() override {
        --depth_;
        return true;
    }
    bool start_array(std::size_t) override { return enter(); }
    bool end_array() override {
        --depth_;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
        error = e.what();
        return false;
    }

private:
    bool enter() {
        if (++depth_ > kMaxDepth) {
            tooDeep = true;
            return false;
        }
        return true;
    }
    int depth_ = 0;
    std::unordered_set<std::string> topKeys_;
    std::unordered_set<std::string> entryKeys_;
};

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

Error failure(const std::string& path, const std::string& why) { return Error(path + ": " + why); }

// Maps the whole file read-only; `size` gets its size (at least the 8 bytes of the header length).
void* mapFile(const std::string& path, uint64_t& size) {
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        const int err = errno;
        throw failure(path, std::string("cannot open safetensors file: ") + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw failure(path, std::string("cannot open safetensors file: ") + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw failure(path, S_ISDIR(st.st_mode) ? "is a directory, not a safetensors file" : "is not a regular file");
    }
    size = uint64_t(st.st_size);
    if (size < 8) {
        ::close(fd);
        throw failure(path, "not a safetensors file: only " + std::to_string(size) +
                                " bytes (the header length alone takes 8)");
    }
    if (size > uint64_t(std::numeric_limits<size_t>::max())) {
        ::close(fd);
        throw failure(path, "file too large to map");
    }
    void* m = ::mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int mapErr = errno;
    ::close(fd);
    if (m == MAP_FAILED) throw failure(path, std::string("cannot map safetensors file: ") + std::strerror(mapErr));
    return m;
}

// The header's length from its 8 little-endian bytes, checked against the limit and the file.
uint64_t headerLength(const std::string& path, const uint8_t* base, uint64_t fileSize) {
    uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | base[i];
    if (headerLen == 0) throw failure(path, "invalid safetensors header: header length is 0");
    if (headerLen > SafetensorsReader::kMaxHeaderBytes)
        throw failure(path, "invalid safetensors header: header length " + std::to_string(headerLen) +
                                " exceeds the limit of " + std::to_string(SafetensorsReader::kMaxHeaderBytes) + " bytes");
    if (headerLen > fileSize - 8)
        throw failure(path, "invalid safetensors header: header length " + std::to_string(headerLen) +
                                " runs past the end of the file (" + std::to_string(fileSize) + " bytes)");
    return headerLen;
}

// The header as JSON, and its top-level keys in file order.
Json parseHeader(const std::string& path, const char* begin, uint64_t length, std::vector<std::string>& order) {
    // nlohmann stops at a NUL byte as if the input ended there; JSON allows none anywhere.
    if (const void* nul = std::memchr(begin, 0, size_t(length)))
        throw failure(path, "invalid safetensors header: not valid JSON (NUL byte at header offset " +
                                std::to_string(static_cast<const char*>(nul) - begin) + ")");

    // First pass (SAX, no values kept): syntax and UTF-8, nesting depth, duplicate keys and
    // the order of the tensor names. Only then is the header built as a DOM.
    HeaderScan scan;
    bool scanned = false;
    try {
        scanned = Json::sax_parse(begin, begin + length, &scan);
    } catch (const std::exception& e) {
        if (scan.error.empty()) scan.error = e.what();
    }
    if (scan.tooDeep)
        throw failure(path, "invalid safetensors header: JSON nested more than " + std::to_string(HeaderScan::kMaxDepth) +
                                " levels deep");
    if (!scanned || !scan.error.empty())
        // nlohmann reports invalid UTF-8 and syntax errors alike; its text may quote raw bytes.
        throw failure(path, "invalid safetensors header: not valid JSON (" +
                                printable(scan.error.empty() ? std::string("rejected") : scan.error, 300) + ")");
    Json header;
    try {
        header = Json::parse(begin, begin + length);
    } catch (const std::exception& e) {
        throw failure(path, "invalid safetensors header: not valid JSON (" + printable(e.what(), 300) + ")");
    }
    if (!header.is_object())
        throw failure(path, "invalid safetensors header: expected a JSON object, got " + describe(header));
    if (!scan.duplicate.empty())
        throw failure(path, "invalid safetensors header: key " + nameInQuotes(scan.duplicate) + " appears twice");
    order = std::move(scan.order);
    return header;
}

std::map<std::string, std::string> readMetadata(const std::string& path, const Json& entry) {
    if (!entry.is_object())
        throw failure(path, "invalid safetensors header: __metadata__ must be an object of strings, got " + describe(entry));
    std::map<std::string, std::string> metadata;
    for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
            throw failure(path, "invalid safetensors header: __metadata__ entry " + nameInQuotes(key) +
                                    " must be a string, got " + describe(value));
        metadata[key] = value.get<std::string>();
    }
    return metadata;
}

// The shape of a tensor entry, and its element count (throws when it overflows).
uint64_t readShape(const std::string& path, const std::string& t, const Json& entry, TensorInfo& info) {
    auto sh = entry.find("shape");
    if (sh == entry.end()) throw failure(path, t + ": \"shape\" is missing");
    if (!sh->is_array()) throw failure(path, t + ": \"shape\" must be an array of integers, got " + describe(*sh));
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : *sh) {
        auto dim = nonNegative(d);
        if (!dim) {
            if (d.is_number_integer()) throw failure(path, t + ": shape has a negative dimension " + d.dump());
            throw failure(path, t + ": \"shape\" must be an array of integers, found " + describe(d));
        }
        if (*dim > uint64_t(std::numeric_limits<int64_t>::max()))
            throw failure(path, t + ": shape dimension " + d.dump() + " is too large");
        info.shape.push_back(int64_t(*dim));
        if (*dim != 0 && numel > kMaxU64 / *dim) overflow = true;
        else numel *= *dim;
    }
    // A zero dimension makes the product 0 whatever the other dimensions are.
    if (std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end()) overflow = false, numel = 0;
    const uint64_t elemSize = dtypeSize(info.dtype);
    if (overflow || numel > uint64_t(std::numeric_limits<int64_t>::max()) || numel > kMaxU64 / elemSize)
        throw failure(path, t + ": shape " + shapeToString(info.shape) + " has too many elements");
    return numel;
}

// One tensor entry {"dtype", "shape", "data_offsets"}, checked against the data section.
TensorInfo readTensorEntry(const std::string& path, const std::string& name, const Json& entry, uint64_t dataSize) {
    const std::string t = "tensor " + nameInQuotes(name);
    if (!entry.is_object()) throw failure(path, t + ": entry must be an object, got " + describe(entry));
    TensorInfo info;
    info.name = name;

    auto dt = entry.find("dtype");
    if (dt == entry.end()) throw failure(path, t + ": \"dtype\" is missing");
    if (!dt->is_string()) throw failure(path, t + ": \"dtype\" must be a string, got " + describe(*dt));
    auto parsedType = parseSafetensorsDType(dt->get_ref<const std::string&>());
    if (!parsedType)
        throw failure(path, t + " has dtype " + printable(dt->get_ref<const std::string&>(), 40) +
                                "; supported: F32, F16, BF16");
    info.dtype = *parsedType;
    const uint64_t expectedBytes = readShape(path, t, entry, info) * dtypeSize(info.dtype);

    auto off = entry.find("data_offsets");
    if (off == entry.end()) throw failure(path, t + ": \"data_offsets\" is missing");
    if (!off->is_array() || off->size() != 2)
        throw failure(path, t + ": \"data_offsets\" must be an array [begin, end], got " + describe(*off));
    auto begin = nonNegative((*off)[0]), end = nonNegative((*off)[1]);
    if (!begin || !end)
        throw failure(path, t + ": \"data_offsets\" must hold two non-negative integers, found " +
                                describe((*off)[begin ? 1 : 0]));
    info.begin = *begin;
    info.end = *end;
    if (info.begin > info.end)
        throw failure(path, t + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                                "] has begin > end");
    if (info.end > dataSize)
        throw failure(path, t + ": data_offsets end " + std::to_string(info.end) + " is beyond the data section (" +
                                std::to_string(dataSize) + " bytes; the file may be truncated)");
    if (info.end - info.begin != expectedBytes)
        throw failure(path, t + ": data_offsets span " + std::to_string(info.end - info.begin) + " bytes, but shape " +
                                shapeToString(info.shape) + " of " + dtypeName(info.dtype) + " needs " +
                                std::to_string(expectedBytes));
    return info;
}

// No two tensors may share bytes (empty tensors occupy none). Gaps are allowed.
void checkNoOverlap(const std::string& path, const std::vector<TensorInfo>& tensors) {
    std::vector<const TensorInfo*> byOffset;
    for (const TensorInfo& t : tensors)
        if (t.end > t.begin) byOffset.push_back(&t);
    std::sort(byOffset.begin(), byOffset.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    const TensorInfo* furthest = nullptr;
    for (const TensorInfo* t : byOffset) {
        if (furthest && t->begin < furthest->end)
            throw failure(path, "tensors " + nameInQuotes(furthest->name) + " and " + nameInQuotes(t->name) +
                                    " overlap in the data section (bytes " + std::to_string(t->begin) + ".." +
                                    std::to_string(std::min(t->end, furthest->end)) + ")");
        if (!furthest || t->end > furthest->end) furthest = t;
    }
}

} // namespace

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path) {
    map_ = mapFile(path_, fileSize_);
    // From here on the mapping must be released if validation fails.
    try {
        const uint8_t* base = static_cast<const uint8_t*>(map_);
        const uint64_t headerLen = headerLength(path_, base, fileSize_);
        dataStart_ = base + 8 + headerLen;
        const uint64_t dataSize = fileSize_ - 8 - headerLen;
        std::vector<std::string> order;
        const Json header = parseHeader(path_, reinterpret_cast<const char*>(base + 8), headerLen, order);
        for (const std::string& name : order) {
            const Json& entry = header.at(name);
            if (name == "__metadata__") {
                metadata_ = readMetadata(path_, entry);
                continue;
            }
            TensorInfo info = readTensorEntry(path_, name, entry, dataSize);
            index_[name] = tensors_.size();
            tensors_.push_back(std::move(info));
        }
        checkNoOverlap(path_, tensors_);
    } catch (...) {
        ::munmap(map_, size_t(fileSize_));
        map_ = nullptr;
        throw;
    }
}

SafetensorsReader::~SafetensorsReader() {
    if (map_) ::munmap(map_, size_t(fileSize_));
}

const TensorInfo* SafetensorsReader::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

void writeSafetensors(const std::string& path, const std::vector<TensorView>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    auto fail = [&](const std::string& why) -> Error { return Error("cannot write '" + path + "': " + why); };

    // Everything is checked before the file is created, so bad input leaves nothing behind.
    // The header text is assembled entry by entry: "__metadata__" first, then the tensors in the
    // given order (a Json object would sort them by name).
    auto jsonString = [](const std::string& s) { return Json(s).dump(); };   // throws on invalid UTF-8
    std::string text = "{";
    if (!metadata.empty()) {
        Json meta = Json::object();
        for (const auto& [k, v] : metadata) {
            try {
                jsonString(k);
                jsonString(v);
            } catch (const std::exception&) {
                throw fail("__metadata__ entry " + nameInQuotes(k) + " is not valid UTF-8");
            }
            meta[k] = v;
        }
        text += "\"__metadata__\":" + meta.dump();
    }
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const TensorView& t : tensors) {
        const std::string tn = "tensor " + nameInQuotes(t.name);
        if (t.name.empty()) throw fail("a tensor has an empty name");
        if (t.name == "__metadata__") throw fail("a tensor may not be named __metadata__");
        std::string key;
        try {
            key = jsonString(t.name);
        } catch (const std::exception&) {
            throw fail(tn + ": the name is not valid UTF-8");
        }
        if (!names.insert(t.name).second) throw fail(tn + " is given twice");
        uint64_t numel = 1;
        bool zero = false, overflow = false;
        for (int64_t d : t.shape) {
            if (d < 0) throw fail(tn + ": shape " + shapeToString(t.shape) + " has a negative dimension");
            if (d == 0) zero = true;
            else if (numel > kMaxU64 / uint64_t(d)) overflow = true;
            else numel *= uint64_t(d);
        }
        if (zero) numel = 0, overflow = false;
        const uint64_t elemSize = dtypeSize(t.dtype);
        if (overflow || numel > kMaxU64 / elemSize) throw fail(tn + ": shape " + shapeToString(t.shape) + " is too large");
        if (t.nbytes != numel * elemSize)
            throw fail(tn + ": " + std::to_string(t.nbytes) + " bytes given, but shape " + shapeToString(t.shape) +
                       " of " + dtypeName(t.dtype) + " needs " + std::to_string(numel * elemSize));
        if (t.nbytes > 0 && !t.data) throw fail(tn + ": no data");
        if (offset > kMaxU64 - t.nbytes) throw fail(tn + ": the file would be too large");
        if (text.size() > 1) text += ',';
        text += key + ":{\"dtype\":\"" + dtypeName(t.dtype) + "\",\"shape\":" + Json(t.shape).dump() +
                ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.nbytes) + "]}";
        offset += t.nbytes;
    }
    text += '}';

    // Pad with spaces so that the data section starts 8-byte aligned, as the reference writer does.
    // Tensors are packed back to back, as the reference writer does and its reader requires.
    text.append((8 - text.size() % 8) % 8, ' ');
    if (text.size() > SafetensorsReader::kMaxHeaderBytes)
        throw fail("the header would be " + std::to_string(text.size()) + " bytes, over the limit of " +
                   std::to_string(SafetensorsReader::kMaxHeaderBytes));
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));

    AtomicFile file(path);
    file.write(len, sizeof len);
    file.write(text);
    for (const TensorView& t : tensors)
        if (t.nbytes > 0) file.write(t.data, size_t(t.nbytes));
    file.commit();
}

} // namespace swarm
