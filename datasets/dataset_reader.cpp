#include "datasets/dataset_reader.h"

#include "core/error.h"
#include "core/format.h"
#include "datasets/record_readers.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

// ---------------------------------------------------------------------------------------------
// Names

const char* formatName(SourceFormat f) {
    switch (f) {
    case SourceFormat::Auto: return "auto";
    case SourceFormat::Jsonl: return "jsonl";
    case SourceFormat::Json: return "json";
    case SourceFormat::Csv: return "csv";
    case SourceFormat::Tsv: return "tsv";
    case SourceFormat::Parquet: return "parquet";
    }
    return "auto";
}

SourceFormat parseSourceFormat(std::string_view name) {
    std::string n;
    for (char c : name) n += char(std::tolower(static_cast<unsigned char>(c)));
    if (n == "auto" || n.empty()) return SourceFormat::Auto;
    if (n == "jsonl" || n == "ndjson" || n == "jsonlines") return SourceFormat::Jsonl;
    if (n == "json") return SourceFormat::Json;
    if (n == "csv") return SourceFormat::Csv;
    if (n == "tsv" || n == "tab") return SourceFormat::Tsv;
    if (n == "parquet" || n == "pq") return SourceFormat::Parquet;
    throw Error("unknown input format '" + std::string(name) + "' (expected jsonl, json, csv, tsv, parquet or auto)");
}

const char* issueCode(RecordIssue issue) {
    switch (issue) {
    case RecordIssue::None: return "ok";
    case RecordIssue::MalformedJson: return "malformed_json";
    case RecordIssue::MalformedCsv: return "malformed_csv";
    case RecordIssue::InvalidUtf8: return "invalid_utf8";
    case RecordIssue::NotAnObject: return "not_an_object";
    case RecordIssue::TooLarge: return "too_long";
    }
    return "ok";
}

// ---------------------------------------------------------------------------------------------
// UTF-8

bool isValidUtf8(std::string_view s, size_t* badOffset) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        // ASCII fast path, eight bytes at a time.
        if (i + 8 <= n) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ull) == 0) { i += 8; continue; }
        }
        const unsigned char c = p[i];
        if (c < 0x80) { ++i; continue; }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else { if (badOffset) *badOffset = i; return false; }
        if (i + len > n) { if (badOffset) *badOffset = i; return false; }
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) { if (badOffset) *badOffset = i; return false; }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
            if (badOffset) *badOffset = i;
            return false;
        }
        i += len;
    }
    return true;
}

RecordReader::RecordReader(std::string path, SourceFormat format, const ReaderOptions& options)
    : path_(std::move(path)), format_(format), options_(options) {}

RecordReader::~RecordReader() = default;

uint64_t RecordReader::bytesConsumed() const { return src_ ? src_->consumed() : 0; }

