#pragma once
// One column chunk of a Parquet row group, read page by page as (repetition level, definition
// level, value) triplets: dictionary pages, data pages v1 and v2; PLAIN, PLAIN_DICTIONARY /
// RLE_DICTIONARY (and RLE for booleans) values; RLE/bit-packed hybrid levels; UNCOMPRESSED,
// SNAPPY, GZIP and ZSTD pages. Anything else stops with a swarm::Error naming the file, the
// column, the row group, the page's file offset and the feature. Internal to swarm_datasets.
//
// Levels (the Dremel encoding): a leaf's definition level counts how many of its optional or
// repeated ancestors (itself included) are present, its repetition level at which repeated
// ancestor a new list element starts (0: a new row). A value is stored only when the definition
// level is the column's maximum.
#include "datasets/parquet_metadata.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm::parquet {

// How a leaf's values become JSON.
enum class ValueKind { Bool, Int32, UInt32, Int64, UInt64, Float, Double, Text };

struct LeafColumn {
    std::string path;                 // "messages.list.element.content"
    std::string topName;              // "messages": the record field it fills
    int32_t physical = kByteArray;
    int32_t typeLength = 0;
    ValueKind kind = ValueKind::Text;
    int maxDef = 0, maxRep = 0;
};

// BYTE_ARRAY values that are not valid UTF-8 come back as JSON binary values, for the record
// reader to reject the row (invalid_utf8) naming the column.
class ColumnChunkReader {
public:
    ColumnChunkReader(const uint8_t* file, uint64_t fileSize, const std::string& fileName, const LeafColumn& leaf,
                      const ColumnMetaData& meta, int rowGroup);

    bool atEnd();                     // no triplet left in the chunk
    int peekRepetition();             // of the next triplet; call after atEnd() is false
    // Consumes a triplet; returns its definition level and moves the value into `value` when the
    // level is the maximum.
    int next(nlohmann::json& value);

private:
    bool loadPage();
    void readDictionary(const PageHeader& h, const uint8_t* body, size_t size, uint64_t offset);
    void readDataPage(const PageHeader& h, const uint8_t* body, size_t size, uint64_t offset);
    const uint8_t* decompress(const uint8_t* src, size_t size, size_t expected, std::vector<uint8_t>& out, uint64_t offset);
    void decodeValues(int32_t encoding, const uint8_t* p, size_t n, size_t count, uint64_t offset);
    void decodePlain(const uint8_t* p, size_t n, size_t count, std::vector<nlohmann::json>& out, uint64_t offset);
    [[noreturn]] void fail(uint64_t offset, const std::string& problem) const;

    const uint8_t* file_;
    uint64_t fileSize_;
    std::string fileName_;
    const LeafColumn& leaf_;
    int32_t codec_;
    int rowGroup_;
    uint64_t pos_ = 0, end_ = 0;      // the next page header, the chunk's end (file offsets)
    int64_t valuesLeft_ = 0;          // triplets the chunk still holds (its num_values)
    bool hasDictionary_ = false;
    std::vector<nlohmann::json> dictionary_;
    std::vector<uint8_t> scratch_;            // the decompressed page
    std::vector<uint32_t> reps_, defs_, indices_;
    std::vector<nlohmann::json> values_;
    size_t slot_ = 0, slots_ = 0, valueIndex_ = 0;
};

// The RLE / bit-packed hybrid encoding (levels, dictionary indices, RLE booleans): `count` values
// of `bitWidth` bits from p[0..n). Returns the bytes consumed; false in *ok when the data ends
// early or a run is malformed.
size_t decodeHybrid(const uint8_t* p, size_t n, int bitWidth, size_t count, std::vector<uint32_t>& out, bool* ok);

// Bits needed for values 0..maxValue.
int bitWidthFor(uint32_t maxValue);

} // namespace swarm::parquet
