// Reading the sources of a corpus import as pieces of document text: plain text files streamed
// in pieces cut where the pre-tokeniser cuts, record files one record (one document) at a time.
#include "datasets/corpus_steps.h"

#include "core/error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace swarm::corpus_steps {

namespace {

bool isAsciiSpace(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }
bool isAsciiGraphic(unsigned char c) { return c >= 0x21 && c <= 0x7E; }

bool onlyWhitespace(std::string_view s) {
    for (char c : s)
        if (!isAsciiSpace(static_cast<unsigned char>(c))) return false;
    return true;
}

} // namespace

size_t firstPieceLength(std::string_view text, size_t limit, bool* cutInsideWord) {
    if (text.size() <= limit) return text.size();
    limit = std::max<size_t>(limit, 1);
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t p = limit; p >= 1; --p)
        if (isAsciiSpace(s[p]) && isAsciiGraphic(s[p - 1])) return p;
    size_t p = limit;
    while (p > 0 && (s[p] & 0xC0) == 0x80) --p;   // not inside a UTF-8 character
    if (p == 0) p = limit;
    if (cutInsideWord) *cutInsideWord = true;
    return p;
}

// ---------------------------------------------------------------------------------------------
// One plain text file: checked when opened, then handed out piece by piece. The whole file is
// one document; each piece is checked (UTF-8, no NUL) as it is read, so a file that turns bad
// late is dropped with its reason.

class PieceReader::PlainText {
public:
    explicit PlainText(std::string path) : path_(std::move(path)) {}
    ~PlainText() {
        if (fd_ >= 0) ::close(fd_);
    }
    PlainText(const PlainText&) = delete;
    PlainText& operator=(const PlainText&) = delete;

    // Empty when the file can be read as UTF-8 text, else why it is skipped.
    std::string open() {
        fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) return std::string("cannot open: ") + std::strerror(errno);
        if (!fill(65536)) return failure_;
        if (pending_.empty()) return "empty (0 bytes)";
        auto starts = [&](std::string_view magic) { return pending_.compare(0, magic.size(), magic) == 0; };
        if (starts("\x1f\x8b")) return "gzip-compressed (decompress it first)";
        if (starts("PK\x03\x04")) return "a zip archive (extract it first)";
        if (starts("BZh") || starts("\xfd" "7zXZ") || starts("\x28\xb5\x2f\xfd") || starts("7z\xbc\xaf\x27\x1c"))
            return "a compressed archive (bzip2, xz, zstd or 7z: decompress it first)";
        if (starts("%PDF-")) return "a PDF document (extract its text first, e.g. pdftotext)";
        if (starts(std::string_view("SQLite format 3\0", 16))) return "an SQLite database";
        if (starts(std::string_view("\xff\xfe\0\0", 4)) || starts(std::string_view("\0\0\xfe\xff", 4)))
            return "UTF-32 text (convert it to UTF-8 first)";
        if (starts("\xff\xfe") || starts("\xfe\xff")) return "UTF-16 text (convert it to UTF-8 first, e.g. iconv -f UTF-16 -t UTF-8)";
        if (starts("\xef\xbb\xbf")) {
            pending_.erase(0, 3);
            offset_ = 3;
            if (pending_.empty() && eof_) return "empty (only a byte order mark)";
        }
        // The first bytes may end inside a character that the next read completes.
        size_t checked = pending_.size();
        if (!eof_) {
            while (checked > 0 && (static_cast<unsigned char>(pending_[checked - 1]) & 0xC0) == 0x80) --checked;
            if (checked > 0 && static_cast<unsigned char>(pending_[checked - 1]) >= 0xC0) --checked;
        }
        return checkText(std::string_view(pending_).substr(0, checked), offset_);
    }

    // The next piece of at most `limit` bytes; false at the end of the file, or when the file
    // turns out unusable (failure() then says why).
    bool next(size_t limit, std::string& piece, bool& last, bool& cutInsideWord) {
        if (!fill(limit + 1)) return false;
        if (pending_.empty()) return false;
        const size_t n = firstPieceLength(pending_, limit, &cutInsideWord);
        const std::string_view head(pending_.data(), n);
        failure_ = checkText(head, offset_);
        if (!failure_.empty()) return false;
        if (!onlyWhitespace(head)) sawText_ = true;
        piece.assign(head);
        pending_.erase(0, n);
        offset_ += n;
        last = eof_ && pending_.empty();
        if (last && !sawText_) {
            failure_ = "holds only whitespace";
            return false;
        }
        return true;
    }

    const std::string& failure() const { return failure_; }
    uint64_t bytesRead() const { return bytesRead_; }
    uint64_t offset() const { return offset_; }

