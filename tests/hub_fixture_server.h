#pragma once
// A local stand-in for the Hugging Face Hub on 127.0.0.1 (cpp-httplib), speaking the parts of
// its HTTP API that huggingface_hub (and core/hf_hub, core/hf_upload) use, with the Hub's headers:
//   GET  /api/{models|datasets}/{org}/{name}/revision/{rev}    {"sha", "siblings": [...]}
//   HEAD/GET /[datasets/]{org}/{name}/resolve/{rev}/{path}
//        small files: 307 to /resolve-cache/... (relative), then 200 with ETag "<git sha1>"
//        LFS files:   302 to http://127.0.0.1:PORT/cdn/<sha256> (absolute) with X-Linked-Etag,
//                     X-Linked-Size; the CDN answers Range requests with 206
//   X-Repo-Commit on both; X-Error-Code RepoNotFound / GatedRepo / EntryNotFound /
//   RevisionNotFound with 401/403/404 as the Hub sends them
//   POST /api/repos/create, /api/models/{id}/preupload/{rev}, /{id}.git/info/lfs/objects/batch
//        (basic and multipart uploads, verify), /api/models/{id}/commit/{rev} (NDJSON)
// Faults for the tests: cut a CDN download after N bytes (once), serve corrupt bytes, count
// requests. Test-only; bounded: it serves until the object is destroyed.
#include "core/digest.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace swarm::test {

struct HubFile {
    std::string path;
    std::string content;
    bool lfs = false;
};

struct HubRepo {
    std::string type = "models";                    // "models" or "datasets"
    std::string id;                                 // "org/name"
    std::map<std::string, std::string> refs;        // revision -> commit
    std::map<std::string, std::vector<HubFile>> trees;   // commit -> files
    bool gated = false;
};

inline std::string gitBlobSha1(const std::string& content) {
    Digest d(DigestKind::GitBlobSha1, content.size());
    d.update(content.data(), content.size());
    return d.hexFinal();
}

inline std::string base64Decode(const std::string& in) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const int v = val(c);
        if (v < 0) continue;
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((acc >> bits) & 0xFF);
        }
    }
    return out;
}

class HubFixtureServer {
public:
    static constexpr const char* kToken = "hf_fixture_token";

