#include "core/hf_hub.h"

#include "core/atomic_file.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/format.h"
#include "core/http_client.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm::hub {

namespace {

constexpr const char* kDefaultEndpoint = "https://huggingface.co";

std::mutex gOverridesMutex;
std::string gTokenOverride;
bool gOfflineOverride = false;
std::function<void(const DownloadProgress&)> gReporter;

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

bool truthy(const std::string& v) {
    std::string l;
    for (char c : v) l += char(std::tolower(static_cast<unsigned char>(c)));
    return l == "1" || l == "true" || l == "yes" || l == "on";
}

std::string what(const RepoId& repo) { return std::string(repoTypeName(repo.type)) + " " + repo.display(); }

// "W/\"abc\"" -> "abc": the blob name huggingface_hub derives from an ETag.
std::string normaliseEtag(std::string etag) {
    if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    return etag;
}

bool isHex(const std::string& s, size_t n) {
    if (s.size() != n) return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

std::string lowerHex(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string schemeAndHost(const std::string& url) {
    const size_t p = url.find("://");
    if (p == std::string::npos) return "";
    const size_t end = url.find('/', p + 3);
    return url.substr(0, end);
}

// "offline" explained once, the same way everywhere.
std::string offlineHint() { return "offline mode is on (HF_HUB_OFFLINE=1 or --offline)"; }

[[noreturn]] void throwTransport(const RepoId& repo, const std::string& file, const http::TransportError& e) {
    throw Error(what(repo) + (file.empty() ? "" : ": " + file) + ": " + e.what() +
                " (files already in the Hugging Face cache are used without the network; HF_HUB_OFFLINE=1 forces it)");
}

http::Response hubRequest(const RepoId& repo, const std::string& file, http::Request req, const HubOptions& o,
                          const http::Transfer& transfer = {}) {
    for (auto& h : authHeaders(o)) req.headers.push_back(h);
    try {
        return http::send(req, transfer);
    } catch (const http::TransportError& e) {
        throwTransport(repo, file, e);
    }
}

[[noreturn]] void throwHttp(const RepoId& repo, const std::string& file, const http::Response& r, const HubOptions& o) {
    std::string message = r.header("x-error-message");
    if (message.empty() && !r.body.empty()) {
        const json j = json::parse(r.body, nullptr, false);
        if (j.is_object() && j.contains("error") && j["error"].is_string()) message = j["error"].get<std::string>();
    }
    throw HubHttpError(hubErrorMessage(repo, file, r.status, r.header("x-error-code"), message, o), r.status,
                       r.header("x-error-code"));
}

// Metadata of one file from a HEAD on its resolve URL.
struct FileMetadata {
    std::string etag;             // normalised: the blob name
    uint64_t size = 0;
    bool sizeKnown = false;
    std::string commit;
    std::string downloadUrl;      // the resolve URL, or where it redirects (the CDN)
};

FileMetadata headFile(const RepoId& repo, const std::string& commit, const std::string& path, const HubOptions& o) {
    http::Request req;
    req.method = "HEAD";
    req.url = repoUrl(repo, o) + "/resolve/" + http::urlEncode(commit) + "/" + http::urlEncode(path, true);
    req.followRedirects = false;
    // Accept-Encoding identity: the size must be the file's, not a compressed body's.
    req.headers.push_back({"Accept-Encoding", "identity"});
    http::Response r;
    for (int hop = 0;; ++hop) {
        r = hubRequest(repo, path, req, o);
        const std::string location = r.header("location");
        const bool redirect = r.status >= 300 && r.status < 400 && !location.empty();
        // Relative redirects (a renamed repo, the resolve cache) stay on the Hub: follow them.
        // An absolute one leaves for the CDN: its headers already describe the file.
        if (redirect && location[0] == '/' && hop < 5) {
            req.url = schemeAndHost(req.url) + location;
            continue;
        }
        break;
    }
    if (r.status >= 400 || r.status < 200) throwHttp(repo, path, r, o);
    FileMetadata m;
    m.etag = normaliseEtag(!r.header("x-linked-etag").empty() ? r.header("x-linked-etag") : r.header("etag"));
    const std::string size = !r.header("x-linked-size").empty() ? r.header("x-linked-size") : r.header("content-length");
    if (!size.empty()) {
        char* end = nullptr;
        m.size = std::strtoull(size.c_str(), &end, 10);
        m.sizeKnown = end && *end == '\0';
    }
    m.commit = r.header("x-repo-commit");
    m.downloadUrl = (r.status >= 300 && r.status < 400) ? r.header("location") : req.url;
    if (m.etag.empty())
        throw Error(what(repo) + ": " + path + ": the Hub (" + http::hostOf(req.url) + ") sent no ETag for the file");
    if (m.etag.find('/') != std::string::npos || m.etag.find("..") != std::string::npos || m.etag.size() > 128)
        throw Error(what(repo) + ": " + path + ": the Hub sent an unusable ETag '" + m.etag + "'");
    return m;
}

// Holds <root>/.locks/<repo>/<etag>.lock (flock), as huggingface_hub does, so that two processes
// never write the same blob at once.
class BlobLock {
public:
    explicit BlobLock(const std::string& path) {
        std::error_code ec;
        fs::create_directories(fs::path(path).parent_path(), ec);
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) throw Error("cannot create the lock file " + path + ": " + std::strerror(errno));
        while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    ~BlobLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    BlobLock(const BlobLock&) = delete;
    BlobLock& operator=(const BlobLock&) = delete;

private:
    int fd_ = -1;
};

uint64_t fileSizeOr0(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

void checkFreeSpace(const RepoId& repo, const std::string& path, const std::string& dir, uint64_t needed) {
    struct statvfs vfs {};
    if (::statvfs(dir.c_str(), &vfs) != 0) return;
    const uint64_t free = uint64_t(vfs.f_bavail) * uint64_t(vfs.f_frsize);
    if (free < needed)
        throw Error(what(repo) + ": " + path + ": not enough disk space in " + dir + " (" + formatBytes(needed) +
                    " needed, " + formatBytes(free) + " free); nothing was written");
}

// Downloads the blob into <etag>.incomplete (resuming it), checks it, renames it into blobs/.
void downloadBlob(const RepoId& repo, const RepoCache& cache, const std::string& path, const FileMetadata& m,
                  const HubOptions& o, int fileIndex, int fileCount) {
    const std::string blob = cache.blobPath(m.etag), partial = cache.incompletePath(m.etag);
    std::error_code ec;
    fs::create_directories(fs::path(blob).parent_path(), ec);
    if (ec) throw Error(what(repo) + ": " + path + ": cannot create " + fs::path(blob).parent_path().string() + ": " + ec.message());
    uint64_t resumeFrom = fileSizeOr0(partial);
    if (m.sizeKnown && resumeFrom > m.size) {
        ::unlink(partial.c_str());
        resumeFrom = 0;
    }
    if (m.sizeKnown) checkFreeSpace(repo, path, fs::path(blob).parent_path().string(), m.size - resumeFrom);

    const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(what(repo) + ": " + path + ": cannot write " + partial + ": " + std::strerror(errno));
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};

    http::Request req;
    req.url = m.downloadUrl;
    req.headers.push_back({"Accept-Encoding", "identity"});
    if (resumeFrom > 0) req.headers.push_back({"Range", "bytes=" + std::to_string(resumeFrom) + "-"});
    // The token goes to the Hub only, never to the CDN a file redirects to.
    const bool toHub = http::hostOf(req.url) == http::hostOf(o.endpoint);
    if (toHub)
        for (auto& h : authHeaders(o)) req.headers.push_back(h);

    uint64_t written = resumeFrom;
    bool positioned = false;
    std::string sinkError;
    DownloadProgress p{repo.id, path, fileIndex, fileCount, resumeFrom, m.sizeKnown ? m.size : 0, false};
    std::chrono::steady_clock::time_point lastReport{};
    http::Transfer t;
    t.cancel = o.cancel;
    t.sink = [&](const http::Response& head, const char* data, size_t size) {
        if (!positioned) {
            // 206: the server honoured the Range and the bytes continue the partial file; 200:
            // it sent the whole file, which starts it again.
            positioned = true;
            if (head.status != 206) written = 0;
            if (::ftruncate(fd, off_t(written)) != 0 || ::lseek(fd, off_t(written), SEEK_SET) < 0) {
                sinkError = std::strerror(errno);
                return false;
            }
        }
        size_t done = 0;
        while (done < size) {
            const ssize_t w = ::write(fd, data + done, size - done);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                sinkError = errno == ENOSPC ? "the disk is full" : std::string(std::strerror(errno));
                return false;
            }
            done += size_t(w);
        }
        written += size;
        if (m.sizeKnown && written > m.size) {
            sinkError = "the server sent more than the " + std::to_string(m.size) + " bytes it announced";
            return false;
        }
        if (o.progress) {
            const auto now = std::chrono::steady_clock::now();
            if (now - lastReport > std::chrono::milliseconds(100)) {
                lastReport = now;
                p.bytesDone = written;
                o.progress(p);
            }
        }
        return true;
    };
    http::Response r;
    try {
        r = http::send(req, t);
    } catch (const http::TransportError& e) {
        ::fsync(fd);
        throw Error(what(repo) + ": " + path + ": the download stopped at " + formatBytes(written) +
                    (m.sizeKnown ? " of " + formatBytes(m.size) : "") + " (" + e.what() +
                    "); run the command again to resume it");
    } catch (const Error& e) {
        if (!sinkError.empty()) {
            ::unlink(partial.c_str());
            throw Error(what(repo) + ": " + path + ": cannot write " + partial + ": " + sinkError + "; nothing was kept");
        }
        if (std::string(e.what()) == "cancelled") throw Error(what(repo) + ": " + path + ": download cancelled (it resumes next time)");
        throw Error(what(repo) + ": " + path + ": " + e.what());
    }
    if (r.status == 416 && m.sizeKnown && resumeFrom == m.size) {
        written = resumeFrom;   // the partial file was already complete
    } else if (r.status < 200 || r.status >= 300) {
        throwHttp(repo, path, r, o);
    }
    if (::fsync(fd) != 0) throw Error(what(repo) + ": " + path + ": cannot write " + partial + ": " + std::strerror(errno));
    const uint64_t got = fileSizeOr0(partial);
    if (m.sizeKnown && got != m.size) {
        ::unlink(partial.c_str());
        throw Error(what(repo) + ": " + path + ": the download is truncated (" + std::to_string(got) + " of " +
                    std::to_string(m.size) + " bytes) although the server ended it normally; nothing was kept");
    }
    const std::string etag = lowerHex(m.etag);
    DigestKind kind;
    std::string label;
    bool check = true;
    if (isHex(etag, 64)) {
        kind = DigestKind::Sha256;
        label = "sha256";
    } else if (isHex(etag, 40)) {
        kind = DigestKind::GitBlobSha1;
        label = "git sha1";
    } else {
        kind = DigestKind::Sha256;
        check = false;   // an opaque ETag (some mirrors): only the size can be checked
    }
    if (check) {
        const std::string actual = fileDigestHex(partial, kind);
        if (actual != etag) {
            ::unlink(partial.c_str());
            throw Error(what(repo) + ": " + path + ": the download does not match the Hub's checksum (" + label +
                        " expected " + etag + ", got " + actual + "): the file is corrupt; nothing was kept");
        }
    }
    if (::rename(partial.c_str(), blob.c_str()) != 0)
        throw Error(what(repo) + ": " + path + ": cannot rename " + partial + ": " + std::strerror(errno));
    p.bytesDone = got;
    p.bytesTotal = got;
    p.finished = true;
    if (o.progress) o.progress(p);
}

bool fileExists(const std::string& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The weight files a model folder needs, from its files: the shards the index lists, else
// model.safetensors, else every top-level .safetensors file.
std::vector<std::string> weightFilesOf(const std::vector<std::string>& files, const std::string& indexJson) {
    std::vector<std::string> out;
    if (!indexJson.empty()) {
        const json j = json::parse(indexJson, nullptr, false);
        std::set<std::string> shards;
        if (j.is_object() && j.contains("weight_map") && j["weight_map"].is_object())
            for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it)
                if (it->is_string()) shards.insert(it->get<std::string>());
        out.assign(shards.begin(), shards.end());
        return out;
    }
    if (std::find(files.begin(), files.end(), "model.safetensors") != files.end()) return {"model.safetensors"};
    for (const std::string& f : files)
        if (f.find('/') == std::string::npos && endsWith(f, ".safetensors")) out.push_back(f);
    return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Options

void setProcessHubOverrides(const std::string& token, bool offline) {
    std::lock_guard<std::mutex> lock(gOverridesMutex);
    gTokenOverride = token;
    gOfflineOverride = offline;
}

void setProcessProgressReporter(std::function<void(const DownloadProgress&)> reporter) {
    std::lock_guard<std::mutex> lock(gOverridesMutex);
    gReporter = std::move(reporter);
}

HubOptions hubOptionsFromEnvironment() {
    HubOptions o;
    o.endpoint = env("HF_ENDPOINT");
    if (o.endpoint.empty()) o.endpoint = kDefaultEndpoint;
    while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
    o.token = env("HF_TOKEN");
    if (o.token.empty()) o.token = env("HUGGING_FACE_HUB_TOKEN");
    o.offline = truthy(env("HF_HUB_OFFLINE"));
    o.cacheRoot = defaultCacheRoot();
    std::lock_guard<std::mutex> lock(gOverridesMutex);
    if (!gTokenOverride.empty()) o.token = gTokenOverride;
    if (gOfflineOverride) o.offline = true;
    o.progress = gReporter ? gReporter : stderrProgress;
    return o;
}

void stderrProgress(const DownloadProgress& p) {
    static std::mutex m;
    std::lock_guard<std::mutex> lock(m);
    const bool tty = ::isatty(2) != 0;
    const std::string head = std::string(p.upload ? "uploading " : "downloading ") + p.repo + ": " + p.file +
                             (p.fileCount > 1 ? " (" + std::to_string(p.fileIndex) + "/" + std::to_string(p.fileCount) + ")" : "");
    if (!tty) {
        if (p.finished) std::cerr << head << ": " << formatBytes(p.bytesDone) << (p.upload ? ", sent\n" : ", checked\n");
        return;
    }
    std::string line = "\r" + head + "  ";
    if (p.bytesTotal) {
        const int pct = int(100.0 * double(p.bytesDone) / double(p.bytesTotal));
        const int filled = pct / 5;
        line += "[" + std::string(size_t(filled), '#') + std::string(size_t(20 - filled), '.') + "] " + std::to_string(pct) + "%  ";
        line += formatBytes(p.bytesDone) + " / " + formatBytes(p.bytesTotal);
    } else {
        line += formatBytes(p.bytesDone);
    }
    std::cerr << line << "   " << (p.finished ? "\n" : "") << std::flush;
}

std::vector<std::pair<std::string, std::string>> authHeaders(const HubOptions& o) {
    if (o.token.empty()) return {};
    return {{"Authorization", "Bearer " + o.token}};
}

std::string repoUrl(const RepoId& repo, const HubOptions& o) {
    return o.endpoint + (repo.type == RepoType::Dataset ? "/datasets/" : "/") + repo.id;
}

std::string apiUrl(const RepoId& repo, const HubOptions& o) {
    return o.endpoint + (repo.type == RepoType::Dataset ? "/api/datasets/" : "/api/models/") + repo.id;
}

std::string hubErrorMessage(const RepoId& repo, const std::string& file, long status, const std::string& code,
                            const std::string& serverMessage, const HubOptions& o) {
    const std::string host = http::hostOf(o.endpoint);
    const std::string subject = what(repo) + (file.empty() ? "" : ": " + file);
    const std::string said = serverMessage.empty() ? "" : " (the Hub said: " + serverMessage + ")";
    const bool noToken = o.token.empty();
    if (code == "GatedRepo" || ((status == 401 || status == 403) && serverMessage.find("gated") != std::string::npos)) {
        return subject + ": the repo is gated (" + std::to_string(status) + "): " +
               (noToken ? "accept its conditions on the Hub, then set HF_TOKEN or give --token"
                        : "the token given has no access yet; accept the repo's conditions on the Hub with that account");
    }
    if (status == 401 || status == 403) {
        if (code == "RepoNotFound" || status == 401)
            return subject + ": not found on " + host + " (" + std::to_string(status) + "): the repo does not exist, or it is private and " +
                   (noToken ? "no token was given (set HF_TOKEN or give --token)" : "the token given cannot read it") + said;
        return subject + ": access denied by " + host + " (403)" + said;
    }
    if (status == 404) {
        if (code == "RevisionNotFound") return what(repo) + ": no revision '" + repo.revision + "' on " + host + " (404)";
        if (code == "EntryNotFound" || (!file.empty() && code != "RepoNotFound"))
            return subject + ": no such file in the repo at revision '" + repo.revision + "' (404)";
        return what(repo) + ": no such " + repoTypeName(repo.type) + " repo on " + host + " (404)";
    }
    if (status == 416) return subject + ": the server refused the resumed range (416)";
    if (status >= 500) return subject + ": " + host + " failed (" + std::to_string(status) + "); try again later" + said;
    return subject + ": " + host + " answered " + std::to_string(status) + said;
}

// ---------------------------------------------------------------------------------------------
// Listing and fetching

RepoRevision fetchRevision(const RepoId& repo, const HubOptions& o) {
    if (o.offline) throw Error(what(repo) + ": not in the Hugging Face cache (" + o.cacheRoot + ") and " + offlineHint());
    http::Request req;
    req.url = apiUrl(repo, o) + "/revision/" + http::urlEncode(repo.revision) + "?blobs=true";
    const http::Response r = hubRequest(repo, "", req, o);
    if (r.status != 200) throwHttp(repo, "", r, o);
    const json j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string())
        throw Error(what(repo) + ": the Hub's answer to the revision request is not a repo description (no \"sha\")");
    RepoRevision rev;
    rev.commit = j["sha"].get<std::string>();
    if (!isCommitHash(rev.commit)) throw Error(what(repo) + ": the Hub gave an invalid commit hash '" + rev.commit + "'");
    if (j.contains("siblings") && j["siblings"].is_array()) {
        for (const json& s : j["siblings"]) {
            if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
            RepoFile f;
            f.path = s["rfilename"].get<std::string>();
            checkRepoPath(repo, f.path);
            if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"].get<uint64_t>();
            if (s.contains("lfs") && s["lfs"].is_object()) {
                const json& l = s["lfs"];
                if (l.contains("sha256") && l["sha256"].is_string()) f.lfsSha256 = l["sha256"].get<std::string>();
                if (l.contains("size") && l["size"].is_number_unsigned()) f.size = l["size"].get<uint64_t>();
            }
            rev.files.push_back(std::move(f));
        }
    }
    return rev;
}

std::string fetchFile(const RepoId& repo, const std::string& commit, const std::string& path, const HubOptions& o,
                      int fileIndex, int fileCount) {
    checkRepoPath(repo, path);
    const RepoCache cache(o.cacheRoot, repo);
    if (auto f = cache.snapshotFile(commit, path)) return *f;
    if (o.offline)
        throw Error(what(repo) + ": " + path + ": not in the Hugging Face cache (" + cache.repoDir() + ") and " + offlineHint());
    const FileMetadata m = headFile(repo, commit, path, o);
    if (!m.commit.empty() && m.commit != commit)
        throw Error(what(repo) + ": " + path + ": the Hub served commit " + m.commit + " when " + commit + " was asked for");
    {
        const BlobLock lock(cache.lockPath(m.etag));
        if (!fileExists(cache.blobPath(m.etag))) downloadBlob(repo, cache, path, m, o, fileIndex, fileCount);
    }
    cache.linkSnapshotFile(commit, path, m.etag);
    auto f = cache.snapshotFile(commit, path);
    if (!f) throw Error(what(repo) + ": " + path + ": the cache link " + cache.snapshotDir(commit) + "/" + path + " does not resolve");
    return *f;
}

bool isModelFile(const std::string& path) {
    if (path.find('/') != std::string::npos) return false;   // the model folder's top level only
    static const std::set<std::string> kNames = {"config.json",           "generation_config.json", "model.safetensors.index.json",
                                                 "tokenizer.json",        "tokenizer_config.json",  "special_tokens_map.json",
                                                 "vocab.json",            "merges.txt"};
    return kNames.count(path) > 0 || endsWith(path, ".safetensors");
}

Snapshot resolveFiles(const RepoId& repo, const std::vector<std::string>& paths, const HubOptions& o) {
    const RepoCache cache(o.cacheRoot, repo);
    Snapshot s;
    if (auto commit = cache.commitFor(repo.revision)) {
        bool all = true;
        for (const std::string& p : paths) all = all && cache.snapshotFile(*commit, p).has_value();
        if (all) {
            s.dir = cache.snapshotDir(*commit);
            s.commit = *commit;
            s.fromCache = true;
            return s;
        }
        if (o.offline) {
            for (const std::string& p : paths)
                if (!cache.snapshotFile(*commit, p))
                    throw Error(what(repo) + ": " + p + ": not in the Hugging Face cache (" + cache.repoDir() + ") and " + offlineHint());
        }
    }
    s.commit = isCommitHash(repo.revision) ? repo.revision : fetchRevision(repo, o).commit;
    for (size_t i = 0; i < paths.size(); ++i) {
        const bool had = cache.snapshotFile(s.commit, paths[i]).has_value();
        fetchFile(repo, s.commit, paths[i], o, int(i + 1), int(paths.size()));
        if (!had) s.downloaded.push_back(paths[i]);
    }
    cache.writeRef(repo.revision, s.commit);
    s.dir = cache.snapshotDir(s.commit);
    return s;
}

Snapshot resolveModel(const RepoId& repo, const HubOptions& o) {
    const RepoCache cache(o.cacheRoot, repo);
    // 1. The cache, without the network: what the Python tools (or an earlier run) downloaded.
    if (auto commit = cache.commitFor(repo.revision)) {
        const std::string dir = cache.snapshotDir(*commit);
        std::vector<std::string> present;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) present.push_back(e.path().filename().string());
        const auto index = cache.snapshotFile(*commit, "model.safetensors.index.json");
        const std::vector<std::string> weights = weightFilesOf(present, index ? readTextFile(*index, 64 << 20) : "");
        std::vector<std::string> missing;
        if (!cache.snapshotFile(*commit, "config.json")) missing.push_back("config.json");
        if (weights.empty()) missing.push_back("model.safetensors");
        for (const std::string& w : weights)
            if (!cache.snapshotFile(*commit, w)) missing.push_back(w);
        if (missing.empty()) return Snapshot{dir, *commit, true, {}};
        if (o.offline)
            throw Error(what(repo) + ": the Hugging Face cache (" + cache.repoDir() + ") lacks " + missing.front() +
                        " of commit " + *commit + " and " + offlineHint());
    } else if (o.offline) {
        throw Error(what(repo) + ": not in the Hugging Face cache (" + o.cacheRoot + ") and " + offlineHint());
    }
    // 2. The Hub: resolve the revision, list the files, fetch what a model folder needs.
    const RepoRevision rev = fetchRevision(repo, o);
    std::vector<std::string> listed;
    for (const RepoFile& f : rev.files) listed.push_back(f.path);
    if (std::find(listed.begin(), listed.end(), "config.json") == listed.end())
        throw Error(what(repo) + ": the repo has no config.json at revision '" + repo.revision + "': it is not a model folder");
    std::string indexJson;
    const bool sharded = std::find(listed.begin(), listed.end(), "model.safetensors.index.json") != listed.end();
    if (sharded) indexJson = readTextFile(fetchFile(repo, rev.commit, "model.safetensors.index.json", o), 64 << 20);
    const std::vector<std::string> weights = weightFilesOf(listed, indexJson);
    if (weights.empty()) {
        std::string others;
        for (const std::string& f : listed)
            if (endsWith(f, ".bin") || endsWith(f, ".pt") || endsWith(f, ".gguf")) others += (others.empty() ? "" : ", ") + f;
        throw Error(what(repo) + ": the repo has no .safetensors weights" +
                    (others.empty() ? std::string() : " (it has " + others + ", which the workbench does not read)"));
    }
    for (const std::string& w : weights)
        if (std::find(listed.begin(), listed.end(), w) == listed.end())
            throw Error(what(repo) + ": model.safetensors.index.json names " + w + ", which the repo does not have");
    std::vector<std::string> wanted;
    for (const std::string& f : listed)
        if (isModelFile(f) && (!endsWith(f, ".safetensors") || std::find(weights.begin(), weights.end(), f) != weights.end()))
            wanted.push_back(f);
    Snapshot s;
    s.commit = rev.commit;
    for (size_t i = 0; i < wanted.size(); ++i) {
        const bool had = cache.snapshotFile(s.commit, wanted[i]).has_value();
        fetchFile(repo, s.commit, wanted[i], o, int(i + 1), int(wanted.size()));
        if (!had) s.downloaded.push_back(wanted[i]);
    }
    cache.writeRef(repo.revision, s.commit);
    s.dir = cache.snapshotDir(s.commit);
    return s;
}

} // namespace swarm::hub