std::string tooLargeDetail(uint64_t size, size_t limit) {
    return "the record is " + std::to_string(size) + " bytes, over the limit of " + formatBytes(limit) +
           " per record (--max-record-bytes)";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Checking and sniffing a file

struct Sniff {
    uint64_t size = 0;
    bool bom = false;
    std::string head;     // up to 64 KiB after the BOM
};

Sniff sniffFile(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error("dataset file " + path + " does not exist");
    if (fs::is_directory(path, ec)) throw Error("dataset file " + path + " is a directory, not a file");
    Sniff s;
    s.size = fs::file_size(path, ec);
    if (ec) throw Error("cannot read " + path + ": " + ec.message());
    if (s.size == 0) throw Error(path + " is empty (0 bytes): there are no records to import");
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    std::string head(65536, '\0');
    size_t got = 0;
    while (got < head.size()) {
        ssize_t r = ::read(fd, head.data() + got, head.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += size_t(r);
    }
    ::close(fd);
    head.resize(got);
    auto starts = [&](std::string_view magic) { return head.compare(0, magic.size(), magic) == 0; };
    if (starts("\x1f\x8b")) throw Error(path + " is gzip-compressed: decompress it first (gunzip), then import the JSONL/JSON/CSV/TSV inside");
    if (starts("PK\x03\x04")) throw Error(path + " is a zip archive (e.g. .zip or .xlsx): extract it or export the sheet as CSV first");
    if (starts(std::string_view("SQLite format 3\0", 16))) throw Error(path + " is an SQLite database, not a dataset file");
    if (starts(std::string_view("\xff\xfe\0\0", 4)) || starts(std::string_view("\0\0\xfe\xff", 4)))
        throw Error(path + " is UTF-32 encoded: convert it to UTF-8 first");
    if (starts("\xff\xfe") || starts("\xfe\xff")) throw Error(path + " is UTF-16 encoded: convert it to UTF-8 first (e.g. iconv -f UTF-16 -t UTF-8)");
    if (starts("\xef\xbb\xbf")) {
        s.bom = true;
        head.erase(0, 3);
    }
    if (size_t nul = head.find('\0'); nul != std::string::npos)
        throw Error(path + " looks like a binary file (a NUL byte at offset " + std::to_string(nul + (s.bom ? 3 : 0)) +
                    "): expected UTF-8 text in JSONL, JSON, CSV or TSV");
    // Text that is mostly not UTF-8 (a legacy encoding, or binary data without NULs).
    size_t invalid = 0, pos = 0;
    const bool truncated = got == 65536;
    while (pos < head.size()) {
        size_t bad = 0;
        std::string_view rest(head.data() + pos, head.size() - pos);
        if (isValidUtf8(rest, &bad)) break;
        if (truncated && pos + bad + 4 >= head.size()) break;   // a character cut by the sniff window
        ++invalid;
        pos += bad + 1;
    }
    if (invalid > 8 && invalid * 100 > head.size())
        throw Error(path + " is not UTF-8 text (" + std::to_string(invalid) + " invalid UTF-8 sequences in its first " +
                    formatBytes(head.size()) + "): it is binary, or in a legacy encoding; convert it to UTF-8 first");
    s.head = std::move(head);
    return s;
}

std::string lowerExtension(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    return ext;
}

// For a text starting with '{': one object per line (JSONL) or one document (JSON)? Scans the
// first top-level value (streaming, constant memory): a value spanning several lines is a
// pretty-printed document; a one-line value followed by more is JSONL; a lone one-line object
// is a wrapper when it holds an array of objects, else a one-record JSONL file.
SourceFormat jsonlOrJson(const std::string& path, bool bom) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    std::vector<char> buf(size_t(1) << 16);
    size_t pos = 0, len = 0;
    bool skipBom = bom;
    auto get = [&]() -> int {
        if (pos == len) {
            ssize_t r;
            do r = ::read(fd, buf.data(), buf.size());
            while (r < 0 && errno == EINTR);
            if (r <= 0) return -1;
            len = size_t(r);
            pos = 0;
            if (skipBom) { pos = 3; skipBom = false; if (pos >= len) return -1; }
        }
        return static_cast<unsigned char>(buf[pos++]);
    };
    int c;
    do c = get();
    while (c == ' ' || c == '\t' || c == '\r' || c == '\n');
    int depth = 0;
    bool inString = false, newlineInside = false, arrayOfObjects = false, ended = false;
    int lastOpenAtDepth1 = 0;   // '[' just opened at depth 1, waiting for its first element
    for (; c >= 0; c = get()) {
        if (inString) {
            if (c == '\\') get();
            else if (c == '"') inString = false;
            else if (c == '\n') newlineInside = true;
            continue;
        }
        if (c == '\n') { newlineInside = true; continue; }
        if (c == ' ' || c == '\t' || c == '\r') continue;
        if (lastOpenAtDepth1) {
            if (c == '{') arrayOfObjects = true;
            lastOpenAtDepth1 = 0;
        }
        if (c == '"') inString = true;
        else if (c == '{' || c == '[') {
            ++depth;
            if (c == '[' && depth == 2) lastOpenAtDepth1 = 1;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) { ended = true; break; }
        }
        if (newlineInside) break;
    }
    bool more = false;
    if (ended) {
        do c = get();
        while (c == ' ' || c == '\t' || c == '\r' || c == '\n');
        more = c >= 0;
    }
    ::close(fd);
    if (newlineInside || !ended) return SourceFormat::Json;
    if (more) return SourceFormat::Jsonl;
    return arrayOfObjects ? SourceFormat::Json : SourceFormat::Jsonl;
}

