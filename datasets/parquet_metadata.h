#pragma once
// The Parquet structures the reader needs, decoded from the Thrift compact protocol
// (datasets/thrift_compact.h) with the field ids of parquet.thrift (apache/parquet-format):
//
//   file       "PAR1" | column chunks ... | FileMetaData | footer length (u32 LE) | "PAR1"
//   FileMetaData   1 version i32, 2 schema list<SchemaElement>, 3 num_rows i64,
//                  4 row_groups list<RowGroup>, 6 created_by string, 8 encryption_algorithm
//   SchemaElement  1 type i32, 2 type_length i32, 3 repetition_type i32, 4 name string,
//                  5 num_children i32, 6 converted_type i32, 10 logicalType union
//   RowGroup       1 columns list<ColumnChunk>, 3 num_rows i64
//   ColumnChunk    1 file_path string, 2 file_offset i64, 3 meta_data ColumnMetaData,
//                  8 crypto_metadata (encrypted columns)
//   ColumnMetaData 1 type, 2 encodings list<i32>, 3 path_in_schema list<string>, 4 codec,
//                  5 num_values i64, 6 total_uncompressed_size, 7 total_compressed_size,
//                  9 data_page_offset i64, 11 dictionary_page_offset i64
//   PageHeader     1 type, 2 uncompressed_page_size, 3 compressed_page_size, 4 crc,
//                  5 data_page_header, 7 dictionary_page_header, 8 data_page_header_v2
//   DataPageHeader     1 num_values, 2 encoding, 3 definition_level_encoding, 4 repetition_level_encoding
//   DictionaryPageHeader 1 num_values, 2 encoding, 3 is_sorted
//   DataPageHeaderV2   1 num_values, 2 num_nulls, 3 num_rows, 4 encoding,
//                      5 definition_levels_byte_length, 6 repetition_levels_byte_length, 7 is_compressed
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace swarm::parquet {

enum PhysicalType : int32_t { kBoolean = 0, kInt32 = 1, kInt64 = 2, kInt96 = 3, kFloat = 4, kDouble = 5, kByteArray = 6, kFixedLenByteArray = 7 };
enum Repetition : int32_t { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum Codec : int32_t { kUncompressed = 0, kSnappy = 1, kGzip = 2, kLzo = 3, kBrotli = 4, kLz4 = 5, kZstd = 6, kLz4Raw = 7 };
enum Encoding : int32_t {
    kPlain = 0, kPlainDictionary = 2, kRle = 3, kBitPacked = 4, kDeltaBinaryPacked = 5,
    kDeltaLengthByteArray = 6, kDeltaByteArray = 7, kRleDictionary = 8, kByteStreamSplit = 9,
};
enum PageType : int32_t { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };
// ConvertedType values that matter here.
enum Converted : int32_t {
    kUtf8 = 0, kMap = 1, kMapKeyValue = 2, kList = 3, kEnum = 4, kDecimal = 5, kDate = 6, kTimeMillis = 7,
    kTimeMicros = 8, kTimestampMillis = 9, kTimestampMicros = 10, kUint8 = 11, kUint16 = 12, kUint32 = 13,
    kUint64 = 14, kInt8 = 15, kInt16 = 16, kInt32Converted = 17, kInt64Converted = 18, kJson = 19, kBson = 20, kInterval = 21,
};
// LogicalType union members (the field id of the member that is set).
enum Logical : int32_t {
    kLogicalNone = 0, kLogicalString = 1, kLogicalMap = 2, kLogicalList = 3, kLogicalEnum = 4, kLogicalDecimal = 5,
    kLogicalDate = 6, kLogicalTime = 7, kLogicalTimestamp = 8, kLogicalInteger = 10, kLogicalUnknown = 11,
    kLogicalJson = 12, kLogicalBson = 13, kLogicalUuid = 14, kLogicalFloat16 = 15,
};

struct SchemaElement {
    int32_t type = -1;                // PhysicalType; -1 for groups
    int32_t typeLength = 0;
    int32_t repetition = kRequired;
    bool hasRepetition = false;       // the root has none
    std::string name;
    int32_t numChildren = 0;
    int32_t converted = -1;
    int32_t logical = kLogicalNone;
    int8_t intBitWidth = 0;           // LogicalType INTEGER
    bool intSigned = true;
};

struct ColumnMetaData {
    int32_t type = -1;
    std::vector<int32_t> encodings;
    std::vector<std::string> path;
    int32_t codec = kUncompressed;
    int64_t numValues = 0;
    int64_t totalUncompressedSize = 0, totalCompressedSize = 0;
    int64_t dataPageOffset = -1;
    int64_t dictionaryPageOffset = -1;   // -1: none
};

struct ColumnChunk {
    std::string filePath;             // non-empty: the data lives in another file (unsupported)
    bool hasMetaData = false;
    bool encrypted = false;
    ColumnMetaData meta;
};

struct RowGroup {
    std::vector<ColumnChunk> columns;
    int64_t numRows = 0;
};

struct FileMetaData {
    int32_t version = 0;
    std::vector<SchemaElement> schema;
    int64_t numRows = 0;
    std::vector<RowGroup> rowGroups;
    std::string createdBy;
    bool encrypted = false;
};

struct PageHeader {
    int32_t type = -1;
    int32_t uncompressedSize = 0, compressedSize = 0;
    size_t headerSize = 0;            // bytes of the header itself
    int32_t numValues = 0;            // data pages (v1, v2) and dictionary pages
    int32_t encoding = kPlain;
    int32_t defEncoding = kRle, repEncoding = kRle;   // v1
    int32_t numNulls = 0, numRows = 0;                // v2
    int32_t defLength = 0, repLength = 0;             // v2: level bytes before the values
    bool isCompressed = true;                         // v2
    bool hasTypeHeader = false;       // the header for `type` was present
};

// `context` names the file for messages; `fileOffset` is where `data` starts in the file.
FileMetaData decodeFileMetaData(const uint8_t* data, size_t size, const std::string& context, uint64_t fileOffset);
PageHeader decodePageHeader(const uint8_t* data, size_t size, const std::string& context, uint64_t fileOffset);

const char* physicalTypeName(int32_t t);   // "BYTE_ARRAY"
const char* encodingName(int32_t e);       // "RLE_DICTIONARY"
const char* codecName(int32_t c);          // "SNAPPY"
const char* convertedName(int32_t c);      // "TIMESTAMP_MILLIS"
const char* logicalName(int32_t l);        // "TIMESTAMP"

} // namespace swarm::parquet
