#pragma once
// Content digests the Hugging Face Hub names files by: SHA-256 (LFS objects: the blob name and
// the X-Linked-Etag of a large file) and the git blob SHA-1 ("blob <size>\0" + content: the ETag
// of a small file). Computed through OpenSSL's libcrypto.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace swarm {

enum class DigestKind { Sha256, GitBlobSha1 };

// Incremental digest. GitBlobSha1 needs the total size up front (it is part of the header).
class Digest {
public:
    Digest(DigestKind kind, uint64_t totalSize = 0);
    ~Digest();
    Digest(const Digest&) = delete;
    Digest& operator=(const Digest&) = delete;
    void update(const void* data, size_t size);
    std::string hexFinal();          // lower-case hex; the digest cannot be updated afterwards

private:
    struct State;
    std::unique_ptr<State> s_;
};

std::string sha256Hex(std::string_view data);
// The digest of a whole file, read in 1 MiB blocks; throws swarm::Error naming the file.
std::string fileDigestHex(const std::string& path, DigestKind kind);

// Standard base64 (RFC 4648, with padding).
std::string base64Encode(std::string_view data);

} // namespace swarm
