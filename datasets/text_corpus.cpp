#include "datasets/text_corpus.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/tokenizer.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace swarm {

using nlohmann::json;
namespace cf = corpus_format;

// ---------------------------------------------------------------------------------------------
// Checksum

void TokenChecksum::update(const void* data, size_t bytes) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    length_ += bytes;
    while (bytes > 0 && tailLen_ > 0) {   // finish the pending word first
        tail_[tailLen_++] = *p++;
        --bytes;
        if (tailLen_ == 8) {
            uint64_t w;
            std::memcpy(&w, tail_, 8);
            h_ = absorbWord(h_, w);
            tailLen_ = 0;
        }
    }
    while (bytes >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h_ = absorbWord(h_, w);
        p += 8;
        bytes -= 8;
    }
    for (; bytes > 0; --bytes) tail_[tailLen_++] = *p++;
}

uint64_t TokenChecksum::value() const {
    uint64_t h = h_;
    if (tailLen_ > 0) {
        unsigned char last[8] = {};
        std::memcpy(last, tail_, tailLen_);
        uint64_t w;
        std::memcpy(&w, last, 8);
        h = absorbWord(h, w);
    }
    return mix64(absorbWord(h, length_));
}

std::string TokenChecksum::hex(uint64_t v) {
    static const char* digits = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) s[size_t(i)] = digits[v & 15];
    return s;
}

std::string tokenizerFingerprint(const Gpt2Tokenizer& tok) {
    TokenChecksum c;
    const int32_t n = tok.vocabSize();
    c.update(&n, sizeof n);
    for (int32_t id = 0; id < n; ++id) {
        const std::string& s = tok.tokenString(id);
        const uint32_t len = uint32_t(s.size());
        c.update(&len, sizeof len);
        c.update(s.data(), s.size());
    }
    for (const auto& [a, b] : tok.merges()) {
        c.update(a.data(), a.size());
        c.update(" ", 1);
        c.update(b.data(), b.size());
        c.update("\n", 1);
    }
    return TokenChecksum::hex(c.value());
}

// ---------------------------------------------------------------------------------------------
// Names and folders

void checkCorpusName(const std::string& name) {
    if (name.empty()) throw Error("the corpus needs a name (--name)");
    if (name.size() > 100) throw Error("corpus name '" + name.substr(0, 40) + "...' is longer than 100 characters");
    if (name[0] == '.') throw Error("corpus name '" + name + "' starts with '.' (the name is also a folder name)");
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok)
            throw Error("corpus name '" + name + "' has the character '" + std::string(1, c) +
                        "': use letters, digits, '.', '_' and '-' (the name is also a folder name)");
    }
}

std::string corporaFolderOf(const std::string& projectPath) { return projectPath + ".corpora"; }

// ---------------------------------------------------------------------------------------------
// Reading a corpus folder

namespace {

// Maps a whole file read-only; size 0 maps nothing. Throws naming the file.
const void* mapFile(const std::string& path, size_t& bytes) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw Error("cannot read " + path + ": " + std::strerror(err));
    }
    bytes = size_t(st.st_size);
    if (bytes == 0) {
        ::close(fd);
        return nullptr;
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) throw Error("cannot map " + path + ": " + std::strerror(err));
    return p;
}

uint64_t parseHex64(const std::string& s, const std::string& what) {
    if (s.size() != 16) throw Error(what + " is '" + s + "', not 16 hex digits");
    uint64_t v = 0;
    for (char c : s) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) throw Error(what + " is '" + s + "', not 16 hex digits");
        v = (v << 4) | uint64_t(d);
    }
    return v;
}

} // namespace

json readCorpusManifest(const std::string& folder) {
    const std::string path = folder + "/" + cf::kManifestFile;
    std::string text;
    try {
        text = readTextFile(path, size_t(256) << 20);
    } catch (const Error& e) {
        throw Error(std::string("not a corpus folder: ") + e.what());
    }
    json m = json::parse(text, nullptr, false);
    if (m.is_discarded() || !m.is_object()) throw Error(path + " is not valid JSON");
    if (m.value("format", "") != cf::kManifestFormat)
        throw Error(path + " is not a corpus manifest (\"format\" is not \"" + cf::kManifestFormat + "\")");
    if (m.value("version", 0) > cf::kManifestVersion)
        throw Error(path + " has version " + std::to_string(m.value("version", 0)) + ", newer than this build reads (" +
                    std::to_string(cf::kManifestVersion) + ")");
    return m;
}

