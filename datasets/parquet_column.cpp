#include "datasets/parquet_column.h"

#include "core/error.h"
#include "datasets/dataset_reader.h"

#include <charconv>
#include <cstring>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

using nlohmann::json;

namespace swarm::parquet {

namespace {

uint32_t readLe32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

template <class T>
T loadLe(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));   // the build is little-endian (x86-64, aarch64), as Parquet is
    return v;
}

// A FLOAT widened to double keeps its shortest decimal spelling: 0.1f reads as 0.1, not
// 0.10000000149011612, as the same number in a JSONL file would.
double widenFloat(float f) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, f);
    double d = f;
    std::from_chars(buf, r.ptr, d);
    return d;
}

} // namespace

int bitWidthFor(uint32_t maxValue) {
    int w = 0;
    while (maxValue) {
        ++w;
        maxValue >>= 1;
    }
    return w;
}

size_t decodeHybrid(const uint8_t* p, size_t n, int bitWidth, size_t count, std::vector<uint32_t>& out, bool* ok) {
    *ok = true;
    out.clear();
    out.reserve(count);
    size_t pos = 0;
    const size_t valueBytes = size_t(bitWidth + 7) / 8;
    const uint64_t mask = bitWidth >= 32 ? 0xFFFFFFFFull : ((uint64_t(1) << bitWidth) - 1);
    while (out.size() < count) {
        // Run header: ULEB128; low bit 1: bit-packed groups of 8, else an RLE run.
        uint64_t header = 0;
        int shift = 0;
        for (;;) {
            if (pos >= n || shift > 35) {
                *ok = false;
                return pos;
            }
            const uint8_t b = p[pos++];
            header |= uint64_t(b & 0x7F) << shift;
            shift += 7;
            if (!(b & 0x80)) break;
        }
        if (header & 1) {
            const uint64_t groups = header >> 1;
            const uint64_t bytes = groups * uint64_t(bitWidth);
            if (groups == 0 || bytes > n - pos) {
                *ok = false;
                return pos;
            }
            const uint64_t values = groups * 8;
            for (uint64_t i = 0; i < values && out.size() < count; ++i) {
                // Values are packed from the least significant bit of each byte.
                const uint64_t bit = i * uint64_t(bitWidth);
                uint64_t v = 0;
                for (int k = 0; k < bitWidth;) {
                    const uint64_t at = bit + uint64_t(k);
                    const uint8_t byte = p[pos + at / 8];
                    const int off = int(at % 8);
                    const int take = std::min(8 - off, bitWidth - k);
                    v |= uint64_t((byte >> off) & ((1u << take) - 1)) << k;
                    k += take;
                }
                out.push_back(uint32_t(v & mask));
            }
            pos += size_t(bytes);
        } else {
            const uint64_t run = header >> 1;
            if (run == 0 || valueBytes > n - pos) {
                *ok = false;
                return pos;
            }
            uint64_t v = 0;
            for (size_t k = 0; k < valueBytes; ++k) v |= uint64_t(p[pos + k]) << (8 * k);
            pos += valueBytes;
            if (v > mask) {
                *ok = false;
                return pos;
            }
            for (uint64_t i = 0; i < run && out.size() < count; ++i) out.push_back(uint32_t(v));
        }
    }
    return pos;
}

ColumnChunkReader::ColumnChunkReader(const uint8_t* file, uint64_t fileSize, const std::string& fileName,
                                     const LeafColumn& leaf, const ColumnMetaData& meta, int rowGroup)
    : file_(file), fileSize_(fileSize), fileName_(fileName), leaf_(leaf), codec_(meta.codec), rowGroup_(rowGroup) {
    const bool dictFirst = meta.dictionaryPageOffset > 0 && meta.dictionaryPageOffset < meta.dataPageOffset;
    const int64_t start = dictFirst ? meta.dictionaryPageOffset : meta.dataPageOffset;
    if (start < 4 || meta.totalCompressedSize < 0 || uint64_t(start) > fileSize_ ||
        uint64_t(meta.totalCompressedSize) > fileSize_ - uint64_t(start))
        fail(uint64_t(std::max<int64_t>(start, 0)), "the column chunk (offset " + std::to_string(start) + ", " +
                                                       std::to_string(meta.totalCompressedSize) + " bytes) lies outside the file");
    pos_ = uint64_t(start);
    end_ = pos_ + uint64_t(meta.totalCompressedSize);
    valuesLeft_ = meta.numValues;
    if (codec_ != kUncompressed && codec_ != kSnappy && codec_ != kGzip && codec_ != kZstd)
        fail(pos_, std::string("compression ") + codecName(codec_) +
                       " is not supported (UNCOMPRESSED, SNAPPY, GZIP and ZSTD are); rewrite the file with one of those");
}

