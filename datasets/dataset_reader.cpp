#include "datasets/dataset_reader.h"

#include "core/error.h"
#include "core/format.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
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
    throw Error("unknown input format '" + std::string(name) + "' (expected jsonl, json, csv, tsv or auto)");
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

// ---------------------------------------------------------------------------------------------
// Buffered input

class RecordReader::ByteSource {
public:
    ByteSource(const std::string& path) : path_(path), buf_(size_t(1) << 20) {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    }
    ~ByteSource() {
        if (fd_ >= 0) ::close(fd_);
    }
    ByteSource(const ByteSource&) = delete;
    ByteSource& operator=(const ByteSource&) = delete;

    int peek() {
        if (pos_ == len_ && !refill()) return -1;
        return static_cast<unsigned char>(buf_[pos_]);
    }
    int get() {
        if (pos_ == len_ && !refill()) return -1;
        return static_cast<unsigned char>(buf_[pos_++]);
    }
    // The buffered bytes not consumed yet (refills when empty); empty at the end of the file.
    std::string_view window() {
        if (pos_ == len_) refill();
        return std::string_view(buf_.data() + pos_, len_ - pos_);
    }
    void advance(size_t n) { pos_ += n; }
    uint64_t consumed() const { return base_ + pos_; }

private:
    bool refill() {
        base_ += len_;
        pos_ = len_ = 0;
        for (;;) {
            ssize_t r = ::read(fd_, buf_.data(), buf_.size());
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) throw Error("cannot read " + path_ + ": " + std::strerror(errno));
            len_ = size_t(r);
            return r > 0;
        }
    }
    std::string path_;
    int fd_ = -1;
    std::vector<char> buf_;
    size_t pos_ = 0, len_ = 0;
    uint64_t base_ = 0;
};

RecordReader::RecordReader(std::string path, SourceFormat format, const ReaderOptions& options)
    : path_(std::move(path)), format_(format), options_(options) {}

RecordReader::~RecordReader() = default;

uint64_t RecordReader::bytesConsumed() const { return src_ ? src_->consumed() : 0; }

namespace {


std::string tooLargeDetail(uint64_t size, size_t limit) {
    return "the record is " + std::to_string(size) + " bytes, over the limit of " + formatBytes(limit) +
           " per record (--max-record-bytes)";
}

// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 5: ..." without the
// bracketed id and the line (a record is one line, or the line is given separately).
std::string cleanJsonError(const std::string& what) {
    std::string s = what;
    if (s.rfind("[json.exception.", 0) == 0) {
        size_t close = s.find("] ");
        if (close != std::string::npos) s = s.substr(close + 2);
    }
    const std::string lead = "parse error at line 1, ";
    if (s.rfind(lead, 0) == 0) s = s.substr(lead.size());
    else if (s.rfind("parse error ", 0) == 0) s = s.substr(12);
    return s;
}

const char* describeJsonType(const json& v) {
    switch (v.type()) {
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::null: return "null";
    default: return "a number";
    }
}

// Parses a record's text into `out`; fills issue/detail otherwise.
void parseJsonRecord(std::string_view text, SourceRecord& out, const char* unit) {
    size_t bad = 0;
    if (!isValidUtf8(text, &bad)) {
        out.issue = RecordIssue::InvalidUtf8;
        out.detail = "invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the " + unit;
        return;
    }
    try {
        out.value = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
        out.issue = RecordIssue::MalformedJson;
        out.detail = "malformed JSON: " + cleanJsonError(e.what());
        out.value = json();
        return;
    }
    if (!out.value.is_object()) {
        out.issue = RecordIssue::NotAnObject;
        out.detail = std::string("the ") + unit + " is " + describeJsonType(out.value) + ", not a JSON object";
        out.value = json();
    }
}

void noteColumns(std::vector<std::string>& columns, const json& v) {
    if (!columns.empty() || !v.is_object()) return;
    for (auto it = v.begin(); it != v.end(); ++it) columns.push_back(it.key());
}

// ---------------------------------------------------------------------------------------------
// JSONL

class JsonlReader : public RecordReader {
public:
    JsonlReader(const std::string& path, const ReaderOptions& o) : RecordReader(path, SourceFormat::Jsonl, o) {}

