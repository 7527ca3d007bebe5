// JSONL (one object per line) and JSON (an array of objects, or an object holding one), both
// streamed: a JSON array is scanned value by value, never loaded whole.
#include "datasets/record_readers.h"

#include "datasets/field_path.h"

#include <algorithm>
#include <cstdio>

using nlohmann::json;

namespace swarm {

namespace {

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

// "an array", "a string", "a boolean", "a number" or "null".
std::string describeJsonType(const json& v) {
    if (v.is_null()) return "null";
    return std::string(v.is_array() ? "an " : "a ") + jsonTypeName(v);
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

    bool next(SourceRecord& out) override {
        readPreamble();
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

protected:
    // Positions the reader on the first record (finding the wrapper key), so that a document that
    // holds no records fails in open(), before anything is read.
    void readPreamble() override {
        if (state_ == State::Start) enterArray();
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

} // namespace

std::unique_ptr<RecordReader> newJsonlReader(const std::string& path, const ReaderOptions& options) {
    return std::make_unique<JsonlReader>(path, options);
}

std::unique_ptr<RecordReader> newJsonArrayReader(const std::string& path, const ReaderOptions& options) {
    return std::make_unique<JsonArrayReader>(path, options);
}

} // namespace swarm
