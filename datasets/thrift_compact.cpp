#include "datasets/thrift_compact.h"

#include "core/error.h"

#include <cstring>

namespace swarm::thrift {

namespace {

constexpr int kMaxDepth = 64;                  // structs within structs; Parquet needs under 10
constexpr uint32_t kMaxContainer = 1u << 26;   // elements in one list (bounded again by the bytes)

int64_t unzigzag(uint64_t v) { return int64_t(v >> 1) ^ -int64_t(v & 1); }

} // namespace

const char* compactTypeName(uint8_t type) {
    switch (type) {
    case kStop: return "stop";
    case kTrue:
    case kFalse: return "bool";
    case kByte: return "i8";
    case kI16: return "i16";
    case kI32: return "i32";
    case kI64: return "i64";
    case kDouble: return "double";
    case kBinary: return "binary";
    case kList: return "list";
    case kSet: return "set";
    case kMap: return "map";
    case kStruct: return "struct";
    }
    return "unknown";
}

CompactReader::CompactReader(const uint8_t* data, size_t size, std::string context, uint64_t fileOffset)
    : data_(data), size_(size), context_(std::move(context)), base_(fileOffset) {}

void CompactReader::fail(const std::string& problem) const {
    std::string where;
    for (const char* s : structNames_) where += (where.empty() ? "" : ".") + std::string(s);
    throw Error(context_ + ": malformed Thrift metadata at file offset " + std::to_string(base_ + pos_) +
                (where.empty() ? "" : " (in " + where + ")") + ": " + problem);
}

uint8_t CompactReader::readRaw() {
    if (pos_ >= size_) fail("the metadata ends early (" + std::to_string(size_) + " bytes)");
    return data_[pos_++];
}

uint64_t CompactReader::readVarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        const uint8_t b = readRaw();
        v |= uint64_t(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
    }
    fail("a varint longer than 10 bytes");
}

void CompactReader::beginStruct(const char* name) {
    if (lastField_.size() >= size_t(kMaxDepth)) fail("structs nested deeper than 64 levels");
    lastField_.push_back(0);
    structNames_.push_back(name);
}

void CompactReader::endStruct() {
    lastField_.pop_back();
    structNames_.pop_back();
}

bool CompactReader::nextField(int16_t& id, uint8_t& type) {
    const uint8_t b = readRaw();
    type = b & 0x0F;
    if (type == kStop) return false;
    if (type > kStruct) fail("unknown field type " + std::to_string(type));
    const int delta = b >> 4;
    if (delta == 0) {
        const int64_t v = unzigzag(readVarint());
        if (v < -32768 || v > 32767) fail("a field id out of the i16 range");
        id = int16_t(v);
    } else {
        id = int16_t(lastField_.back() + delta);
    }
    lastField_.back() = id;
    return true;
}

int8_t CompactReader::readByte() { return int8_t(readRaw()); }

int32_t CompactReader::readI32() {
    const int64_t v = unzigzag(readVarint());
    if (v < INT32_MIN || v > INT32_MAX) fail("an i32 out of range");
    return int32_t(v);
}

int64_t CompactReader::readI64() { return unzigzag(readVarint()); }

double CompactReader::readDouble() {
    if (size_ - pos_ < 8) fail("the metadata ends inside a double");
    double d;
    std::memcpy(&d, data_ + pos_, 8);
    pos_ += 8;
    return d;
}

std::string CompactReader::readBinary() {
    const uint64_t n = readVarint();
    if (n > size_ - pos_) fail("a string of " + std::to_string(n) + " bytes runs past the metadata's end");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
}

bool CompactReader::readBool(uint8_t fieldType) { return fieldType == kTrue; }

bool CompactReader::readListBool() {
    const uint8_t b = readRaw();
    if (b != 0 && b != 1 && b != 2) fail("a list bool of value " + std::to_string(b));
    return b == 1;
}

void CompactReader::readListHeader(uint8_t& elementType, uint32_t& count) {
    const uint8_t b = readRaw();
    elementType = b & 0x0F;
    uint64_t n = b >> 4;
    if (n == 15) n = readVarint();
    if (elementType > kStruct || elementType == kStop) fail("a list of unknown element type " + std::to_string(elementType));
    // Every element takes at least one byte: a count past the bytes left is corrupt.
    if (n > kMaxContainer || n > size_ - pos_) fail("a list of " + std::to_string(n) + " elements in " +
                                                    std::to_string(size_ - pos_) + " bytes");
    count = uint32_t(n);
}

void CompactReader::expect(uint8_t type, uint8_t expected, const char* field) {
    const bool ok = type == expected || (expected == kTrue && type == kFalse);
    if (!ok)
        fail(std::string("field '") + field + "' has type " + compactTypeName(type) + ", expected " + compactTypeName(expected));
}

void CompactReader::skip(uint8_t type) { skipDepth(type, 0); }

void CompactReader::skipDepth(uint8_t type, int depth) {
    if (depth > kMaxDepth) fail("values nested deeper than 64 levels");
    switch (type) {
    case kTrue:
    case kFalse: return;   // a field's bool lives in its type
    case kByte: readRaw(); return;
    case kI16:
    case kI32:
    case kI64: readVarint(); return;
    case kDouble: readDouble(); return;
    case kBinary: {
        const uint64_t n = readVarint();
        if (n > size_ - pos_) fail("a string of " + std::to_string(n) + " bytes runs past the metadata's end");
        pos_ += size_t(n);
        return;
    }
    case kList:
    case kSet: {
        uint8_t et;
        uint32_t n;
        readListHeader(et, n);
        for (uint32_t i = 0; i < n; ++i) {
            if (et == kTrue || et == kFalse) readListBool();
            else skipDepth(et, depth + 1);
        }
        return;
    }
    case kMap: {
        const uint64_t n = readVarint();
        if (n == 0) return;
        if (n > size_ - pos_) fail("a map of " + std::to_string(n) + " entries runs past the metadata's end");
        const uint8_t kv = readRaw();
        for (uint64_t i = 0; i < n; ++i) {
            for (uint8_t t : {uint8_t(kv >> 4), uint8_t(kv & 0x0F)}) {
                if (t == kTrue || t == kFalse) readListBool();
                else skipDepth(t, depth + 1);
            }
        }
        return;
    }
    case kStruct: {
        beginStruct("?");
        int16_t id;
        uint8_t t;
        while (nextField(id, t)) skipDepth(t, depth + 1);
        endStruct();
        return;
    }
    default: fail("cannot skip a value of type " + std::to_string(type));
    }
}

} // namespace swarm::thrift