    bool next(SourceRecord& out) override {
        for (;;) {
            if (src_->window().empty()) return false;
            const int64_t startLine = line_;
            line_buf_.clear();
            uint64_t size = 0;
            bool tooLarge = false;
            for (;;) {
                std::string_view w = src_->window();
                if (w.empty()) break;
                const void* nl = std::memchr(w.data(), '\n', w.size());
                const size_t take = nl ? size_t(static_cast<const char*>(nl) - w.data()) : w.size();
                size += take;
                if (!tooLarge) {
                    if (size > options_.maxRecordBytes) {
                        tooLarge = true;
                        line_buf_.clear();
                        line_buf_.shrink_to_fit();
                    } else {
                        line_buf_.append(w.data(), take);
                    }
                }
                src_->advance(take);
                if (nl) {
                    src_->advance(1);
                    ++line_;
                    break;
                }
            }
            if (!tooLarge && !line_buf_.empty() && line_buf_.back() == '\r') line_buf_.pop_back();
            if (!tooLarge && std::all_of(line_buf_.begin(), line_buf_.end(),
                                         [](char c) { return c == ' ' || c == '\t' || c == '\r'; }))
                continue;   // blank line
            out = SourceRecord();
            out.number = ++number_;
            out.line = startLine;
            if (tooLarge) {
                out.issue = RecordIssue::TooLarge;
                out.detail = tooLargeDetail(size, options_.maxRecordBytes);
                return true;
            }
            parseJsonRecord(line_buf_, out, "line");
            noteColumns(columns_, out.value);
            return true;
        }
    }

private:
    std::string line_buf_;
};

// ---------------------------------------------------------------------------------------------
// JSON: an array of records, or an object holding one

class JsonArrayReader : public RecordReader {
public:
    JsonArrayReader(const std::string& path, const ReaderOptions& o) : RecordReader(path, SourceFormat::Json, o) {}

    // Positions the reader on the first record (finding the wrapper key); open() calls it, so that
    // a document that holds no records fails before anything is read.
    void start() {
        if (state_ == State::Start) enterArray();
    }

    bool next(SourceRecord& out) override {
        start();
        if (state_ == State::Done) return false;
        skipWs();
        if (state_ == State::AfterElement) {
            const int c = src_->get();
            if (c == ']') { finish(); return false; }
            if (c != ',') {
                if (c < 0) structural("the file ends inside the array (missing ']')");
                structural("expected ',' or ']' after record " + std::to_string(number_) + ", found " + shown(c));
            }
            skipWs();
            if (src_->peek() == ']') {   // a trailing comma: tolerated, nothing is lost
                src_->get();
                finish();
                return false;
            }
        } else if (src_->peek() == ']') {   // the first element
            src_->get();
            finish();
            return false;
        }
        if (src_->peek() < 0) structural("the file ends inside the array (missing ']')");
        out = SourceRecord();
        out.number = ++number_;
        out.line = line_;
        elem_.clear();
        uint64_t size = 0;
        bool overflow = false;
        if (!scanValue(&elem_, size, overflow))
            structural("the file ends inside record " + std::to_string(number_) + " (which starts on line " +
                       std::to_string(out.line) + ")");
        state_ = State::AfterElement;
        if (overflow) {
            out.issue = RecordIssue::TooLarge;
            out.detail = tooLargeDetail(size, options_.maxRecordBytes);
            elem_.clear();
            elem_.shrink_to_fit();
            return true;
        }
        parseJsonRecord(elem_, out, "record");
        noteColumns(columns_, out.value);
        return true;
    }

private:
    enum class State { Start, InArray, AfterElement, Done };