SourceFormat detectFrom(const std::string& path, const Sniff& s) {
    const std::string ext = lowerExtension(path);
    if (ext == ".jsonl" || ext == ".ndjson" || ext == ".jsonlines") return SourceFormat::Jsonl;
    if (ext == ".csv") return SourceFormat::Csv;
    if (ext == ".tsv" || ext == ".tab") return SourceFormat::Tsv;
    size_t start = s.head.find_first_not_of(" \t\r\n");
    const char first = start == std::string::npos ? '\0' : s.head[start];
    if (ext == ".json") return first == '{' ? jsonlOrJson(path, s.bom) : SourceFormat::Json;
    if (first == '[' || first == '"') return SourceFormat::Json;
    if (first == '{') return jsonlOrJson(path, s.bom);
    // Delimited text: tabs or commas in the first line.
    size_t nl = s.head.find('\n');
    std::string_view line = std::string_view(s.head).substr(0, nl);
    const auto tabs = std::count(line.begin(), line.end(), '\t');
    const auto commas = std::count(line.begin(), line.end(), ',');
    return tabs > commas ? SourceFormat::Tsv : SourceFormat::Csv;
}

// Parquet is recognised by its magic bytes or its name, before the text checks (which would call
// it binary): a broken .parquet file then fails with the Parquet reader's reason.
bool isParquetPath(const std::string& path) {
    if (lowerExtension(path) == ".parquet") return true;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char magic[4] = {};
    ssize_t r;
    do r = ::read(fd, magic, 4);
    while (r < 0 && errno == EINTR);
    ::close(fd);
    return r == 4 && std::memcmp(magic, "PAR1", 4) == 0;
}

} // namespace

SourceFormat detectSourceFormat(const std::string& path) {
    if (isParquetPath(path)) return SourceFormat::Parquet;
    return detectFrom(path, sniffFile(path));
}

std::unique_ptr<RecordReader> RecordReader::open(const std::string& path, const ReaderOptions& options) {
    if (options.maxRecordBytes < 16) throw Error("the record size limit must be at least 16 bytes");
    if (options.format == SourceFormat::Parquet || (options.format == SourceFormat::Auto && isParquetPath(path))) {
        std::unique_ptr<RecordReader> r = newParquetReader(path, options);
        r->readPreamble();
        return r;
    }
    Sniff s = sniffFile(path);
    SourceFormat f = options.format == SourceFormat::Auto ? detectFrom(path, s) : options.format;
    std::unique_ptr<RecordReader> r;
    switch (f) {
    case SourceFormat::Jsonl: r = newJsonlReader(path, options); break;
    case SourceFormat::Json: r = newJsonArrayReader(path, options); break;
    case SourceFormat::Csv: r = newDelimitedReader(path, options, false); break;
    case SourceFormat::Tsv: r = newDelimitedReader(path, options, true); break;
    case SourceFormat::Auto:
    case SourceFormat::Parquet: break;
    }
    r->src_ = std::make_unique<ByteSource>(path);
    r->fileSize_ = s.size;
    r->bom_ = s.bom;
    if (s.bom) {
        r->src_->window();   // fill the buffer, then skip the BOM
        r->src_->advance(3);
    }
    r->readPreamble();
    return r;
}

std::vector<std::string> sampleColumns(const std::string& path, const ReaderOptions& options, int maxRecords) {
    std::unique_ptr<RecordReader> r = RecordReader::open(path, options);
    if (r->format() == SourceFormat::Csv || r->format() == SourceFormat::Tsv || r->format() == SourceFormat::Parquet)
        return r->columns();
    std::vector<std::string> cols;
    SourceRecord rec;
    int good = 0;
    int seen = 0;
    while (good < maxRecords && seen < maxRecords * 4 && r->next(rec)) {
        ++seen;
        if (rec.issue != RecordIssue::None) continue;
        ++good;
        for (auto it = rec.value.begin(); it != rec.value.end(); ++it)
            if (std::find(cols.begin(), cols.end(), it.key()) == cols.end()) cols.push_back(it.key());
    }
    return cols;
}

} // namespace swarm
