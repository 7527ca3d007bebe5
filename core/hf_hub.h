#pragma once
// The Hugging Face Hub: repos by id, through the standard cache (core/hf_cache.h) first and the
// Hub's HTTP API only for what the cache lacks, as huggingface_hub does it:
//   GET  {endpoint}/api/{models|datasets}/{id}/revision/{rev}?blobs=true   commit and file list
//   HEAD {endpoint}/[datasets/]{id}/resolve/{commit}/{path}                ETag / X-Linked-Etag,
//        X-Linked-Size, X-Repo-Commit; redirects to the same host followed, others (the CDN) not
//   GET  the same (or the CDN location), with Range: bytes=N- to resume blobs/<etag>.incomplete
// Each blob is checked against the ETag (sha256 for LFS files, git blob sha1 else) and the size
// before it is renamed into blobs/ and linked from snapshots/: the cache never holds a partial or
// corrupt file under a final name. A cut connection keeps the .incomplete file to resume from;
// a checksum mismatch or a full disk removes it.
//
// The network is used only when a repo id names something the cache lacks, and never when offline
// ($HF_HUB_OFFLINE=1 or HubOptions::offline). $HF_ENDPOINT picks the server (mirrors, the tests'
// local server); $HF_TOKEN (or HubOptions::token) is sent as a Bearer token for gated and private
// repos. Every failure is one swarm::Error line naming the repo, the file and the cause.
#include "core/error.h"
#include "core/hf_cache.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace swarm::hub {

// An HTTP error answer from the Hub (the message is hubErrorMessage's line).
class HubHttpError : public Error {
public:
    HubHttpError(const std::string& message, long status, std::string code)
        : Error(message), status(status), errorCode(std::move(code)) {}
    long status;
    std::string errorCode;        // X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo
};

struct DownloadProgress {
    std::string repo;             // "org/name"
    std::string file;             // the path in the repo
    int fileIndex = 0, fileCount = 0;   // 1-based
    uint64_t bytesDone = 0, bytesTotal = 0;   // of this file (with what a resume started from)
    bool finished = false;        // the file is complete and checked
    bool upload = false;          // an upload (swarm export --push), not a download
};

struct HubOptions {
    std::string endpoint;         // no trailing slash; "https://huggingface.co" by default
    std::string token;
    bool offline = false;
    std::string cacheRoot;
    std::function<void(const DownloadProgress&)> progress;
    const std::atomic<bool>* cancel = nullptr;
};

// From the environment: HF_ENDPOINT, HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), HF_HUB_OFFLINE
// (1/true/yes/on), the cache root (defaultCacheRoot), then what setProcessHubOverrides set
// (command-line --token / --offline), with the process progress reporter.
HubOptions hubOptionsFromEnvironment();

// Command-line overrides for the whole process (the CLI's --token and --offline); empty token:
// keep the environment's.
void setProcessHubOverrides(const std::string& token, bool offline);
// The progress reporter hubOptionsFromEnvironment hands out (the CLI's bar, the GUI's job).
// Default: a bar on stderr when it is a terminal, a line per file otherwise.
void setProcessProgressReporter(std::function<void(const DownloadProgress&)> reporter);
// The default reporter (what an unset process reporter means).
void stderrProgress(const DownloadProgress& p);

struct RepoFile {
    std::string path;
    uint64_t size = 0;            // 0 when the listing had no sizes
    std::string lfsSha256;        // LFS files
};

struct RepoRevision {
    std::string commit;
    std::vector<RepoFile> files;
};

// The commit a revision points to on the Hub and the files there. Not cached, needs the network.
RepoRevision fetchRevision(const RepoId& repo, const HubOptions& options);

// One file of a commit in the cache: the snapshot's path, downloading it when absent.
std::string fetchFile(const RepoId& repo, const std::string& commit, const std::string& path, const HubOptions& options,
                      int fileIndex = 1, int fileCount = 1);

struct Snapshot {
    std::string dir;              // <cache>/models--org--name/snapshots/<commit>
    std::string commit;
    bool fromCache = false;       // nothing was asked of the network
    std::vector<std::string> downloaded;   // repo paths fetched now
};

// The files of a model a workbench command needs: config.json, the safetensors weights (one file
// or the shards with model.safetensors.index.json), generation_config.json and the tokenizer
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt).
bool isModelFile(const std::string& path);

// A model repo as a local Hugging Face model folder. The cache is used when its snapshot of the
// revision holds config.json and every weight file; else (not offline) the revision is resolved,
// and the model files are listed and fetched. Throws swarm::Error naming the repo.
Snapshot resolveModel(const RepoId& repo, const HubOptions& options);

// For a dataset repo or any repo: the snapshot with the chosen paths, through the cache (when the
// revision's snapshot holds them all) or the Hub.
Snapshot resolveFiles(const RepoId& repo, const std::vector<std::string>& paths, const HubOptions& options);

// The Hub's URL prefix of a repo: "{endpoint}/{id}" for models, "{endpoint}/datasets/{id}".
std::string repoUrl(const RepoId& repo, const HubOptions& options);
// "{endpoint}/api/models/{id}" or "{endpoint}/api/datasets/{id}".
std::string apiUrl(const RepoId& repo, const HubOptions& options);
// Authorization header when a token is set.
std::vector<std::pair<std::string, std::string>> authHeaders(const HubOptions& options);

// The one-line message for an HTTP error from the Hub (401/403 gated or private, 404 repo,
// revision or file not found, 5xx), naming the repo and, when given, the file.
std::string hubErrorMessage(const RepoId& repo, const std::string& file, long status, const std::string& errorCode,
                            const std::string& serverMessage, const HubOptions& options);

} // namespace swarm::hub
