#include "core/digest.h"

#include "core/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace swarm {

struct Digest::State {
    EVP_MD_CTX* ctx = nullptr;
    bool finished = false;
};

Digest::Digest(DigestKind kind, uint64_t totalSize) : s_(std::make_unique<State>()) {
    s_->ctx = EVP_MD_CTX_new();
    const EVP_MD* md = kind == DigestKind::Sha256 ? EVP_sha256() : EVP_sha1();
    if (!s_->ctx || EVP_DigestInit_ex(s_->ctx, md, nullptr) != 1) throw Error("cannot initialise a digest (OpenSSL)");
    if (kind == DigestKind::GitBlobSha1) {
        const std::string header = "blob " + std::to_string(totalSize);
        update(header.data(), header.size() + 1);   // with the terminating NUL
    }
}

Digest::~Digest() {
    if (s_ && s_->ctx) EVP_MD_CTX_free(s_->ctx);
}

void Digest::update(const void* data, size_t size) {
    if (s_->finished) throw Error("digest updated after it was finished");
    if (size && EVP_DigestUpdate(s_->ctx, data, size) != 1) throw Error("digest update failed (OpenSSL)");
}

std::string Digest::hexFinal() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (s_->finished || EVP_DigestFinal_ex(s_->ctx, out, &len) != 1) throw Error("digest finish failed (OpenSSL)");
    s_->finished = true;
    static const char* kHex = "0123456789abcdef";
    std::string hex;
    hex.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        hex += kHex[out[i] >> 4];
        hex += kHex[out[i] & 15];
    }
    return hex;
}

std::string sha256Hex(std::string_view data) {
    Digest d(DigestKind::Sha256);
    d.update(data.data(), data.size());
    return d.hexFinal();
}

std::string fileDigestHex(const std::string& path, DigestKind kind) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw Error("cannot read " + path + ": " + std::strerror(e));
    }
    Digest d(kind, uint64_t(st.st_size));
    std::vector<char> buf(size_t(1) << 20);
    for (;;) {
        const ssize_t r = ::read(fd, buf.data(), buf.size());
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            const int e = errno;
            ::close(fd);
            throw Error("cannot read " + path + ": " + std::strerror(e));
        }
        if (r == 0) break;
        d.update(buf.data(), size_t(r));
    }
    ::close(fd);
    return d.hexFinal();
}

std::string base64Encode(std::string_view data) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    const auto byte = [&](size_t k) { return uint32_t(static_cast<unsigned char>(data[k])); };
    for (; i + 3 <= data.size(); i += 3) {
        const uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    const size_t rest = data.size() - i;
    if (rest == 1) {
        const uint32_t v = byte(i) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        const uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

} // namespace swarm
