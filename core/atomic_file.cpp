#include "core/atomic_file.h"

#include "core/error.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace swarm {

namespace {

std::atomic<unsigned long> gTempCounter{0};

// strerror, with the failures a user can act on phrased plainly.
std::string describeErrno(int err) {
    std::string text = std::strerror(err);
    if (err == ENOSPC || err == EDQUOT) return "disk full (" + text + ")";
    if (err == EFBIG) return "file too large (" + text + ")";
    return text;
}

// "dir/name" -> ("dir", "name"); "name" -> ("", "name"); "/name" -> ("/", "name").
void splitPath(const std::string& path, std::string& dir, std::string& name) {
    size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        dir.clear();
        name = path;
    } else {
        dir = slash == 0 ? "/" : path.substr(0, slash);
        name = path.substr(slash + 1);
    }
}

int openRetry(const char* path, int flags, mode_t mode = 0) {
    int fd;
    do {
        fd = ::open(path, flags, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int fsyncRetry(int fd) {
    int rc;
    do {
        rc = ::fsync(fd);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

} // namespace

AtomicFile::AtomicFile(std::string targetPath) : target_(std::move(targetPath)) {
    std::string dir, name;
    splitPath(target_, dir, name);
    if (name.empty() || name == "." || name == "..")
        throw Error("cannot write '" + target_ + "': not a file name");
    const std::string prefix = (dir.empty() ? std::string() : (dir == "/" ? dir : dir + "/")) + "." + name +
                               ".tmp." + std::to_string(long(::getpid())) + ".";
    // A leftover temporary of a crashed process with the same pid may exist: take the next number.
    for (int attempt = 0;; ++attempt) {
        temp_ = prefix + std::to_string(gTempCounter.fetch_add(1));
        fd_ = openRetry(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd_ >= 0) return;
        const int err = errno;
        if (err == EEXIST && attempt < 100) continue;
        throw Error("cannot write '" + target_ + "': cannot create a temporary file in its folder (" + temp_ +
                    "): " + describeErrno(err));
    }
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink(temp_.c_str());
        fd_ = -1;
    }
}

void AtomicFile::abandon() {
    if (fd_ < 0) return;
    ::close(fd_);
    ::unlink(temp_.c_str());
    fd_ = -1;
}

void AtomicFile::write(const void* data, size_t size) {
    if (fd_ < 0) throw Error("cannot write '" + target_ + "': the file was already committed or abandoned");
    const char* p = static_cast<const char*>(data);
    size_t left = size;
    while (left > 0) {
        // Linux transfers at most ~2 GiB per call; stay below it explicitly.
        const size_t chunk = left < (size_t(1) << 30) ? left : (size_t(1) << 30);
        ssize_t n = ::write(fd_, p, chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            abandon();   // the partial temporary is useless: free its space now
            throw Error("cannot write '" + target_ + "': " + describeErrno(err));
        }
        if (n == 0) {
            abandon();
            throw Error("cannot write '" + target_ + "': short write (" + std::to_string(written_) +
                        " bytes written, the device accepts no more)");
        }
        p += n;
        left -= size_t(n);
        written_ += size_t(n);
    }
}

void AtomicFile::commit() {
    if (fd_ < 0) throw Error("cannot commit '" + target_ + "': the file was already committed or abandoned");
    // Delayed-allocation file systems report a full disk only here.
    if (fsyncRetry(fd_) != 0) {
        const int err = errno;
        abandon();
        throw Error("cannot write '" + target_ + "': " + describeErrno(err));
    }
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) {   // on Linux the descriptor is gone even on EINTR
        const int err = errno;
        ::unlink(temp_.c_str());
        throw Error("cannot write '" + target_ + "': " + describeErrno(err));
    }
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp_.c_str());
        throw Error("cannot replace '" + target_ + "': " + describeErrno(err));
    }
    // Make the rename itself durable. Some file systems cannot fsync a directory (EINVAL):
    // the new content is in place either way, so only an I/O error is reported.
    std::string dir, name;
    splitPath(target_, dir, name);
    int dfd = openRetry(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int rc = fsyncRetry(dfd);
        const int err = errno;
        ::close(dfd);
        if (rc != 0 && err == EIO)
            throw Error("cannot write '" + target_ + "': syncing its folder failed: " + describeErrno(err));
    }
}

void writeFileAtomically(const std::string& path, const std::string& content) {
    AtomicFile f(path);
    f.write(content);
    f.commit();
}

std::string readTextFile(const std::string& path, size_t maxBytes) {
    // O_NONBLOCK so that a FIFO cannot hang the open; regular files ignore it.
    int fd = openRetry(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        const int err = errno;
        throw Error("cannot read '" + path + "': " + std::strerror(err));
    }
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        throw Error("cannot read '" + path + "': " + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) throw Error("cannot read '" + path + "': it is a directory, not a file");
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
        throw Error("cannot read '" + path + "': not a regular file");
    auto tooLarge = [&](uint64_t size) {
        return Error("cannot read '" + path + "': file too large (" + std::to_string(size) +
                     " bytes; the limit is " + std::to_string(maxBytes) + ")");
    };
    if (S_ISREG(st.st_mode) && uint64_t(st.st_size) > maxBytes) throw tooLarge(uint64_t(st.st_size));

    std::string out;
    if (S_ISREG(st.st_mode)) out.reserve(size_t(st.st_size));
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            throw Error("cannot read '" + path + "': " + std::strerror(err));
        }
        if (n == 0) break;
        if (out.size() + size_t(n) > maxBytes) throw tooLarge(out.size() + size_t(n));
        out.append(buf, size_t(n));
    }
    return out;
}

} // namespace swarm
