#include "datasets/parquet_metadata.h"

#include "datasets/thrift_compact.h"

namespace swarm::parquet {

using thrift::CompactReader;

namespace {

// A list<T>'s elements, each read by `element` (with the reader positioned on it).
template <class F>
void readList(CompactReader& r, uint8_t fieldType, uint8_t elementType, const char* field, F element) {
    r.expect(fieldType, thrift::kList, field);
    uint8_t et;
    uint32_t n;
    r.readListHeader(et, n);
    if (n > 0 && et != elementType)
        r.fail(std::string("list '") + field + "' holds " + thrift::compactTypeName(et) + ", expected " +
               thrift::compactTypeName(elementType));
    for (uint32_t i = 0; i < n; ++i) element();
}

int32_t i32Field(CompactReader& r, uint8_t type, const char* field) {
    if (type != thrift::kI32 && type != thrift::kI16 && type != thrift::kByte) r.expect(type, thrift::kI32, field);
    return type == thrift::kByte ? r.readByte() : r.readI32();
}

int64_t i64Field(CompactReader& r, uint8_t type, const char* field) {
    if (type == thrift::kI32 || type == thrift::kI16) return r.readI32();
    r.expect(type, thrift::kI64, field);
    return r.readI64();
}

std::string stringField(CompactReader& r, uint8_t type, const char* field) {
    r.expect(type, thrift::kBinary, field);
    return r.readBinary();
}

// LogicalType is a union: one member struct is set; INTEGER carries (bitWidth i8, isSigned bool).
void readLogicalType(CompactReader& r, SchemaElement& e) {
    r.beginStruct("LogicalType");
    int16_t id;
    uint8_t t;
    while (r.nextField(id, t)) {
        e.logical = id;
        if (id == kLogicalInteger && t == thrift::kStruct) {
            r.beginStruct("IntType");
            int16_t iid;
            uint8_t it;
            while (r.nextField(iid, it)) {
                if (iid == 1) e.intBitWidth = int8_t(i32Field(r, it, "IntType.bitWidth"));
                else if (iid == 2) e.intSigned = r.readBool(it);
                else r.skip(it);
            }
            r.endStruct();
        } else {
            r.skip(t);
        }
    }
    r.endStruct();
}

SchemaElement readSchemaElement(CompactReader& r) {
    SchemaElement e;
    r.beginStruct("SchemaElement");
    int16_t id;
    uint8_t t;
    while (r.nextField(id, t)) {
        switch (id) {
        case 1: e.type = i32Field(r, t, "type"); break;
        case 2: e.typeLength = i32Field(r, t, "type_length"); break;
        case 3:
            e.repetition = i32Field(r, t, "repetition_type");
            e.hasRepetition = true;
            break;
        case 4: e.name = stringField(r, t, "name"); break;
        case 5: e.numChildren = i32Field(r, t, "num_children"); break;
        case 6: e.converted = i32Field(r, t, "converted_type"); break;
        case 10:
            r.expect(t, thrift::kStruct, "logicalType");
            readLogicalType(r, e);
            break;
        default: r.skip(t);
        }
    }
    r.endStruct();
    return e;
}

ColumnMetaData readColumnMetaData(CompactReader& r) {
    ColumnMetaData m;
    r.beginStruct("ColumnMetaData");
    int16_t id;
    uint8_t t;
    while (r.nextField(id, t)) {
        switch (id) {
        case 1: m.type = i32Field(r, t, "type"); break;
        case 2: readList(r, t, thrift::kI32, "encodings", [&] { m.encodings.push_back(r.readI32()); }); break;
        case 3: readList(r, t, thrift::kBinary, "path_in_schema", [&] { m.path.push_back(r.readBinary()); }); break;
        case 4: m.codec = i32Field(r, t, "codec"); break;
        case 5: m.numValues = i64Field(r, t, "num_values"); break;
        case 6: m.totalUncompressedSize = i64Field(r, t, "total_uncompressed_size"); break;
        case 7: m.totalCompressedSize = i64Field(r, t, "total_compressed_size"); break;
        case 9: m.dataPageOffset = i64Field(r, t, "data_page_offset"); break;
        case 11: m.dictionaryPageOffset = i64Field(r, t, "dictionary_page_offset"); break;
        default: r.skip(t);
        }
    }
    r.endStruct();
    return m;
}

ColumnChunk readColumnChunk(CompactReader& r) {
    ColumnChunk c;
    r.beginStruct("ColumnChunk");
    int16_t id;
    uint8_t t;
    while (r.nextField(id, t)) {
        switch (id) {
        case 1: c.filePath = stringField(r, t, "file_path"); break;
        case 3:
            r.expect(t, thrift::kStruct, "meta_data");
            c.meta = readColumnMetaData(r);
            c.hasMetaData = true;
            break;
        case 8:
            c.encrypted = true;
            r.skip(t);
            break;
        default: r.skip(t);
        }
    }
    r.endStruct();
    return c;
}

RowGroup readRowGroup(CompactReader& r) {
    RowGroup g;
    r.beginStruct("RowGroup");
    int16_t id;
    uint8_t t;
    while (r.nextField(id, t)) {
        if (id == 1) {
            readList(r, t, thrift::kStruct, "columns", [&] { g.columns.push_back(readColumnChunk(r)); });
        } else if (id == 3) {
            g.numRows = i64Field(r, t, "num_rows");
        } else {
            r.skip(t);
        }
    }
    r.endStruct();
    return g;
}

} // namespace

FileMetaData decodeFileMetaData(const uint8_t* data, size_t size, const std::string& context, uint64_t fileOffset) {
    CompactReader r(data, size, context + ": footer", fileOffset);
    FileMetaData f;
    r.beginStruct("FileMetaData");
    int16_t id;
    uint8_t t;
    while (r.nextField(id, t)) {
        switch (id) {
        case 1: f.version = i32Field(r, t, "version"); break;
        case 2: readList(r, t, thrift::kStruct, "schema", [&] { f.schema.push_back(readSchemaElement(r)); }); break;
        case 3: f.numRows = i64Field(r, t, "num_rows"); break;
        case 4: readList(r, t, thrift::kStruct, "row_groups", [&] { f.rowGroups.push_back(readRowGroup(r)); }); break;
        case 6: f.createdBy = stringField(r, t, "created_by"); break;
        case 8:
            f.encrypted = true;
            r.skip(t);
            break;
        default: r.skip(t);
        }
    }
    r.endStruct();
    return f;
}

PageHeader decodePageHeader(const uint8_t* data, size_t size, const std::string& context, uint64_t fileOffset) {
    CompactReader r(data, size, context, fileOffset);
    PageHeader h;
    r.beginStruct("PageHeader");
    int16_t id;
    uint8_t t;
    while (r.nextField(id, t)) {
        switch (id) {
        case 1: h.type = i32Field(r, t, "type"); break;
        case 2: h.uncompressedSize = i32Field(r, t, "uncompressed_page_size"); break;
        case 3: h.compressedSize = i32Field(r, t, "compressed_page_size"); break;
        case 5: {
            r.expect(t, thrift::kStruct, "data_page_header");
            h.hasTypeHeader = h.hasTypeHeader || h.type == kDataPage || h.type == -1;
            r.beginStruct("DataPageHeader");
            int16_t did;
            uint8_t dt;
            while (r.nextField(did, dt)) {
                if (did == 1) h.numValues = i32Field(r, dt, "num_values");
                else if (did == 2) h.encoding = i32Field(r, dt, "encoding");
                else if (did == 3) h.defEncoding = i32Field(r, dt, "definition_level_encoding");
                else if (did == 4) h.repEncoding = i32Field(r, dt, "repetition_level_encoding");
                else r.skip(dt);
            }
            r.endStruct();
            break;
        }
        case 7: {
            r.expect(t, thrift::kStruct, "dictionary_page_header");
            h.hasTypeHeader = true;
            r.beginStruct("DictionaryPageHeader");
            int16_t did;
            uint8_t dt;
            while (r.nextField(did, dt)) {
                if (did == 1) h.numValues = i32Field(r, dt, "num_values");
                else if (did == 2) h.encoding = i32Field(r, dt, "encoding");
                else r.skip(dt);
            }
            r.endStruct();
            break;
        }
        case 8: {
            r.expect(t, thrift::kStruct, "data_page_header_v2");
            h.hasTypeHeader = true;
            r.beginStruct("DataPageHeaderV2");
            int16_t did;
            uint8_t dt;
            while (r.nextField(did, dt)) {
                switch (did) {
                case 1: h.numValues = i32Field(r, dt, "num_values"); break;
                case 2: h.numNulls = i32Field(r, dt, "num_nulls"); break;
                case 3: h.numRows = i32Field(r, dt, "num_rows"); break;
                case 4: h.encoding = i32Field(r, dt, "encoding"); break;
                case 5: h.defLength = i32Field(r, dt, "definition_levels_byte_length"); break;
                case 6: h.repLength = i32Field(r, dt, "repetition_levels_byte_length"); break;
                case 7: h.isCompressed = r.readBool(dt); break;
                default: r.skip(dt);
                }
            }
            r.endStruct();
            break;
        }
        default: r.skip(t);
        }
    }
    r.endStruct();
    h.headerSize = r.position();
    return h;
}

const char* physicalTypeName(int32_t t) {
    switch (t) {
    case kBoolean: return "BOOLEAN";
    case kInt32: return "INT32";
    case kInt64: return "INT64";
    case kInt96: return "INT96";
    case kFloat: return "FLOAT";
    case kDouble: return "DOUBLE";
    case kByteArray: return "BYTE_ARRAY";
    case kFixedLenByteArray: return "FIXED_LEN_BYTE_ARRAY";
    }
    return "unknown type";
}

const char* encodingName(int32_t e) {
    switch (e) {
    case kPlain: return "PLAIN";
    case kPlainDictionary: return "PLAIN_DICTIONARY";
    case kRle: return "RLE";
    case kBitPacked: return "BIT_PACKED";
    case kDeltaBinaryPacked: return "DELTA_BINARY_PACKED";
    case kDeltaLengthByteArray: return "DELTA_LENGTH_BYTE_ARRAY";
    case kDeltaByteArray: return "DELTA_BYTE_ARRAY";
    case kRleDictionary: return "RLE_DICTIONARY";
    case kByteStreamSplit: return "BYTE_STREAM_SPLIT";
    }
    return "unknown encoding";
}

const char* codecName(int32_t c) {
    switch (c) {
    case kUncompressed: return "UNCOMPRESSED";
    case kSnappy: return "SNAPPY";
    case kGzip: return "GZIP";
    case kLzo: return "LZO";
    case kBrotli: return "BROTLI";
    case kLz4: return "LZ4";
    case kZstd: return "ZSTD";
    case kLz4Raw: return "LZ4_RAW";
    }
    return "unknown codec";
}

const char* convertedName(int32_t c) {
    switch (c) {
    case kUtf8: return "UTF8";
    case kMap: return "MAP";
    case kMapKeyValue: return "MAP_KEY_VALUE";
    case kList: return "LIST";
    case kEnum: return "ENUM";
    case kDecimal: return "DECIMAL";
    case kDate: return "DATE";
    case kTimeMillis: return "TIME_MILLIS";
    case kTimeMicros: return "TIME_MICROS";
    case kTimestampMillis: return "TIMESTAMP_MILLIS";
    case kTimestampMicros: return "TIMESTAMP_MICROS";
    case kUint8: return "UINT_8";
    case kUint16: return "UINT_16";
    case kUint32: return "UINT_32";
    case kUint64: return "UINT_64";
    case kInt8: return "INT_8";
    case kInt16: return "INT_16";
    case kInt32Converted: return "INT_32";
    case kInt64Converted: return "INT_64";
    case kJson: return "JSON";
    case kBson: return "BSON";
    case kInterval: return "INTERVAL";
    }
    return "unknown converted type";
}

const char* logicalName(int32_t l) {
    switch (l) {
    case kLogicalNone: return "none";
    case kLogicalString: return "STRING";
    case kLogicalMap: return "MAP";
    case kLogicalList: return "LIST";
    case kLogicalEnum: return "ENUM";
    case kLogicalDecimal: return "DECIMAL";
    case kLogicalDate: return "DATE";
    case kLogicalTime: return "TIME";
    case kLogicalTimestamp: return "TIMESTAMP";
    case kLogicalInteger: return "INTEGER";
    case kLogicalUnknown: return "UNKNOWN (always null)";
    case kLogicalJson: return "JSON";
    case kLogicalBson: return "BSON";
    case kLogicalUuid: return "UUID";
    case kLogicalFloat16: return "FLOAT16";
    }
    return "unknown logical type";
}

} // namespace swarm::parquet
