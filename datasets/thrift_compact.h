#pragma once
// A decoder for the Thrift compact protocol, the encoding of a Parquet file's footer (FileMetaData)
// and of each page header. Hand-written for the few structs Parquet needs instead of Debian's
// libthrift: that library wants code generated from parquet.thrift by the Thrift compiler and
// Boost headers, and its exceptions carry no file offset; here every read is bounds-checked and a
// malformed byte is reported with the file, the struct being read and its offset in the file.
//
// The wire format (thrift/doc/specs/thrift-compact-protocol.md):
//   field header   one byte: high nibble = field id delta (1..15) from the previous field of the
//                  struct, low nibble = type; delta 0: the id follows as a zigzag varint i16
//   types          0 stop, 1 bool true, 2 bool false, 3 i8, 4 i16, 5 i32, 6 i64, 7 double,
//                  8 binary, 9 list, 10 set, 11 map, 12 struct
//   integers       i16/i32/i64 as zigzag ULEB128 varints; i8 one byte; double 8 bytes LE
//   binary         varint length, then the bytes
//   list/set       one byte: high nibble = size (15: a varint size follows), low nibble = type
//   map            varint size; when non-zero one byte: key type << 4 | value type
//   bool           a field's value is its type (1/2); a list element is one byte (1 true)
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace swarm::thrift {

enum CompactType : uint8_t {
    kStop = 0, kTrue = 1, kFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6, kDouble = 7,
    kBinary = 8, kList = 9, kSet = 10, kMap = 11, kStruct = 12,
};

class CompactReader {
public:
    // `context` names what is decoded ("train.parquet: footer"); `fileOffset` is the offset of
    // data[0] in the file, for messages.
    CompactReader(const uint8_t* data, size_t size, std::string context, uint64_t fileOffset);

    // Structs: call beginStruct, then nextField until it returns false (the stop byte), reading or
    // skipping each field's value, then endStruct.
    void beginStruct(const char* name);
    bool nextField(int16_t& id, uint8_t& type);
    void endStruct();

    int8_t readByte();
    int32_t readI32();            // i8, i16 or i32 on the wire, as the field type says
    int64_t readI64();
    double readDouble();
    std::string readBinary();
    bool readBool(uint8_t fieldType);   // a struct field's bool (its type is its value)
    bool readListBool();                // a list element's bool
    // A list or set header: the element type and count.
    void readListHeader(uint8_t& elementType, uint32_t& count);

    // Skips a value of the type (nested containers and structs included).
    void skip(uint8_t type);
    // The value's type must be `expected` (kTrue also accepts kFalse); else fail().
    void expect(uint8_t type, uint8_t expected, const char* field);

    size_t position() const { return pos_; }           // bytes consumed
    uint64_t fileOffset() const { return base_ + pos_; }
    [[noreturn]] void fail(const std::string& problem) const;

private:
    uint64_t readVarint();
    uint8_t readRaw();
    void skipDepth(uint8_t type, int depth);

    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    std::string context_;
    uint64_t base_;
    std::vector<int16_t> lastField_;
    std::vector<const char*> structNames_;
};

const char* compactTypeName(uint8_t type);

} // namespace swarm::thrift
