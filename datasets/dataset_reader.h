#pragma once
// Streaming record readers for dataset files: JSONL, JSON (an array of objects, or an object
// wrapping one: {"data": [...]}), CSV and TSV (RFC 4180 quoting, embedded newlines, CRLF), all
// UTF-8 with or without a BOM, and Parquet (datasets/reader_parquet.cpp: flat columns, structs,
// lists such as chat `messages`; PLAIN and dictionary encodings; uncompressed, Snappy, Gzip and
// Zstd pages). Memory is bounded by one record (at most maxRecordBytes) and a 1 MiB read buffer,
// whatever the file size: a JSON array is scanned incrementally, never loaded; a Parquet file is
// memory-mapped and decoded one page per column at a time.
//
// Two kinds of failure:
//  - the file as a whole cannot be read as records (missing, 0 bytes, binary, compressed,
//    UTF-16, a JSON document that is not an array of records, a broken JSON array structure,
//    an unusable CSV header): swarm::Error naming the file, from open() or next();
//  - one record is bad (malformed JSON or CSV, invalid UTF-8, not an object, ragged row, over
//    the size limit): next() returns it with `issue` set and reading goes on.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace swarm {

enum class SourceFormat { Auto, Jsonl, Json, Csv, Tsv, Parquet };
const char* formatName(SourceFormat f);                    // "auto", "jsonl", "json", "csv", "tsv", "parquet"
SourceFormat parseSourceFormat(std::string_view name);     // throws swarm::Error on an unknown name

struct ReaderOptions {
    SourceFormat format = SourceFormat::Auto;
    std::string jsonKey;                  // the wrapper key holding the records; empty: the first array
    size_t maxRecordBytes = size_t(4) << 20;
};

enum class RecordIssue { None, MalformedJson, MalformedCsv, InvalidUtf8, NotAnObject, TooLarge };
// The rejection code: malformed_json, malformed_csv, invalid_utf8, not_an_object, too_long.
const char* issueCode(RecordIssue issue);

struct SourceRecord {
    int64_t number = 0;          // 1-based record number (CSV: data rows after the header; Parquet: the row)
    int64_t line = 0;            // 1-based line where the record starts (Parquet: the row number)
    nlohmann::json value;        // an object of fields when issue == None
    RecordIssue issue = RecordIssue::None;
    std::string detail;          // what is wrong, when issue != None
};

class RecordReader {
public:
    // Checks the file (exists, not empty, text) and detects the format when Auto.
    static std::unique_ptr<RecordReader> open(const std::string& path, const ReaderOptions& options = {});
    virtual ~RecordReader();

    // The next record; false at the end of the file. Throws swarm::Error when the file's
    // structure is broken beyond the current record.
    virtual bool next(SourceRecord& out) = 0;

    SourceFormat format() const { return format_; }
    const std::string& path() const { return path_; }
    // CSV/TSV: the header. Parquet: the schema's top-level columns. JSON/JSONL: the keys of the
    // first object read so far.
    const std::vector<std::string>& columns() const { return columns_; }
    const std::string& wrapperKey() const { return wrapperKey_; }   // JSON {"key": [...]}: the key
    virtual uint64_t bytesConsumed() const;   // Parquet: the share of rows read, in file bytes
    uint64_t fileSize() const { return fileSize_; }
    bool hadBom() const { return bom_; }

protected:
    class ByteSource;
    RecordReader(std::string path, SourceFormat format, const ReaderOptions& options);
    // Reads what comes before the first record (a CSV header, a JSON wrapper up to its array);
    // open() calls it, so that a file that holds no records fails there.
    virtual void readPreamble() {}
    std::string path_;
    SourceFormat format_;
    ReaderOptions options_;
    std::unique_ptr<ByteSource> src_;
    std::vector<std::string> columns_;
    std::string wrapperKey_;
    uint64_t fileSize_ = 0;
    bool bom_ = false;
    int64_t line_ = 1;
    int64_t number_ = 0;
};

// The format of a file from its name and first bytes. Throws like RecordReader::open for files
// that are not readable text.
SourceFormat detectSourceFormat(const std::string& path);

// The union of the top-level field names of the first `maxRecords` good records, in order of
// first appearance (the CSV header for CSV/TSV, the schema's columns for Parquet).
std::vector<std::string> sampleColumns(const std::string& path, const ReaderOptions& options = {},
                                       int maxRecords = 50);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF);
// otherwise the offset of the first bad byte goes to *badOffset.
bool isValidUtf8(std::string_view s, size_t* badOffset = nullptr);

} // namespace swarm