    HubFixtureServer() {
        routes();
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // stop() only stops a running server: wait (at most 5 s) until the accept loop runs.
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ~HubFixtureServer() {
        server_.stop();
        thread_.join();
    }
    HubFixtureServer(const HubFixtureServer&) = delete;
    HubFixtureServer& operator=(const HubFixtureServer&) = delete;

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

    void addRepo(const HubRepo& r) {
        std::lock_guard<std::mutex> lock(m_);
        repos_[r.type + "/" + r.id] = r;
        for (auto& [commit, files] : r.trees)
            for (const HubFile& f : files)
                if (f.lfs) cdn_[sha256Hex(f.content)] = f.content;
    }
    // The next CDN download of this content stops after `bytes` bytes (the connection is cut).
    void cutOnce(const std::string& content, size_t bytes) {
        std::lock_guard<std::mutex> lock(m_);
        cuts_[sha256Hex(content)] = bytes;
    }
    // The CDN serves this content with its bytes flipped (its sha256 then disagrees).
    void corrupt(const std::string& content) {
        std::lock_guard<std::mutex> lock(m_);
        corrupt_.insert(sha256Hex(content));
    }
    int requests() const { return requests_.load(); }
    std::vector<std::string> rangeRequests() {
        std::lock_guard<std::mutex> lock(m_);
        return ranges_;
    }
    std::vector<std::string> paths() {
        std::lock_guard<std::mutex> lock(m_);
        return paths_;
    }
    // The files of a repo's revision (after pushes).
    std::vector<HubFile> files(const std::string& type, const std::string& id, const std::string& rev) {
        std::lock_guard<std::mutex> lock(m_);
        const HubRepo& r = repos_.at(type + "/" + id);
        return r.trees.at(r.refs.at(rev));
    }
    int lfsPartsReceived() const { return parts_.load(); }

private:
    static std::string newCommit(const std::string& seed) { return gitBlobSha1(seed).substr(0, 40); }

    bool authorised(const httplib::Request& req) const {
        return req.get_header_value("Authorization") == std::string("Bearer ") + kToken;
    }

    // The repo, or an error answer as the Hub gives it.
    HubRepo* repoFor(const std::string& type, const std::string& id, const httplib::Request& req, httplib::Response& res) {
        auto it = repos_.find(type + "/" + id);
        const bool auth = authorised(req);
        if (it == repos_.end()) {
            res.status = auth ? 404 : 401;
            res.set_header("X-Error-Code", "RepoNotFound");
            res.set_header("X-Error-Message", "Repository not found");
            return nullptr;
        }
        if (it->second.gated && !auth) {
            res.status = 401;
            res.set_header("X-Error-Code", "GatedRepo");
            res.set_header("X-Error-Message", "Access to model " + id + " is restricted. You must be authenticated to access it.");
            return nullptr;
        }
        return &it->second;
    }

    std::string commitFor(HubRepo& r, const std::string& rev) {
        if (r.trees.count(rev)) return rev;
        auto it = r.refs.find(rev);
        return it == r.refs.end() ? "" : it->second;
    }

    void routes() {
        server_.set_logger([this](const httplib::Request& req, const httplib::Response&) {
            ++requests_;
            std::lock_guard<std::mutex> lock(m_);
            paths_.push_back(req.method + " " + req.path);
            if (req.has_header("Range")) ranges_.push_back(req.get_header_value("Range"));
        });
        server_.Get(R"(/api/(models|datasets)/([^/]+)/([^/]+)/revision/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            HubRepo* r = repoFor(req.matches[1], req.matches[2].str() + "/" + req.matches[3].str(), req, res);
            if (!r) return;
            const std::string commit = commitFor(*r, req.matches[4]);
            if (commit.empty()) {
                res.status = 404;
                res.set_header("X-Error-Code", "RevisionNotFound");
                return;
            }
            nlohmann::json siblings = nlohmann::json::array();
            for (const HubFile& f : r->trees[commit]) {
                nlohmann::json s{{"rfilename", f.path}, {"size", f.content.size()}};
                if (f.lfs) s["lfs"] = {{"sha256", sha256Hex(f.content)}, {"size", f.content.size()}};
                siblings.push_back(s);
            }
            res.set_content(nlohmann::json{{"id", r->id}, {"sha", commit}, {"siblings", siblings}}.dump(), "application/json");
        });
        auto resolve = [this](const httplib::Request& req, httplib::Response& res, bool viaCache) {
            std::lock_guard<std::mutex> lock(m_);
            const std::string type = req.matches[1].str().empty() ? "models" : "datasets";
            HubRepo* r = repoFor(type, req.matches[2].str() + "/" + req.matches[3].str(), req, res);
            if (!r) return;
            const std::string commit = commitFor(*r, req.matches[4]);
            if (commit.empty()) {
                res.status = 404;
                res.set_header("X-Error-Code", "RevisionNotFound");
                return;
            }
            const std::string path = req.matches[5];
            const HubFile* file = nullptr;
            for (const HubFile& f : r->trees[commit])
                if (f.path == path) file = &f;
            res.set_header("X-Repo-Commit", commit);
            if (!file) {
                res.status = 404;
                res.set_header("X-Error-Code", "EntryNotFound");
                return;
            }
            if (file->lfs) {
                const std::string sha = sha256Hex(file->content);
                res.status = 302;
                res.set_header("Location", endpoint() + "/cdn/" + sha);
                res.set_header("X-Linked-Etag", "\"" + sha + "\"");
                res.set_header("X-Linked-Size", std::to_string(file->content.size()));
                res.set_header("ETag", "\"" + gitBlobSha1("pointer " + sha) + "\"");   // the pointer's, as the Hub does
                return;
            }
            if (!viaCache) {
                // The Hub sends small files through a relative redirect to its resolve cache.
                res.status = 307;
                res.set_header("Location", "/resolve-cache/" + type + "/" + r->id + "/" + commit + "/" + path);
                return;
            }
            res.set_header("ETag", "\"" + gitBlobSha1(file->content) + "\"");
            res.set_content(file->content, "application/octet-stream");
        };
        server_.Get(R"(/(datasets/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
                    [resolve](const httplib::Request& req, httplib::Response& res) { resolve(req, res, false); });
        server_.Get(R"(/resolve-cache/(datasets)?(?:models)?/([^/]+)/([^/]+)/([0-9a-f]{40})/(.+))",
                    [resolve](const httplib::Request& req, httplib::Response& res) { resolve(req, res, true); });
        server_.Get(R"(/cdn/([0-9a-f]{64}))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            const std::string sha = req.matches[1];
            auto it = cdn_.find(sha);
            if (it == cdn_.end()) {
                res.status = 404;
                return;
            }
            std::string body = it->second;
            if (corrupt_.count(sha))
                for (char& c : body) c = char(c ^ 0x5A);
            size_t cut = std::string::npos;
            if (auto c = cuts_.find(sha); c != cuts_.end()) {
                cut = c->second;
                cuts_.erase(c);
            }
            auto shared = std::make_shared<std::string>(std::move(body));
            res.set_header("ETag", "\"" + sha + "\"");
            res.set_content_provider(shared->size(), "application/octet-stream",
                                     [shared, cut](size_t offset, size_t length, httplib::DataSink& sink) {
                                         size_t n = std::min<size_t>(length, 4096);
                                         if (cut != std::string::npos) {
                                             if (offset >= cut) return false;   // cut: close the connection
                                             n = std::min(n, cut - offset);
                                         }
                                         sink.write(shared->data() + offset, n);
                                         return true;
                                     });
        });
        uploadRoutes();
    }

    void uploadRoutes() {
        server_.Post("/api/repos/create", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            if (!authorised(req)) {
                res.status = 401;
                return;
            }
            const nlohmann::json j = nlohmann::json::parse(req.body);
            const std::string type = j.value("type", "model") + "s";
            const std::string id = j.value("organization", "") + "/" + j.value("name", "");
            if (repos_.count(type + "/" + id)) {
                res.status = 409;
                res.set_content(R"({"error":"You already created this model repo"})", "application/json");
                return;
            }
            HubRepo r;
            r.type = type;
            r.id = id;
            const std::string commit = newCommit("init " + id);
            r.refs["main"] = commit;
            r.trees[commit] = {{".gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n", false}};
            repos_[type + "/" + id] = r;
            res.set_content(nlohmann::json{{"url", endpoint() + "/" + id}}.dump(), "application/json");
        });
        server_.Post(R"(/api/models/([^/]+)/([^/]+)/preupload/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            if (!repoFor("models", req.matches[1].str() + "/" + req.matches[2].str(), req, res)) return;
            const nlohmann::json j = nlohmann::json::parse(req.body);
            nlohmann::json files = nlohmann::json::array();
            for (const auto& f : j["files"]) {
                const std::string path = f["path"];
                const bool lfs = f["size"].get<uint64_t>() > 1000 || path.find(".safetensors") != std::string::npos;
                files.push_back({{"path", path}, {"uploadMode", lfs ? "lfs" : "regular"}, {"shouldIgnore", false}});
            }
            res.set_content(nlohmann::json{{"files", files}}.dump(), "application/json");
        });
        server_.Post(R"(/([^/]+)/([^/]+)\.git/info/lfs/objects/batch)", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            if (!repoFor("models", req.matches[1].str() + "/" + req.matches[2].str(), req, res)) return;
            const nlohmann::json j = nlohmann::json::parse(req.body);
            nlohmann::json objects = nlohmann::json::array();
            for (const auto& o : j["objects"]) {
                const std::string oid = o["oid"];
                const uint64_t size = o["size"];
                nlohmann::json entry{{"oid", oid}, {"size", size}};
                if (!cdn_.count(oid)) {
                    nlohmann::json upload{{"href", endpoint() + "/lfs/" + oid}};
                    if (size > 64 * 1024) {
                        // Multipart: parts of 32 KiB, each to its own URL, then a completion POST.
                        const uint64_t chunk = 32 * 1024;
                        nlohmann::json header{{"chunk_size", std::to_string(chunk)}};
                        for (uint64_t p = 1; (p - 1) * chunk < size; ++p) {
                            char key[8];
                            std::snprintf(key, sizeof key, "%05llu", (unsigned long long)p);
                            header[key] = endpoint() + "/lfs-part/" + oid + "/" + std::to_string(p);
                        }
                        upload["header"] = header;
                        upload["href"] = endpoint() + "/lfs-complete/" + oid;
                    }
                    entry["actions"] = {{"upload", upload}, {"verify", {{"href", endpoint() + "/lfs-verify"}, {"header", {{"X-Verify", "1"}}}}}};
                }
                objects.push_back(entry);
            }
            res.set_content(nlohmann::json{{"transfer", "basic"}, {"objects", objects}}.dump(), "application/vnd.git-lfs+json");
        });
        server_.Put(R"(/lfs/([0-9a-f]{64}))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            if (sha256Hex(req.body) != req.matches[1].str()) {
                res.status = 400;
                return;
            }
            cdn_[req.matches[1]] = req.body;
        });
        server_.Put(R"(/lfs-part/([0-9a-f]{64})/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            partsByOid_[req.matches[1]][std::stoi(req.matches[2])] = req.body;
            ++parts_;
            res.set_header("ETag", "\"part-" + sha256Hex(req.body).substr(0, 16) + "\"");
        });
        server_.Post(R"(/lfs-complete/([0-9a-f]{64}))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            const std::string oid = req.matches[1];
            const nlohmann::json j = nlohmann::json::parse(req.body);
            std::string whole;
            for (const auto& p : j["parts"]) {
                const std::string& part = partsByOid_[oid][p["partNumber"].get<int>()];
                if (p["etag"] != "\"part-" + sha256Hex(part).substr(0, 16) + "\"") {
                    res.status = 400;
                    return;
                }
                whole += part;
            }
            if (sha256Hex(whole) != oid) {
                res.status = 400;
                return;
            }
            cdn_[oid] = whole;
        });
        server_.Post("/lfs-verify", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            const nlohmann::json j = nlohmann::json::parse(req.body);
            if (!cdn_.count(j["oid"]) || cdn_[j["oid"]].size() != j["size"].get<size_t>() || req.get_header_value("X-Verify") != "1")
                res.status = 404;
        });
        server_.Post(R"(/api/models/([^/]+)/([^/]+)/commit/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(m_);
            HubRepo* r = repoFor("models", req.matches[1].str() + "/" + req.matches[2].str(), req, res);
            if (!r) return;
            if (req.get_header_value("Content-Type") != "application/x-ndjson") {
                res.status = 415;
                return;
            }
            const std::string rev = req.matches[3];
            std::vector<HubFile> tree = r->trees[r->refs[rev]];
            auto put = [&](HubFile f) {
                for (HubFile& old : tree)
                    if (old.path == f.path) {
                        old = f;
                        return;
                    }
                tree.push_back(f);
            };
            std::string summary;
            size_t start = 0;
            while (start < req.body.size()) {
                size_t end = req.body.find('\n', start);
                if (end == std::string::npos) end = req.body.size();
                const nlohmann::json line = nlohmann::json::parse(req.body.substr(start, end - start));
                start = end + 1;
                const std::string key = line["key"];
                const nlohmann::json& v = line["value"];
                if (key == "header") summary = v["summary"];
                else if (key == "file") put({v["path"], base64Decode(v["content"]), false});
                else if (key == "lfsFile") {
                    if (!cdn_.count(v["oid"])) {
                        res.status = 422;
                        res.set_content(R"({"error":"LFS object not uploaded"})", "application/json");
                        return;
                    }
                    put({v["path"], cdn_[v["oid"]], true});
                }
            }
            const std::string commit = newCommit(summary + std::to_string(++commits_) + r->id);
            r->trees[commit] = tree;
            r->refs[rev] = commit;
            res.set_content(nlohmann::json{{"commitOid", commit}, {"commitUrl", endpoint() + "/" + r->id + "/commit/" + commit}}.dump(),
                            "application/json");
        });
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex m_;
    std::map<std::string, HubRepo> repos_;
    std::map<std::string, std::string> cdn_;              // sha256 -> content
    std::map<std::string, size_t> cuts_;
    std::set<std::string> corrupt_;
    std::map<std::string, std::map<int, std::string>> partsByOid_;
    std::vector<std::string> ranges_, paths_;
    std::atomic<int> requests_{0}, parts_{0};
    int commits_ = 0;
};

} // namespace swarm::test