void ColumnChunkReader::fail(uint64_t offset, const std::string& problem) const {
    throw Error(fileName_ + ": column '" + leaf_.path + "', row group " + std::to_string(rowGroup_) + ", page at offset " +
                std::to_string(offset) + ": " + problem);
}

bool ColumnChunkReader::atEnd() {
    while (slot_ == slots_) {
        if (valuesLeft_ <= 0 || pos_ >= end_) return true;
        if (!loadPage()) return true;
    }
    return false;
}

int ColumnChunkReader::peekRepetition() { return leaf_.maxRep ? int(reps_[slot_]) : 0; }

int ColumnChunkReader::next(json& value) {
    const int def = leaf_.maxDef ? int(defs_[slot_]) : 0;
    ++slot_;
    if (def == leaf_.maxDef) value = std::move(values_[valueIndex_++]);
    return def;
}

const uint8_t* ColumnChunkReader::decompress(const uint8_t* src, size_t size, size_t expected, std::vector<uint8_t>& out,
                                             uint64_t offset) {
    if (codec_ == kUncompressed) {
        if (size != expected) fail(offset, "an uncompressed page of " + std::to_string(size) + " bytes announces " + std::to_string(expected));
        return src;
    }
    if (expected > (size_t(1) << 31)) fail(offset, "a page announces " + std::to_string(expected) + " uncompressed bytes");
    out.resize(expected);
    if (codec_ == kSnappy) {
        size_t len = 0;
        if (snappy_uncompressed_length(reinterpret_cast<const char*>(src), size, &len) != SNAPPY_OK || len != expected)
            fail(offset, "the SNAPPY page is corrupt (its length header does not give the " + std::to_string(expected) + " bytes announced)");
        size_t outLen = expected;
        if (snappy_uncompress(reinterpret_cast<const char*>(src), size, reinterpret_cast<char*>(out.data()), &outLen) != SNAPPY_OK ||
            outLen != expected)
            fail(offset, "the SNAPPY page is corrupt or truncated");
    } else if (codec_ == kZstd) {
        const size_t r = ZSTD_decompress(out.data(), expected, src, size);
        if (ZSTD_isError(r)) fail(offset, std::string("the ZSTD page is corrupt or truncated (") + ZSTD_getErrorName(r) + ")");
        if (r != expected) fail(offset, "the ZSTD page gives " + std::to_string(r) + " bytes, " + std::to_string(expected) + " announced");
    } else {
        z_stream z{};
        if (inflateInit2(&z, 15 + 32) != Z_OK) fail(offset, "cannot start GZIP decompression");
        z.next_in = const_cast<Bytef*>(src);
        z.avail_in = uInt(size);
        z.next_out = out.data();
        z.avail_out = uInt(expected);
        const int rc = inflate(&z, Z_FINISH);
        const size_t got = expected - z.avail_out;
        inflateEnd(&z);
        if (rc != Z_STREAM_END || got != expected) fail(offset, "the GZIP page is corrupt or truncated");
    }
    return out.data();
}

bool ColumnChunkReader::loadPage() {
    while (pos_ < end_) {
        const uint64_t at = pos_;
        const PageHeader h = decodePageHeader(file_ + pos_, size_t(end_ - pos_),
                                              fileName_ + ": column '" + leaf_.path + "', row group " + std::to_string(rowGroup_) +
                                                  ": page header",
                                              pos_);
        if (h.compressedSize < 0 || h.uncompressedSize < 0) fail(at, "a page with a negative size");
        const uint64_t body = pos_ + h.headerSize;
        if (uint64_t(h.compressedSize) > end_ - body)
            fail(at, "the page (" + std::to_string(h.compressedSize) + " bytes) runs past the column chunk's end: the file is truncated or corrupt");
        pos_ = body + uint64_t(h.compressedSize);
        if (h.type == kDictionaryPage) {
            readDictionary(h, file_ + body, size_t(h.compressedSize), at);
            continue;
        }
        if (h.type == kDataPage || h.type == kDataPageV2) {
            readDataPage(h, file_ + body, size_t(h.compressedSize), at);
            return true;
        }
        if (h.type != kIndexPage) fail(at, "unknown page type " + std::to_string(h.type));
    }
    return false;
}

