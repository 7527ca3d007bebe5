#include "core/hf_cache.h"

#include "core/atomic_file.h"
#include "core/error.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace swarm::hub {

namespace {

bool repoPartChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool validRepoPart(const std::string& s) {
    if (s.empty() || s.size() > 96 || s[0] == '.' || s[0] == '-') return false;
    if (s.find("..") != std::string::npos || s.find("--") != std::string::npos) return false;
    for (char c : s)
        if (!repoPartChar(c)) return false;
    return true;
}

bool endsWithDataExtension(const std::string& name) {
    std::string lower;
    for (char c : name) lower += char(std::tolower(static_cast<unsigned char>(c)));
    for (const char* ext : {".gguf", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".safetensors", ".txt"}) {
        const size_t n = std::strlen(ext);
        if (lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0) return true;
    }
    return false;
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

// Revisions are written into refs/ as paths: refuse anything that could leave the folder.
void checkRevision(const std::string& text, const std::string& rev) {
    if (rev.empty() || rev.size() > 255 || rev[0] == '/' || rev.back() == '/' || rev.find("..") != std::string::npos ||
        rev.find("//") != std::string::npos || rev.find('\\') != std::string::npos)
        throw Error("'" + text + "': '" + rev + "' is not a valid revision (a branch, tag or commit)");
    for (char c : rev)
        if (static_cast<unsigned char>(c) < 0x21 || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' || c == '[')
            throw Error("'" + text + "': '" + rev + "' is not a valid revision (a branch, tag or commit)");
}

} // namespace

const char* repoTypeName(RepoType t) { return t == RepoType::Model ? "model" : "dataset"; }

std::string RepoId::display() const { return revisionGiven ? id + "@" + revision : id; }

bool looksLikeRepoId(const std::string& text) {
    const size_t at = text.find('@');
    const std::string id = text.substr(0, at);
    const size_t slash = id.find('/');
    if (slash == std::string::npos || id.find('/', slash + 1) != std::string::npos) return false;
    const std::string org = id.substr(0, slash), name = id.substr(slash + 1);
    if (!validRepoPart(org) || !validRepoPart(name) || endsWithDataExtension(name)) return false;
    return at == std::string::npos || at + 1 < text.size();
}

RepoId parseRepoId(const std::string& text, RepoType type) {
    if (!looksLikeRepoId(text))
        throw Error("'" + text + "' is not a Hugging Face repo id (expected org/name or org/name@revision)");
    RepoId r;
    r.type = type;
    const size_t at = text.find('@');
    r.id = text.substr(0, at);
    if (at != std::string::npos) {
        r.revision = text.substr(at + 1);
        r.revisionGiven = true;
        checkRevision(text, r.revision);
    }
    return r;
}

bool isCommitHash(const std::string& s) {
    if (s.size() != 40) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string defaultCacheRoot() {
    if (const std::string v = env("HF_HUB_CACHE"); !v.empty()) return v;
    if (const std::string v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;   // the older name
    if (const std::string v = env("HF_HOME"); !v.empty()) return (fs::path(v) / "hub").string();
    if (const std::string v = env("XDG_CACHE_HOME"); !v.empty()) return (fs::path(v) / "huggingface" / "hub").string();
    const std::string home = env("HOME");
    if (home.empty()) throw Error("no Hugging Face cache folder: set HF_HUB_CACHE or HF_HOME (HOME is not set)");
    return (fs::path(home) / ".cache" / "huggingface" / "hub").string();
}

void checkRepoPath(const RepoId& repo, const std::string& path) {
    bool ok = !path.empty() && path[0] != '/' && path.find('\\') == std::string::npos && path.find('\0') == std::string::npos;
    size_t start = 0;
    while (ok && start <= path.size()) {
        const size_t end = path.find('/', start);
        const std::string part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (part.empty() || part == "." || part == "..") ok = false;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    if (!ok) throw Error(repo.id + ": the Hub listed a file with an unusable path '" + path + "'");
}

RepoCache::RepoCache(std::string root, const RepoId& repo) : root_(std::move(root)), repo_(repo) {
    repoDir_ = (fs::path(root_) / folderName()).string();
}

std::string RepoCache::folderName() const {
    std::string name = repo_.type == RepoType::Model ? "models--" : "datasets--";
    for (char c : repo_.id) {
        if (c == '/') name += "--";
        else name += c;
    }
    return name;
}

std::optional<std::string> RepoCache::commitFor(const std::string& revision) const {
    std::error_code ec;
    if (isCommitHash(revision)) {
        if (fs::is_directory(snapshotDir(revision), ec)) return revision;
        return std::nullopt;
    }
    const fs::path ref = fs::path(repoDir_) / "refs" / revision;
    if (!fs::is_regular_file(ref, ec)) return std::nullopt;
    std::string commit;
    try {
        commit = readTextFile(ref.string(), 4096);
    } catch (const Error&) {
        return std::nullopt;
    }
    while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r' || commit.back() == ' ')) commit.pop_back();
    if (!isCommitHash(commit)) return std::nullopt;
    return commit;
}

std::string RepoCache::snapshotDir(const std::string& commit) const {
    return (fs::path(repoDir_) / "snapshots" / commit).string();
}

std::optional<std::string> RepoCache::snapshotFile(const std::string& commit, const std::string& path) const {
    const fs::path p = fs::path(snapshotDir(commit)) / path;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) return std::nullopt;   // follows the symlink: a dangling one is absent
    return p.string();
}

std::string RepoCache::blobPath(const std::string& etag) const { return (fs::path(repoDir_) / "blobs" / etag).string(); }
std::string RepoCache::incompletePath(const std::string& etag) const { return blobPath(etag) + ".incomplete"; }
std::string RepoCache::lockPath(const std::string& etag) const {
    return (fs::path(root_) / ".locks" / folderName() / (etag + ".lock")).string();
}

void RepoCache::writeRef(const std::string& revision, const std::string& commit) const {
    if (isCommitHash(revision)) return;
    const fs::path ref = fs::path(repoDir_) / "refs" / revision;
    std::error_code ec;
    fs::create_directories(ref.parent_path(), ec);
    if (ec) throw Error("cannot create " + ref.parent_path().string() + ": " + ec.message());
    // The Python tools write the bare hash, without a newline.
    writeFileAtomically(ref.string(), commit);
}

void RepoCache::linkSnapshotFile(const std::string& commit, const std::string& path, const std::string& etag) const {
    const fs::path link = fs::path(snapshotDir(commit)) / path;
    std::error_code ec;
    fs::create_directories(link.parent_path(), ec);
    if (ec) throw Error("cannot create " + link.parent_path().string() + ": " + ec.message());
    std::string target = "../../";
    for (char c : path)
        if (c == '/') target += "../";
    target += "blobs/" + etag;
    const std::string temp = link.string() + ".tmp-link-" + std::to_string(::getpid());
    ::unlink(temp.c_str());
    if (::symlink(target.c_str(), temp.c_str()) != 0)
        throw Error("cannot create the link " + link.string() + ": " + std::strerror(errno));
    if (::rename(temp.c_str(), link.c_str()) != 0) {
        const int e = errno;
        ::unlink(temp.c_str());
        throw Error("cannot create the link " + link.string() + ": " + std::strerror(e));
    }
}

} // namespace swarm::hub
