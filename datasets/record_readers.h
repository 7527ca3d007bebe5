#pragma once
// The readers behind RecordReader::open and the buffered input they share. Internal to
// swarm_datasets: dataset_reader.cpp opens files, reader_json.cpp reads JSONL and JSON,
// reader_delimited.cpp reads CSV and TSV, reader_parquet.cpp reads Parquet.
#include "datasets/dataset_reader.h"

#include "core/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace swarm {

// Buffered input over a file descriptor, 1 MiB at a time.
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

// The detail of a TooLarge record.
std::string tooLargeDetail(uint64_t size, size_t limit);

// Readers for a known format; open() gives them their byte source, then calls readPreamble().
std::unique_ptr<RecordReader> newJsonlReader(const std::string& path, const ReaderOptions& options);
std::unique_ptr<RecordReader> newJsonArrayReader(const std::string& path, const ReaderOptions& options);
std::unique_ptr<RecordReader> newDelimitedReader(const std::string& path, const ReaderOptions& options, bool tsv);
// Parquet needs no byte source: it maps the file itself in readPreamble().
std::unique_ptr<RecordReader> newParquetReader(const std::string& path, const ReaderOptions& options);

} // namespace swarm