private:
    // Reads until `want` bytes are pending or the file ends; false (failure_ set) on a read error.
    bool fill(size_t want) {
        while (!eof_ && pending_.size() < want) {
            const size_t have = pending_.size();
            const size_t chunk = std::max<size_t>(want - have, 65536);
            pending_.resize(have + chunk);
            ssize_t r;
            do r = ::read(fd_, pending_.data() + have, chunk);
            while (r < 0 && errno == EINTR);
            if (r < 0) {
                failure_ = std::string("cannot read: ") + std::strerror(errno);
                pending_.resize(have);
                return false;
            }
            pending_.resize(have + size_t(r));
            bytesRead_ += uint64_t(r);
            if (r == 0) eof_ = true;
        }
        return true;
    }

    // Empty when `text` (starting at file offset `at`) is UTF-8 without NUL bytes.
    static std::string checkText(std::string_view text, uint64_t at) {
        if (const void* nul = std::memchr(text.data(), 0, text.size()))
            return "binary (a NUL byte at offset " +
                   std::to_string(at + uint64_t(static_cast<const char*>(nul) - text.data())) + ")";
        size_t bad = 0;
        if (!isValidUtf8(text, &bad)) return "not UTF-8 text (an invalid byte at offset " + std::to_string(at + bad) + ")";
        return "";
    }

    std::string path_;
    int fd_ = -1;
    std::string pending_;      // read, not handed out yet
    uint64_t offset_ = 0;      // file offset of pending_[0]
    uint64_t bytesRead_ = 0;
    bool eof_ = false;
    bool sawText_ = false;
    std::string failure_;
};

// ---------------------------------------------------------------------------------------------
// PieceReader

PieceReader::PieceReader(const SourceListing& sources, const CorpusImportOptions& options)
    : sources_(sources), options_(options), field_(FieldPath::parse(options.textField)) {}

PieceReader::~PieceReader() = default;

uint64_t PieceReader::bytesConsumed() const {
    uint64_t current = 0;
    if (fileOpen_) current = text_ ? text_->bytesRead() : records_ ? records_->bytesConsumed() : 0;
    return doneBytes_ + current;
}

void PieceReader::skipFile(const std::string& reason) {
    skippedFiles_.push_back({sources_.files[fileIndex_].path, reason});
}

void PieceReader::skipRecord(const SourceRecord& rec, const std::string& reason, const std::string& detail) {
    ++skippedRecordCount_;
    if (skippedRecordSample_.size() < kSkippedRecordSample)
        skippedRecordSample_.push_back({uint32_t(fileIndex_), rec.number, rec.line, reason, detail});
}

void PieceReader::closeFile() {
    doneBytes_ += sources_.files[fileIndex_].bytes;
    text_.reset();
    records_.reset();
    fileOpen_ = false;
    ++fileIndex_;
}