    [[noreturn]] void structural(const std::string& why) {
        throw Error(path_ + ": malformed JSON at line " + std::to_string(line_) + ": " + why +
                    "; the file's structure is broken, so nothing was imported");
    }

    static std::string shown(int c) {
        if (c < 0) return "the end of the file";
        if (c >= 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
        return buf;
    }

    void skipWs() {
        for (;;) {
            int c = src_->peek();
            if (c == '\n') ++line_;
            else if (c != ' ' && c != '\t' && c != '\r') return;
            src_->get();
        }
    }

    // Appends one byte to the current value, within the size limit.
    void keep(std::string* store, int c, uint64_t& size, bool& overflow) {
        ++size;
        if (!store || overflow) return;
        if (size > options_.maxRecordBytes) {
            overflow = true;
            return;
        }
        store->push_back(char(c));
    }

    // Scans a string whose opening quote was consumed (and kept). False at the end of the file.
    bool scanString(std::string* store, uint64_t& size, bool& overflow) {
        for (;;) {
            // Fast path: copy runs without quotes, backslashes or newlines.
            std::string_view w = src_->window();
            if (w.empty()) return false;
            size_t run = 0;
            while (run < w.size() && w[run] != '"' && w[run] != '\\' && w[run] != '\n') ++run;
            if (run > 0) {
                size += run;
                if (store && !overflow) {
                    if (size > options_.maxRecordBytes) overflow = true;
                    else store->append(w.data(), run);
                }
                src_->advance(run);
                continue;
            }
            int c = src_->get();
            if (c == '\n') ++line_;   // invalid inside a JSON string; the record parser says so
            keep(store, c, size, overflow);
            if (c == '"') return true;
            if (c == '\\') {
                int e = src_->get();
                if (e < 0) return false;
                if (e == '\n') ++line_;
                keep(store, e, size, overflow);
            }
        }
    }

    // Scans one complete JSON value (object, array, string or literal). False at end of file.
    bool scanValue(std::string* store, uint64_t& size, bool& overflow) {
        int c = src_->peek();
        if (c < 0) return false;
        if (c == '"') {
            src_->get();
            keep(store, c, size, overflow);
            return scanString(store, size, overflow);
        }
        if (c == '{' || c == '[') {
            int depth = 0;
            for (;;) {
                c = src_->get();
                if (c < 0) return false;
                if (c == '\n') ++line_;
                keep(store, c, size, overflow);
                if (c == '"') {
                    if (!scanString(store, size, overflow)) return false;
                } else if (c == '{' || c == '[') {
                    ++depth;
                } else if (c == '}' || c == ']') {
                    if (--depth == 0) return true;
                }
            }
        }
        // A literal: up to a delimiter.
        for (;;) {
            c = src_->peek();
            if (c < 0 || c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\r' || c == '\n') return true;
            src_->get();
            keep(store, c, size, overflow);
        }
    }

    // Skips to the end of an array or object whose opening bracket was consumed.
    bool skipRestOfContainer() {
        int depth = 1;
        uint64_t size = 0;
        bool overflow = false;
        for (;;) {
            const int c = src_->get();
            if (c < 0) return false;
            if (c == '\n') ++line_;
            if (c == '"') {
                if (!scanString(nullptr, size, overflow)) return false;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return true;
            }
        }
    }

    void enterArray() {
        skipWs();
        const int c = src_->peek();
        if (c == '[') {
            src_->get();
            state_ = State::InArray;
            return;
        }
        if (c == '"')
            throw Error(path_ + ": the file is one JSON string, not records: expected an array of objects, or an "
                                "object holding one (e.g. {\"data\": [...]})");
        if (c != '{')
            throw Error(path_ + ": the JSON document is " +
                        (c < 0 ? std::string("empty") : "not an array or an object (it starts with " + shown(c) + ")") +
                        ": expected an array of objects, or an object holding one (e.g. {\"data\": [...]})");
        // A wrapper object: find the key holding the records.
        src_->get();
        std::vector<std::string> seen;
        for (;;) {
            skipWs();
            int k = src_->get();
            if (k == '}' || k < 0) {
                std::string keys;
                for (const std::string& s : seen) keys += (keys.empty() ? "" : ", ") + s;
                if (!options_.jsonKey.empty())
                    throw Error(path_ + ": the JSON object has no key '" + options_.jsonKey + "' holding an array" +
                                (keys.empty() ? "" : " (keys: " + keys + ")"));
                throw Error(path_ + ": the JSON object holds no array of records (expected e.g. {\"data\": [...]}" +
                            (keys.empty() ? std::string(")") : "; keys: " + keys + ")"));
            }
            if (k != '"') structural("expected a key in the top-level object, found " + shown(k));
            std::string key = "\"";
            uint64_t size = 1;
            bool overflow = false;
            if (!scanString(&key, size, overflow)) structural("the file ends inside a key");
            std::string name;
            try {
                name = json::parse(key).get<std::string>();
            } catch (const json::exception&) {
                structural("a malformed key in the top-level object");
            }
            skipWs();
            if (src_->get() != ':') structural("expected ':' after the key \"" + name + "\"");
            skipWs();
            seen.push_back(name);
            uint64_t skipped = 0;
            bool skipOverflow = false;
            if (src_->peek() == '[' && (options_.jsonKey.empty() || options_.jsonKey == name)) {
                src_->get();
                skipWs();
                const int first = src_->peek();
                // Without --json-key, the first array of objects holds the records ("tags": ["a"] does not).
                if (!options_.jsonKey.empty() || first == '{') {
                    wrapperKey_ = name;
                    state_ = State::InArray;
                    return;
                }
                if (!skipRestOfContainer()) structural("the file ends inside the value of \"" + name + "\"");
            } else if (!scanValue(nullptr, skipped, skipOverflow)) {
                structural("the file ends inside the value of \"" + name + "\"");
            }
            skipWs();
            int sep = src_->get();
            if (sep == '}' || sep < 0) {
                // No array: report below on the next loop turn.
                std::string keys;
                for (const std::string& s : seen) keys += (keys.empty() ? "" : ", ") + s;
                if (!options_.jsonKey.empty())
                    throw Error(path_ + ": the JSON object has no key '" + options_.jsonKey + "' holding an array (keys: " +
                                keys + ")");
                throw Error(path_ + ": the JSON object holds no array of records (expected e.g. {\"data\": [...]}; keys: " +
                            keys + ")");
            }
            if (sep != ',') structural("expected ',' or '}' after the value of \"" + name + "\", found " + shown(sep));
        }
    }

    void finish() {
        state_ = State::Done;
        if (!wrapperKey_.empty()) return;   // the rest of the wrapper object is not records
        skipWs();
        const int c = src_->peek();
        if (c >= 0) structural("unexpected " + shown(c) + " after the end of the array");
    }

    State state_ = State::Start;
    std::string elem_;
};

// ---------------------------------------------------------------------------------------------
// CSV / TSV

class DelimitedReader : public RecordReader {
public:
    DelimitedReader(const std::string& path, const ReaderOptions& o, bool tsv)
        : RecordReader(path, tsv ? SourceFormat::Tsv : SourceFormat::Csv, o), delim_(tsv ? '\t' : ','), strict_(!tsv) {}

    bool next(SourceRecord& out) override {
        if (!headerRead_) readHeader();
        for (;;) {
            Raw r;
            if (!readRecord(r)) return false;
            if (r.blank) continue;
            out = SourceRecord();
            out.number = ++number_;
            out.line = r.startLine;
            if (r.overflow) {
                out.issue = RecordIssue::TooLarge;
                out.detail = tooLargeDetail(r.size, options_.maxRecordBytes);
                return true;
            }
            if (!r.problem.empty()) {
                out.issue = RecordIssue::MalformedCsv;
                out.detail = "malformed " + std::string(strict_ ? "CSV" : "TSV") + ": " + r.problem;
                return true;
            }
            if (r.fields.size() != columns_.size()) {
                out.issue = RecordIssue::MalformedCsv;
                out.detail = "malformed " + std::string(strict_ ? "CSV" : "TSV") + ": the row has " +
                             std::to_string(r.fields.size()) + " field" + (r.fields.size() == 1 ? "" : "s") +
                             ", the header has " + std::to_string(columns_.size());
                return true;
            }
            for (size_t i = 0; i < r.fields.size(); ++i) {
                size_t bad = 0;
                if (!isValidUtf8(r.fields[i], &bad)) {
                    out.issue = RecordIssue::InvalidUtf8;
                    out.detail = "invalid UTF-8 in column '" + columns_[i] + "' at byte " + std::to_string(bad + 1);
                    return true;
                }
            }
            out.value = json::object();
            for (size_t i = 0; i < r.fields.size(); ++i) out.value[columns_[i]] = std::move(r.fields[i]);
            return true;
        }
    }

    void readHeader() {
        headerRead_ = true;
        Raw r;
        for (;;) {
            if (!readRecord(r)) throw Error(path_ + ": no header row (the file has no content)");
            if (!r.blank) break;
        }
        const char* kind = strict_ ? "CSV" : "TSV";
        if (r.overflow) throw Error(path_ + ": the header row is larger than " + formatBytes(options_.maxRecordBytes));
        if (!r.problem.empty()) throw Error(path_ + ": malformed " + kind + " header on line " + std::to_string(r.startLine) + ": " + r.problem);
        for (size_t i = 0; i < r.fields.size(); ++i) {
            std::string name = r.fields[i];
            size_t bad = 0;
            if (!isValidUtf8(name, &bad)) throw Error(path_ + ": invalid UTF-8 in header column " + std::to_string(i + 1));
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
            size_t lead = 0;
            while (lead < name.size() && (name[lead] == ' ' || name[lead] == '\t')) ++lead;
            name = name.substr(lead);
            if (name.empty()) name = "column_" + std::to_string(i + 1);
            if (std::find(columns_.begin(), columns_.end(), name) != columns_.end())
                throw Error(path_ + ": the " + kind + " header names column '" + name + "' twice");
            columns_.push_back(name);
        }
    }

private:
    struct Raw {
        std::vector<std::string> fields;
        int64_t startLine = 0;
        uint64_t size = 0;
        bool overflow = false;
        bool blank = false;
        std::string problem;
    };

    // One physical record (possibly several lines). False at the end of the file.
    bool readRecord(Raw& r) {
        if (src_->peek() < 0) return false;
        r = Raw();
        r.startLine = line_;
        enum class S { FieldStart, Unquoted, Quoted, AfterQuote } s = S::FieldStart;
        std::string field;
        bool anyQuote = false;
        int64_t quoteLine = 0;
        auto append = [&](char c) {
            ++r.size;
            if (r.overflow) return;
            if (r.size > options_.maxRecordBytes) {
                r.overflow = true;
                field.clear();
                field.shrink_to_fit();
                r.fields.clear();
                return;
            }
            field += c;
        };
        auto pushField = [&]() {
            if (!r.overflow) r.fields.push_back(std::move(field));
            field.clear();
        };
        auto problem = [&](const std::string& p) {
            if (r.problem.empty()) r.problem = p;
        };
        for (;;) {
            // Fast path for plain text inside a field.
            if (s == S::Unquoted || s == S::Quoted) {
                std::string_view w = src_->window();
                size_t run = 0;
                while (run < w.size()) {
                    char ch = w[run];
                    if (ch == '"' || ch == '\n' || ch == '\r' || (s == S::Unquoted && ch == delim_)) break;
                    ++run;
                }
                if (run > 0) {
                    if (!r.overflow && r.size + run <= options_.maxRecordBytes) {
                        field.append(w.data(), run);
                        r.size += run;
                    } else {
                        for (size_t k = 0; k < run; ++k) append(w[k]);
                    }
                    src_->advance(run);
                }
            }
            const int c = src_->get();
            if (c < 0) {
                if (s == S::Quoted) problem("unterminated quoted field (the quote opens on line " + std::to_string(quoteLine) + ")");
                pushField();
                break;
            }
            if (s == S::Quoted) {
                if (c == '"') {
                    if (src_->peek() == '"') { src_->get(); append('"'); }
                    else s = S::AfterQuote;
                } else {
                    if (c == '\n') ++line_;
                    append(char(c));
                }
                continue;
            }
            if (c == '\n' || c == '\r') {
                if (c == '\r' && src_->peek() == '\n') src_->get();
                ++line_;
                pushField();
                break;
            }
            if (c == delim_) {
                pushField();
                s = S::FieldStart;
                continue;
            }
            if (s == S::FieldStart) {
                if (c == '"') {
                    s = S::Quoted;
                    anyQuote = true;
                    quoteLine = line_;
                    continue;
                }
                s = S::Unquoted;
            }
            if (s == S::AfterQuote) {
                problem("unexpected " + std::string(c >= 0x20 && c < 0x7f ? std::string("'") + char(c) + "'" : "character") +
                        " after a closing quote on line " + std::to_string(line_) + " (a quote inside a quoted field is written \"\")");
                s = S::Unquoted;
            }
            if (c == '"' && strict_)
                problem("a quote inside an unquoted field on line " + std::to_string(line_) +
                        " (quote the whole field and double the quote: \"\")");
            append(char(c));
        }
        r.blank = !anyQuote && !r.overflow && r.fields.size() == 1 && r.fields[0].empty();
        return true;
    }

    char delim_;
    bool strict_;
    bool headerRead_ = false;
};

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
    if (starts("PAR1")) throw Error(path + " is a Parquet file: export it to JSONL or CSV first (e.g. with pandas or DuckDB)");
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

} // namespace

SourceFormat detectSourceFormat(const std::string& path) { return detectFrom(path, sniffFile(path)); }

std::unique_ptr<RecordReader> RecordReader::open(const std::string& path, const ReaderOptions& options) {
    Sniff s = sniffFile(path);
    if (options.maxRecordBytes < 16) throw Error("the record size limit must be at least 16 bytes");
    SourceFormat f = options.format == SourceFormat::Auto ? detectFrom(path, s) : options.format;
    std::unique_ptr<RecordReader> r;
    switch (f) {
    case SourceFormat::Jsonl: r = std::make_unique<JsonlReader>(path, options); break;
    case SourceFormat::Json: r = std::make_unique<JsonArrayReader>(path, options); break;
    case SourceFormat::Csv: r = std::make_unique<DelimitedReader>(path, options, false); break;
    case SourceFormat::Tsv: r = std::make_unique<DelimitedReader>(path, options, true); break;
    case SourceFormat::Auto: break;
    }
    r->src_ = std::make_unique<ByteSource>(path);
    r->fileSize_ = s.size;
    r->bom_ = s.bom;
    if (s.bom) {
        r->src_->window();   // fill the buffer, then skip the BOM
        r->src_->advance(3);
    }
    if (f == SourceFormat::Csv || f == SourceFormat::Tsv) static_cast<DelimitedReader*>(r.get())->readHeader();
    if (f == SourceFormat::Json) static_cast<JsonArrayReader*>(r.get())->start();
    return r;
}

std::vector<std::string> sampleColumns(const std::string& path, const ReaderOptions& options, int maxRecords) {
    std::unique_ptr<RecordReader> r = RecordReader::open(path, options);
    if (r->format() == SourceFormat::Csv || r->format() == SourceFormat::Tsv) return r->columns();
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
