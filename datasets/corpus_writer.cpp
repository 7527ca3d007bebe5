// Writing a corpus's token file and document index (layouts in datasets/text_corpus.h), in
// order, through buffers: the tokens of a document go out as they come, so a document may be far
// larger than memory; a document whose file fails late is cut off again (ftruncate).
#include "datasets/corpus_steps.h"

#include "core/error.h"
#include "core/tokenizer.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace swarm::corpus_steps {

namespace cf = corpus_format;

namespace {

constexpr size_t kTokenBuffer = size_t(1) << 20;     // tokens (2 MiB)
constexpr size_t kEntryBuffer = size_t(1) << 15;     // index entries (1 MiB)

int createFile(const std::string& path) {
    int fd;
    do fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) throw Error("cannot create " + path + ": " + describeWriteError(errno));
    return fd;
}

void writeAll(int fd, const std::string& path, const void* data, size_t bytes, uint64_t offset) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t w = ::pwrite(fd, p, bytes, off_t(offset));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) throw Error("cannot write " + path + ": " + describeWriteError(errno));
        if (w == 0) throw Error("cannot write " + path + ": " + describeWriteError(ENOSPC));
        p += w;
        bytes -= size_t(w);
        offset += uint64_t(w);
    }
}

void syncFile(int fd, const std::string& path) {
    int rc;
    do rc = ::fsync(fd);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) throw Error("cannot write " + path + ": " + describeWriteError(errno));
}

} // namespace

std::string describeWriteError(int err) {
    const std::string text = std::strerror(err);
    if (err == ENOSPC || err == EDQUOT) return "disk full (" + text + ")";
    if (err == EFBIG) return "file too large (" + text + ")";
    return text;
}

CorpusWriter::CorpusWriter(const std::string& folder)
    : tokensPath_(folder + "/" + cf::kTokensFile), indexPath_(folder + "/" + cf::kIndexFile) {
    tokensFd_ = createFile(tokensPath_);
    try {
        indexFd_ = createFile(indexPath_);
    } catch (...) {
        ::close(tokensFd_);
        throw;
    }
    buffer_.reserve(kTokenBuffer);
    entries_.reserve(kEntryBuffer);
}

CorpusWriter::~CorpusWriter() {
    if (tokensFd_ >= 0) ::close(tokensFd_);
    if (indexFd_ >= 0) ::close(indexFd_);
}

void CorpusWriter::flushTokens() {
    if (buffer_.empty()) return;
    writeAll(tokensFd_, tokensPath_, buffer_.data(), buffer_.size() * 2, flushedTokens_ * 2);
    flushedTokens_ += buffer_.size();
    buffer_.clear();
}

void CorpusWriter::flushEntries() {
    if (entries_.empty()) return;
    const uint64_t offset = cf::kIndexHeaderBytes + (documents_ - entries_.size()) * cf::kIndexEntryBytes;
    writeAll(indexFd_, indexPath_, entries_.data(), entries_.size() * cf::kIndexEntryBytes, offset);
    entries_.clear();
}

void CorpusWriter::append(const std::vector<int32_t>& ids) {
    for (int32_t id : ids) {
        if (buffer_.size() == kTokenBuffer) flushTokens();
        buffer_.push_back(uint16_t(id));
    }
}

void CorpusWriter::endDocument(uint32_t file, uint64_t record) {
    if (buffer_.size() == kTokenBuffer) flushTokens();
    buffer_.push_back(uint16_t(Gpt2Tokenizer::kEndOfText));
    if (lastFile_ != int64_t(file)) {
        sources_.push_back(SourceTally{file, 0, 0});
        lastFile_ = int64_t(file);
    }
    SourceTally& source = sources_.back();
    cf::IndexEntry e{};
    e.firstToken = documentStart_;
    e.tokenCount = tokens() - documentStart_;
    e.record = record;
    e.source = uint32_t(sources_.size() - 1);
    e.flags = 0;
    ++source.documents;
    source.tokens += e.tokenCount;
    entries_.push_back(e);
    ++documents_;
    documentStart_ = tokens();
    if (entries_.size() == kEntryBuffer) flushEntries();
}

void CorpusWriter::discardDocument() {
    if (documentStart_ >= flushedTokens_) {
        buffer_.resize(size_t(documentStart_ - flushedTokens_));
        return;
    }
    buffer_.clear();
    int rc;
    do rc = ::ftruncate(tokensFd_, off_t(documentStart_ * 2));
    while (rc < 0 && errno == EINTR);
    if (rc < 0) throw Error("cannot write " + tokensPath_ + ": " + describeWriteError(errno));
    flushedTokens_ = documentStart_;
}

void CorpusWriter::flush() {
    flushTokens();
    flushEntries();
}

uint64_t CorpusWriter::checksumTokens() const {
    TokenChecksum sum;
    std::vector<char> block(size_t(4) << 20);
    uint64_t offset = 0;
    const uint64_t total = flushedTokens_ * 2;
    while (offset < total) {
        const size_t want = size_t(std::min<uint64_t>(block.size(), total - offset));
        const ssize_t r = ::pread(tokensFd_, block.data(), want, off_t(offset));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) throw Error("cannot read back " + tokensPath_ + ": " + (r < 0 ? std::strerror(errno) : "the file is short"));
        sum.update(block.data(), size_t(r));
        offset += uint64_t(r);
    }
    return sum.value();
}

void CorpusWriter::finish(const cf::IndexHeader& header) {
    flush();
    writeAll(indexFd_, indexPath_, &header, sizeof header, 0);
    syncFile(tokensFd_, tokensPath_);
    syncFile(indexFd_, indexPath_);
}

} // namespace swarm::corpus_steps
