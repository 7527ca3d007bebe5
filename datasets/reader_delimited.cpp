// CSV and TSV: RFC 4180 quoting (TSV is lenient about quotes inside fields), embedded
// newlines, CRLF, a header row naming the fields.
#include "datasets/record_readers.h"

#include "core/format.h"

#include <algorithm>

using nlohmann::json;

namespace swarm {

namespace {

class DelimitedReader : public RecordReader {
public:
    DelimitedReader(const std::string& path, const ReaderOptions& o, bool tsv)
        : RecordReader(path, tsv ? SourceFormat::Tsv : SourceFormat::Csv, o), delim_(tsv ? '\t' : ','), strict_(!tsv) {}

    bool next(SourceRecord& out) override {
        if (!headerRead_) readPreamble();
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

protected:
    // The header row: the column names.
    void readPreamble() override {
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

} // namespace

std::unique_ptr<RecordReader> newDelimitedReader(const std::string& path, const ReaderOptions& options, bool tsv) {
    return std::make_unique<DelimitedReader>(path, options, tsv);
}

} // namespace swarm