void ColumnChunkReader::readDictionary(const PageHeader& h, const uint8_t* body, size_t size, uint64_t offset) {
    if (hasDictionary_) fail(offset, "a second dictionary page in one column chunk");
    if (h.encoding != kPlain && h.encoding != kPlainDictionary)
        fail(offset, std::string("a dictionary page in encoding ") + encodingName(h.encoding) + " (only PLAIN is defined)");
    if (h.numValues < 0) fail(offset, "a dictionary page with a negative value count");
    const uint8_t* data = decompress(body, size, size_t(h.uncompressedSize), scratch_, offset);
    dictionary_.clear();
    decodePlain(data, size_t(h.uncompressedSize), size_t(h.numValues), dictionary_, offset);
    hasDictionary_ = true;
}

void ColumnChunkReader::readDataPage(const PageHeader& h, const uint8_t* body, size_t size, uint64_t offset) {
    if (h.numValues < 0) fail(offset, "a data page with a negative value count");
    const size_t count = size_t(h.numValues);
    if (int64_t(count) > valuesLeft_)
        fail(offset, "the page holds " + std::to_string(count) + " values, more than the " + std::to_string(valuesLeft_) +
                         " the column chunk has left");
    valuesLeft_ -= int64_t(count);
    const uint8_t* data;
    size_t dataSize;
    const uint8_t* repBytes = nullptr;
    const uint8_t* defBytes = nullptr;
    size_t repSize = 0, defSize = 0;
    const int repWidth = bitWidthFor(uint32_t(leaf_.maxRep)), defWidth = bitWidthFor(uint32_t(leaf_.maxDef));
    if (h.type == kDataPageV2) {
        // v2: the levels come first, never compressed, with their lengths in the header.
        if (h.repLength < 0 || h.defLength < 0 || size_t(h.repLength) + size_t(h.defLength) > size)
            fail(offset, "the v2 page's level lengths exceed the page");
        repBytes = body;
        repSize = size_t(h.repLength);
        defBytes = body + repSize;
        defSize = size_t(h.defLength);
        const size_t levels = repSize + defSize;
        const size_t valuesCompressed = size - levels;
        if (size_t(h.uncompressedSize) < levels) fail(offset, "the v2 page is smaller than its levels");
        const size_t valuesExpected = size_t(h.uncompressedSize) - levels;
        if (h.isCompressed) {
            data = decompress(body + levels, valuesCompressed, valuesExpected, scratch_, offset);
        } else {
            if (valuesCompressed != valuesExpected) fail(offset, "an uncompressed v2 page whose sizes disagree");
            data = body + levels;
        }
        dataSize = valuesExpected;
    } else {
        // v1: everything is compressed together; each level section has a 4-byte length prefix.
        data = decompress(body, size, size_t(h.uncompressedSize), scratch_, offset);
        dataSize = size_t(h.uncompressedSize);
        size_t p = 0;
        auto section = [&](int encoding, const char* what, const uint8_t*& bytes, size_t& len) {
            if (encoding != kRle)
                fail(offset, std::string(what) + " levels in encoding " + encodingName(encoding) +
                                 " are not supported (only RLE; BIT_PACKED levels are deprecated)");
            if (dataSize - p < 4) fail(offset, std::string("the page ends before its ") + what + " levels");
            len = readLe32(data + p);
            p += 4;
            if (len > dataSize - p) fail(offset, std::string("the ") + what + " levels run past the page's end");
            bytes = data + p;
            p += len;
        };
        if (leaf_.maxRep > 0) section(h.repEncoding, "repetition", repBytes, repSize);
        if (leaf_.maxDef > 0) section(h.defEncoding, "definition", defBytes, defSize);
        data += p;
        dataSize -= p;
    }
    bool ok = true;
    if (leaf_.maxRep > 0) {
        decodeHybrid(repBytes, repSize, repWidth, count, reps_, &ok);
        if (!ok) fail(offset, "the repetition levels are truncated or malformed");
        for (uint32_t r : reps_)
            if (r > uint32_t(leaf_.maxRep)) fail(offset, "a repetition level of " + std::to_string(r) + " (the column's maximum is " +
                                                             std::to_string(leaf_.maxRep) + ")");
    }
    size_t present = count;
    if (leaf_.maxDef > 0) {
        decodeHybrid(defBytes, defSize, defWidth, count, defs_, &ok);
        if (!ok) fail(offset, "the definition levels are truncated or malformed");
        present = 0;
        for (uint32_t d : defs_) {
            if (d > uint32_t(leaf_.maxDef))
                fail(offset, "a definition level of " + std::to_string(d) + " (the column's maximum is " + std::to_string(leaf_.maxDef) + ")");
            present += d == uint32_t(leaf_.maxDef);
        }
    }
    decodeValues(h.encoding, data, dataSize, present, offset);
    slot_ = 0;
    slots_ = count;
    valueIndex_ = 0;
}