TextCorpus TextCorpus::open(const std::string& folder) {
    TextCorpus c;
    c.folder_ = folder;
    c.manifest_ = readCorpusManifest(folder);
    const std::string manifestPath = folder + "/" + cf::kManifestFile;
    const std::string indexPath = folder + "/" + cf::kIndexFile;
    const std::string tokensPath = folder + "/" + cf::kTokensFile;
    try {
        c.checksum_ = parseHex64(c.manifest_.at("token_file").at("checksum").get<std::string>(),
                                 manifestPath + ": token_file.checksum");
    } catch (const json::exception&) {
        throw Error(manifestPath + " has no token_file.checksum");
    }

    c.index_ = static_cast<const unsigned char*>(mapFile(indexPath, c.indexMapBytes_));
    if (c.indexMapBytes_ < cf::kIndexHeaderBytes)
        throw Error(indexPath + " is " + std::to_string(c.indexMapBytes_) + " bytes, shorter than its 64-byte header");
    std::memcpy(&c.header_, c.index_, sizeof c.header_);
    const cf::IndexHeader& h = c.header_;
    if (std::memcmp(h.magic, cf::kIndexMagic, 8) != 0) throw Error(indexPath + " is not a document index (bad magic)");
    if (h.version != cf::kIndexVersion)
        throw Error(indexPath + " has version " + std::to_string(h.version) + " (this build reads version 1)");
    if (h.entryBytes != cf::kIndexEntryBytes)
        throw Error(indexPath + " has " + std::to_string(h.entryBytes) + "-byte entries, expected 32");
    if (h.documents > (c.indexMapBytes_ - cf::kIndexHeaderBytes) / cf::kIndexEntryBytes ||
        cf::kIndexHeaderBytes + h.documents * cf::kIndexEntryBytes != c.indexMapBytes_)
        throw Error(indexPath + " is " + std::to_string(c.indexMapBytes_) + " bytes, but its header counts " +
                    std::to_string(h.documents) + " documents (" +
                    std::to_string(cf::kIndexHeaderBytes + h.documents * cf::kIndexEntryBytes) + " bytes)");
    if (h.trainDocuments + h.validationDocuments != h.documents || h.trainTokens + h.validationTokens != h.tokens)
        throw Error(indexPath + ": the train and validation counts do not add up to the totals");
    const uint64_t manifestTokens = c.manifest_.value("counts", json::object()).value("tokens", uint64_t(0));
    if (manifestTokens != h.tokens)
        throw Error(manifestPath + " counts " + std::to_string(manifestTokens) + " tokens, " + indexPath + " " +
                    std::to_string(h.tokens));

    c.tokens_ = static_cast<const uint16_t*>(mapFile(tokensPath, c.tokensMapBytes_));
    if (c.tokensMapBytes_ != h.tokens * 2)
        throw Error(tokensPath + " is " + std::to_string(c.tokensMapBytes_) + " bytes, expected " +
                    std::to_string(h.tokens * 2) + " (" + std::to_string(h.tokens) + " uint16 tokens)");

    // The entries tile the token file, and the flags agree with the header's split counts.
    uint64_t next = 0, trainDocs = 0, trainTokens = 0;
    for (uint64_t i = 0; i < h.documents; ++i) {
        const CorpusDocument d = c.document(i);
        if (d.firstToken != next || d.tokenCount == 0 || d.tokenCount > h.tokens - next)
            throw Error(indexPath + ": document " + std::to_string(i) + " spans tokens [" + std::to_string(d.firstToken) +
                        ", +" + std::to_string(d.tokenCount) + "), expected to start at " + std::to_string(next));
        next += d.tokenCount;
        if (!d.validation) {
            ++trainDocs;
            trainTokens += d.tokenCount;
        }
    }
    if (next != h.tokens) throw Error(indexPath + ": the documents cover " + std::to_string(next) + " of " + std::to_string(h.tokens) + " tokens");
    if (trainDocs != h.trainDocuments || trainTokens != h.trainTokens)
        throw Error(indexPath + ": the validation flags disagree with the header's split counts");
    return c;
}

TextCorpus::TextCorpus(TextCorpus&& o) noexcept { *this = std::move(o); }

TextCorpus& TextCorpus::operator=(TextCorpus&& o) noexcept {
    if (this != &o) {
        release();
        folder_ = std::move(o.folder_);
        manifest_ = std::move(o.manifest_);
        header_ = o.header_;
        checksum_ = o.checksum_;
        tokens_ = o.tokens_;
        tokensMapBytes_ = o.tokensMapBytes_;
        index_ = o.index_;
        indexMapBytes_ = o.indexMapBytes_;
        o.tokens_ = nullptr;
        o.index_ = nullptr;
        o.tokensMapBytes_ = o.indexMapBytes_ = 0;
    }
    return *this;
}

TextCorpus::~TextCorpus() { release(); }

void TextCorpus::release() {
    if (tokens_) ::munmap(const_cast<uint16_t*>(tokens_), tokensMapBytes_);
    if (index_) ::munmap(const_cast<unsigned char*>(index_), indexMapBytes_);
    tokens_ = nullptr;
    index_ = nullptr;
}

std::string TextCorpus::name() const { return manifest_.value("name", ""); }

std::string TextCorpus::tokenizerFingerprint() const {
    return manifest_.value("tokenizer", json::object()).value("fingerprint", "");
}

CorpusDocument TextCorpus::document(uint64_t i) const {
    cf::IndexEntry e;
    std::memcpy(&e, index_ + cf::kIndexHeaderBytes + i * cf::kIndexEntryBytes, sizeof e);
    CorpusDocument d;
    d.firstToken = e.firstToken;
    d.tokenCount = e.tokenCount;
    d.record = e.record;
    d.source = e.source;
    d.validation = (e.flags & cf::kFlagValidation) != 0;
    return d;
}

void TextCorpus::verify() const {
    const std::string tokensPath = folder_ + "/" + cf::kTokensFile;
    TokenChecksum sum;
    sum.update(tokens_, size_t(header_.tokens) * 2);
    if (sum.value() != checksum_)
        throw Error(tokensPath + ": checksum " + TokenChecksum::hex(sum.value()) + " differs from the manifest's " +
                    TokenChecksum::hex(checksum_) + " (the file was changed or damaged)");
    for (uint64_t i = 0; i < header_.documents; ++i) {
        const CorpusDocument d = document(i);
        const uint16_t* t = tokens_ + d.firstToken;
        if (t[d.tokenCount - 1] != Gpt2Tokenizer::kEndOfText)
            throw Error(tokensPath + ": document " + std::to_string(i) + " does not end with <|endoftext|>");
        for (uint64_t k = 0; k + 1 < d.tokenCount; ++k)
            if (t[k] == Gpt2Tokenizer::kEndOfText)
                throw Error(tokensPath + ": document " + std::to_string(i) + " holds <|endoftext|> at token " +
                            std::to_string(k) + " before its end");
    }
}

} // namespace swarm
