#include "core/hf_upload.h"

#include "core/atomic_file.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/format.h"
#include "core/http_client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

using nlohmann::json;

namespace swarm::hub {

namespace {

constexpr const char* kLfsMediaType = "application/vnd.git-lfs+json";

struct LocalFile {
    UploadFile file;
    uint64_t size = 0;
    std::string sha256;
    std::string sample;           // the first 512 bytes, base64
    std::string mode;             // "regular" or "lfs"
};

std::string what(const RepoId& repo) { return std::string(repoTypeName(repo.type)) + " " + repo.id; }

std::string readRange(const std::string& path, uint64_t offset, size_t length) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    std::string out(length, '\0');
    size_t got = 0;
    while (got < length) {
        const ssize_t r = ::pread(fd, out.data() + got, length - got, off_t(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += size_t(r);
    }
    ::close(fd);
    out.resize(got);
    return out;
}

http::Response call(const RepoId& repo, const std::string& file, http::Request req, const HubOptions& o, bool withAuth) {
    if (withAuth)
        for (auto& h : authHeaders(o)) req.headers.push_back(h);
    try {
        return http::send(req);
    } catch (const http::TransportError& e) {
        throw Error(what(repo) + (file.empty() ? "" : ": " + file) + ": " + e.what() + "; nothing was committed");
    }
}

[[noreturn]] void fail(const RepoId& repo, const std::string& file, const std::string& step, const http::Response& r,
                       const HubOptions& o) {
    std::string message = r.header("x-error-message");
    if (message.empty()) {
        const json j = json::parse(r.body, nullptr, false);
        if (j.is_object() && j.contains("error") && j["error"].is_string()) message = j["error"].get<std::string>();
        if (j.is_object() && j.contains("message") && j["message"].is_string()) message = j["message"].get<std::string>();
    }
    throw Error(hubErrorMessage(repo, file, r.status, r.header("x-error-code"), message, o) + " [" + step +
                "]; nothing was committed");
}

http::Request jsonPost(const std::string& url, const json& body, const std::string& mediaType = "application/json") {
    http::Request req;
    req.method = "POST";
    req.url = url;
    req.body = body.dump();
    req.headers.push_back({"Content-Type", mediaType});
    req.headers.push_back({"Accept", mediaType});
    return req;
}

json parseJson(const RepoId& repo, const std::string& step, const http::Response& r) {
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw Error(what(repo) + ": the Hub's answer to " + step + " is not a JSON object; nothing was committed");
    return j;
}

// POST /api/repos/create; a 409 means the repo exists, which is what an update wants.
bool createRepo(const RepoId& repo, const HubOptions& o) {
    const size_t slash = repo.id.find('/');
    json body{{"name", repo.id.substr(slash + 1)}, {"organization", repo.id.substr(0, slash)}, {"type", repoTypeName(repo.type)}};
    const http::Response r = call(repo, "", jsonPost(o.endpoint + "/api/repos/create", body), o, true);
    if (r.status == 200 || r.status == 201) return true;
    if (r.status == 409) return false;
    fail(repo, "", "create repo", r, o);
}

void fetchUploadModes(const RepoId& repo, std::vector<LocalFile>& files, const HubOptions& o) {
    json list = json::array();
    for (const LocalFile& f : files) list.push_back({{"path", f.file.repoPath}, {"sample", f.sample}, {"size", f.size}});
    const http::Response r =
        call(repo, "", jsonPost(apiUrl(repo, o) + "/preupload/" + http::urlEncode(repo.revision), json{{"files", list}}), o, true);
    if (r.status != 200) fail(repo, "", "preupload", r, o);
    const json j = parseJson(repo, "preupload", r);
    std::map<std::string, std::string> modes;
    if (j.contains("files") && j["files"].is_array())
        for (const json& f : j["files"])
            if (f.is_object() && f.contains("path") && f["path"].is_string() && f.contains("uploadMode") && f["uploadMode"].is_string())
                modes[f["path"].get<std::string>()] = f["uploadMode"].get<std::string>();
    for (LocalFile& f : files) {
        auto it = modes.find(f.file.repoPath);
        if (it == modes.end() || (it->second != "lfs" && it->second != "regular"))
            throw Error(what(repo) + ": " + f.file.repoPath + ": the Hub gave no upload mode for the file; nothing was committed");
        f.mode = it->second;
    }
}

std::vector<std::pair<std::string, std::string>> actionHeaders(const json& action) {
    std::vector<std::pair<std::string, std::string>> out;
    if (action.contains("header") && action["header"].is_object())
        for (auto it = action["header"].begin(); it != action["header"].end(); ++it)
            if (it->is_string()) out.push_back({it.key(), it->get<std::string>()});
    return out;
}

void reportUpload(const RepoId& repo, const LocalFile& f, int index, int count, uint64_t done, const HubOptions& o) {
    if (!o.progress) return;
    DownloadProgress p{repo.id, f.file.repoPath, index, count, done, f.size, done == f.size};
    p.upload = true;
    o.progress(p);
}

// One PUT of the whole object, or of each part of a multipart upload followed by its completion.
void uploadLfsObject(const RepoId& repo, const LocalFile& f, const json& upload, const HubOptions& o, int index, int count) {
    if (!upload.contains("href") || !upload["href"].is_string())
        throw Error(what(repo) + ": " + f.file.repoPath + ": the LFS batch answer has no upload URL; nothing was committed");
    const std::string href = upload["href"].get<std::string>();
    const json header = upload.value("header", json::object());
    const bool toHub = http::hostOf(href) == http::hostOf(o.endpoint);
    if (header.is_object() && header.contains("chunk_size")) {
        uint64_t chunk = 0;
        if (header["chunk_size"].is_string()) chunk = std::strtoull(header["chunk_size"].get<std::string>().c_str(), nullptr, 10);
        else if (header["chunk_size"].is_number_unsigned()) chunk = header["chunk_size"].get<uint64_t>();
        std::vector<std::pair<int, std::string>> parts;   // part number -> presigned URL
        for (auto it = header.begin(); it != header.end(); ++it) {
            const std::string& key = it.key();
            if (!key.empty() && std::all_of(key.begin(), key.end(), ::isdigit) && it->is_string())
                parts.push_back({std::stoi(key), it->get<std::string>()});
        }
        std::sort(parts.begin(), parts.end());
        if (chunk == 0 || parts.empty() || (f.size + chunk - 1) / chunk != parts.size())
            throw Error(what(repo) + ": " + f.file.repoPath + ": the multipart upload plan does not fit the file (" +
                        std::to_string(parts.size()) + " parts of " + std::to_string(chunk) + " bytes for " +
                        std::to_string(f.size) + "); nothing was committed");
        json done = json::array();
        for (size_t i = 0; i < parts.size(); ++i) {
            http::Request put;
            put.method = "PUT";
            put.url = parts[i].second;
            put.bodyFile = f.file.localPath;
            put.bodyFileOffset = uint64_t(i) * chunk;
            put.bodyFileLength = std::min<uint64_t>(chunk, f.size - put.bodyFileOffset);
            const http::Response r = call(repo, f.file.repoPath, put, o, false);
            if (r.status < 200 || r.status >= 300) fail(repo, f.file.repoPath, "LFS part " + std::to_string(parts[i].first), r, o);
            const std::string etag = r.header("etag");
            if (etag.empty())
                throw Error(what(repo) + ": " + f.file.repoPath + ": part " + std::to_string(parts[i].first) +
                            " was stored without an ETag; nothing was committed");
            done.push_back({{"partNumber", parts[i].first}, {"etag", etag}});
            reportUpload(repo, f, index, count, put.bodyFileOffset + put.bodyFileLength, o);
        }
        http::Request complete = jsonPost(href, json{{"oid", f.sha256}, {"parts", done}}, kLfsMediaType);
        const http::Response r = call(repo, f.file.repoPath, complete, o, toHub);
        if (r.status < 200 || r.status >= 300) fail(repo, f.file.repoPath, "LFS multipart completion", r, o);
        return;
    }
    http::Request put;
    put.method = "PUT";
    put.url = href;
    put.bodyFile = f.file.localPath;
    put.bodyFileLength = f.size;
    put.headers = actionHeaders(upload);
    const http::Response r = call(repo, f.file.repoPath, put, o, toHub && put.headers.empty());
    if (r.status < 200 || r.status >= 300) fail(repo, f.file.repoPath, "LFS upload", r, o);
    reportUpload(repo, f, index, count, f.size, o);
}

void uploadLfsFiles(const RepoId& repo, const std::vector<LocalFile*>& lfs, PushResult& result, const HubOptions& o) {
    if (lfs.empty()) return;
    json objects = json::array();
    for (const LocalFile* f : lfs) objects.push_back({{"oid", f->sha256}, {"size", f->size}});
    const json body{{"operation", "upload"},
                    {"transfers", {"basic", "multipart"}},
                    {"objects", objects},
                    {"hash_algo", "sha256"},
                    {"ref", {{"name", repo.revision}}}};
    const http::Response r = call(repo, "", jsonPost(repoUrl(repo, o) + ".git/info/lfs/objects/batch", body, kLfsMediaType), o, true);
    if (r.status != 200) fail(repo, "", "LFS batch", r, o);
    const json j = parseJson(repo, "the LFS batch", r);
    if (!j.contains("objects") || !j["objects"].is_array())
        throw Error(what(repo) + ": the LFS batch answer lists no objects; nothing was committed");
    int index = 0;
    for (LocalFile* f : lfs) {
        ++index;
        const json* entry = nullptr;
        for (const json& e : j["objects"])
            if (e.is_object() && e.value("oid", "") == f->sha256) entry = &e;
        if (!entry) throw Error(what(repo) + ": " + f->file.repoPath + ": the LFS batch answer leaves the file out; nothing was committed");
        if (entry->contains("error") && (*entry)["error"].is_object())
            throw Error(what(repo) + ": " + f->file.repoPath + ": the LFS server refused the file (" +
                        (*entry)["error"].value("message", std::string("no reason given")) + "); nothing was committed");
        const json actions = entry->value("actions", json::object());
        if (!actions.is_object() || !actions.contains("upload")) {
            result.lfsAlreadyThere.push_back(f->file.repoPath);   // the Hub stores this content already
            continue;
        }
        uploadLfsObject(repo, *f, actions["upload"], o, index, int(lfs.size()));
        if (actions.contains("verify") && actions["verify"].is_object() && actions["verify"].contains("href")) {
            http::Request verify = jsonPost(actions["verify"]["href"].get<std::string>(), json{{"oid", f->sha256}, {"size", f->size}},
                                            kLfsMediaType);
            for (auto& h : actionHeaders(actions["verify"])) verify.headers.push_back(h);
            const bool toHub = http::hostOf(verify.url) == http::hostOf(o.endpoint);
            const http::Response v = call(repo, f->file.repoPath, verify, o, toHub);
            if (v.status < 200 || v.status >= 300) fail(repo, f->file.repoPath, "LFS verify", v, o);
        }
        result.lfsUploaded.push_back(f->file.repoPath);
    }
}

std::string commitPayload(const std::vector<LocalFile>& files, const std::string& summary, const std::string& description) {
    std::string out = json{{"key", "header"}, {"value", {{"summary", summary}, {"description", description}}}}.dump() + "\n";
    for (const LocalFile& f : files) {
        if (f.mode == "lfs") {
            out += json{{"key", "lfsFile"}, {"value", {{"path", f.file.repoPath}, {"algo", "sha256"}, {"oid", f.sha256}, {"size", f.size}}}}
                       .dump() +
                   "\n";
        } else {
            const std::string content = readRange(f.file.localPath, 0, size_t(f.size));
            if (content.size() != f.size) throw Error("cannot read " + f.file.localPath + ": it changed while being committed");
            out += json{{"key", "file"}, {"value", {{"path", f.file.repoPath}, {"content", base64Encode(content)}, {"encoding", "base64"}}}}
                       .dump() +
                   "\n";
        }
    }
    return out;
}

} // namespace

PushResult pushFiles(const RepoId& repo, const std::vector<UploadFile>& files, const std::string& summary,
                     const std::string& description, const HubOptions& o) {
    if (o.offline) throw Error(what(repo) + ": cannot push: offline mode is on (HF_HUB_OFFLINE=1 or --offline)");
    if (o.token.empty()) throw Error(what(repo) + ": pushing needs a write token: set HF_TOKEN or give --token");
    if (files.empty()) throw Error(what(repo) + ": nothing to push");
    std::vector<LocalFile> local;
    for (const UploadFile& u : files) {
        checkRepoPath(repo, u.repoPath);
        struct stat st {};
        if (::stat(u.localPath.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            throw Error(what(repo) + ": cannot push " + u.localPath + ": not a readable file");
        LocalFile f;
        f.file = u;
        f.size = uint64_t(st.st_size);
        f.sha256 = fileDigestHex(u.localPath, DigestKind::Sha256);
        f.sample = base64Encode(readRange(u.localPath, 0, 512));
        local.push_back(std::move(f));
    }
    PushResult result;
    result.createdRepo = createRepo(repo, o);
    fetchUploadModes(repo, local, o);
    std::vector<LocalFile*> lfs;
    for (LocalFile& f : local) {
        if (f.mode == "lfs") lfs.push_back(&f);
        else result.inlineFiles.push_back(f.file.repoPath);
    }
    uploadLfsFiles(repo, lfs, result, o);

    http::Request commit;
    commit.method = "POST";
    commit.url = apiUrl(repo, o) + "/commit/" + http::urlEncode(repo.revision);
    commit.body = commitPayload(local, summary, description);
    commit.headers.push_back({"Content-Type", "application/x-ndjson"});
    const http::Response r = call(repo, "", commit, o, true);
    if (r.status != 200 && r.status != 201) fail(repo, "", "commit", r, o);
    const json j = parseJson(repo, "the commit", r);
    result.commit = j.value("commitOid", std::string());
    result.commitUrl = j.value("commitUrl", std::string());
    if (!isCommitHash(result.commit))
        throw Error(what(repo) + ": the Hub accepted the commit but named no commit hash (\"commitOid\")");
    return result;
}

} // namespace swarm::hub