void ColumnChunkReader::decodeValues(int32_t encoding, const uint8_t* p, size_t n, size_t count, uint64_t offset) {
    values_.clear();
    if (encoding == kPlain) {
        decodePlain(p, n, count, values_, offset);
        return;
    }
    if (encoding == kPlainDictionary || encoding == kRleDictionary) {
        if (!hasDictionary_) fail(offset, "a dictionary-encoded page without a dictionary page");
        if (count == 0) return;
        if (n < 1) fail(offset, "the dictionary indices are missing");
        const int width = p[0];
        if (width > 32) fail(offset, "dictionary indices of " + std::to_string(width) + " bits");
        std::vector<uint32_t>& idx = indices_;
        bool ok = true;
        decodeHybrid(p + 1, n - 1, width, count, idx, &ok);
        if (!ok) fail(offset, "the dictionary indices are truncated or malformed");
        values_.reserve(count);
        for (uint32_t i : idx) {
            if (i >= dictionary_.size())
                fail(offset, "dictionary index " + std::to_string(i) + " past the dictionary's " + std::to_string(dictionary_.size()) + " entries");
            values_.push_back(dictionary_[i]);
        }
        return;
    }
    if (encoding == kRle && leaf_.physical == kBoolean) {
        if (n < 4) fail(offset, "the RLE booleans have no length prefix");
        const size_t len = readLe32(p);
        if (len > n - 4) fail(offset, "the RLE booleans run past the page's end");
        bool ok = true;
        std::vector<uint32_t>& bits = indices_;
        decodeHybrid(p + 4, len, 1, count, bits, &ok);
        if (!ok) fail(offset, "the RLE booleans are truncated or malformed");
        values_.reserve(count);
        for (uint32_t b : bits) values_.push_back(b != 0);
        return;
    }
    fail(offset, std::string("encoding ") + encodingName(encoding) + " of " + physicalTypeName(leaf_.physical) +
                     " values is not supported (PLAIN, PLAIN_DICTIONARY and RLE_DICTIONARY are)");
}

void ColumnChunkReader::decodePlain(const uint8_t* p, size_t n, size_t count, std::vector<json>& out, uint64_t offset) {
    out.reserve(out.size() + count);
    auto need = [&](size_t bytes) {
        if (bytes > n) fail(offset, "the page holds " + std::to_string(n) + " bytes of values, fewer than its " + std::to_string(count) +
                                        " " + physicalTypeName(leaf_.physical) + " values need: the file is truncated or corrupt");
    };
    switch (leaf_.physical) {
    case kBoolean:
        need((count + 7) / 8);
        for (size_t i = 0; i < count; ++i) out.push_back(((p[i / 8] >> (i % 8)) & 1) != 0);
        return;
    case kInt32:
        need(count * 4);
        for (size_t i = 0; i < count; ++i) {
            const int32_t v = loadLe<int32_t>(p + 4 * i);
            if (leaf_.kind == ValueKind::UInt32) out.push_back(uint64_t(uint32_t(v)));
            else out.push_back(int64_t(v));
        }
        return;
    case kInt64:
        need(count * 8);
        for (size_t i = 0; i < count; ++i) {
            const int64_t v = loadLe<int64_t>(p + 8 * i);
            if (leaf_.kind == ValueKind::UInt64) out.push_back(uint64_t(v));
            else out.push_back(v);
        }
        return;
    case kFloat:
        need(count * 4);
        for (size_t i = 0; i < count; ++i) out.push_back(widenFloat(loadLe<float>(p + 4 * i)));
        return;
    case kDouble:
        need(count * 8);
        for (size_t i = 0; i < count; ++i) out.push_back(loadLe<double>(p + 8 * i));
        return;
    case kByteArray: {
        size_t pos = 0;
        for (size_t i = 0; i < count; ++i) {
            if (n - pos < 4) need(n + 1);
            const size_t len = readLe32(p + pos);
            pos += 4;
            if (len > n - pos) fail(offset, "a string of " + std::to_string(len) + " bytes runs past the page's end: the file is truncated or corrupt");
            const char* s = reinterpret_cast<const char*>(p + pos);
            if (isValidUtf8(std::string_view(s, len))) out.emplace_back(std::string(s, len));
            else out.push_back(json::binary(std::vector<uint8_t>(p + pos, p + pos + len)));
            pos += len;
        }
        return;
    }
    default: fail(offset, std::string(physicalTypeName(leaf_.physical)) + " values are not supported");
    }
}

} // namespace swarm::parquet