bool PieceReader::openNextFile() {
    for (; fileIndex_ < sources_.files.size(); doneBytes_ += sources_.files[fileIndex_].bytes, ++fileIndex_) {
        const SourceFile& f = sources_.files[fileIndex_];
        if (f.kind == SourceKind::Text) {
            text_ = std::make_unique<PlainText>(f.path);
            const std::string reason = text_->open();
            if (reason.empty()) {
                fileOpen_ = true;
                return true;
            }
            text_.reset();
            skipFile(reason);
            continue;
        }
        ReaderOptions ro;
        ro.maxRecordBytes = options_.maxRecordBytes;
        std::vector<std::string> columns;
        try {
            records_ = RecordReader::open(f.path, ro);
            columns = sampleColumns(f.path, ro);
        } catch (const Error& e) {
            records_.reset();
            std::string why = e.what();
            if (why.rfind(f.path, 0) == 0) why = why.substr(f.path.size() + (why.size() > f.path.size() + 1 ? 1 : 0));
            skipFile(why.empty() ? std::string("cannot be read as records") : why);
            continue;
        }
        if (!columns.empty() && std::find(columns.begin(), columns.end(), field_.rootKey()) == columns.end()) {
            std::string list;
            for (size_t i = 0; i < columns.size() && i < 12; ++i) list += (i ? ", " : "") + columns[i];
            if (columns.size() > 12) list += ", ...";
            records_.reset();
            skipFile("no field '" + field_.rootKey() + "' in its records (fields: " + list + "; choose one with --text-field)");
            continue;
        }
        fileOpen_ = true;
        return true;
    }
    return false;
}

void PieceReader::addPieces(std::vector<TextPiece>& out, std::string_view text, uint64_t record, size_t& bytes) {
    while (!text.empty()) {
        bool cut = false;
        const size_t n = firstPieceLength(text, options_.pieceBytes, &cut);
        if (cut && warnings_.size() < 20)
            warnings_.push_back(sources_.files[fileIndex_].path + " record " + std::to_string(record) +
                                ": no whitespace in " + std::to_string(options_.pieceBytes) +
                                " bytes; the text was cut inside a word there");
        TextPiece p;
        p.text.assign(text.substr(0, n));
        p.file = uint32_t(fileIndex_);
        p.record = record;
        p.endsDocument = n == text.size();
        bytes += n;
        out.push_back(std::move(p));
        text.remove_prefix(n);
    }
}

bool PieceReader::readRecord(std::vector<TextPiece>& out, size_t& bytes) {
    if (!records_->next(record_)) return false;
    if (record_.issue != RecordIssue::None) {
        skipRecord(record_, issueCode(record_.issue), record_.detail);
        return true;
    }
    const nlohmann::json* v = field_.resolve(record_.value);
    if (!v) {
        skipRecord(record_, "missing_field", "text field '" + field_.text() + "': " + field_.explainMissing(record_.value));
        return true;
    }
    if (!v->is_string()) {
        skipRecord(record_, "not_a_string", "text field '" + field_.text() + "' is " + std::string(jsonTypeName(*v)));
        return true;
    }
    const std::string& text = v->get_ref<const std::string&>();
    if (onlyWhitespace(text)) {
        skipRecord(record_, "empty_text", "text field '" + field_.text() + "' is empty");
        return true;
    }
    addPieces(out, text, uint64_t(record_.number), bytes);
    return true;
}

bool PieceReader::readTextPiece(std::vector<TextPiece>& out, size_t& bytes) {
    TextPiece p;
    bool last = false, cut = false;
    const uint64_t at = text_->offset();
    if (!text_->next(options_.pieceBytes, p.text, last, cut)) {
        if (!text_->failure().empty()) {
            TextPiece discard;
            discard.file = uint32_t(fileIndex_);
            discard.discardsDocument = true;
            out.push_back(std::move(discard));
            skipFile(text_->failure());
        }
        return false;
    }
    if (cut && warnings_.size() < 20)
        warnings_.push_back(sources_.files[fileIndex_].path + ": no whitespace in " + std::to_string(options_.pieceBytes) +
                            " bytes at offset " + std::to_string(at) + "; the text was cut inside a word there");
    p.file = uint32_t(fileIndex_);
    p.endsDocument = last;
    bytes += p.text.size();
    out.push_back(std::move(p));
    return !last;
}

bool PieceReader::read(std::vector<TextPiece>& out, size_t maxBytes, size_t maxPieces) {
    size_t bytes = 0;
    while (bytes < maxBytes && out.size() < maxPieces) {
        if (!fileOpen_ && !openNextFile()) return false;
        const SourceFile& f = sources_.files[fileIndex_];
        const bool more = f.kind == SourceKind::Text ? readTextPiece(out, bytes) : readRecord(out, bytes);
        if (!more) closeFile();
    }
    return true;
}

} // namespace swarm::corpus_steps
