#pragma once
// Writes a file so that readers only ever see the old content or the complete new one:
// data goes to a temporary file in the destination folder, is fsync'ed, then renamed over the
// target (and the folder fsync'ed). Destroying an uncommitted AtomicFile removes the temporary.
// Every failure (unwritable folder, disk full, short write) throws swarm::Error naming the path.
#include <cstddef>
#include <string>

namespace swarm {

class AtomicFile {
public:
    explicit AtomicFile(std::string targetPath);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t size);
    void write(const std::string& s) { write(s.data(), s.size()); }
    size_t bytesWritten() const { return written_; }
    void commit();                       // fsync, rename over the target, fsync the folder
    void abandon();                      // remove the temporary; the target is untouched

    const std::string& targetPath() const { return target_; }
    const std::string& temporaryPath() const { return temp_; }

private:
    std::string target_;
    std::string temp_;
    int fd_ = -1;
    size_t written_ = 0;
};

// Convenience: the whole content at once.
void writeFileAtomically(const std::string& path, const std::string& content);
// Reads a whole (small) text file; throws swarm::Error naming the path.
std::string readTextFile(const std::string& path, size_t maxBytes = size_t(64) << 20);

} // namespace swarm
