#pragma once
// Repo ids and the Hugging Face cache on disk, in the layout the Python tools (huggingface_hub,
// transformers, datasets) write, so that what they downloaded is used as it is and what this
// module writes is theirs too:
//
//   <root>/models--<org>--<name>/refs/<revision>          the commit hash the revision pointed to
//   <root>/models--<org>--<name>/blobs/<etag>             file contents, named by the Hub's ETag
//                                                         (sha256 for LFS files, git blob sha1 else)
//   <root>/models--<org>--<name>/blobs/<etag>.incomplete  a download in progress (resumable)
//   <root>/models--<org>--<name>/snapshots/<commit>/<path> relative symlinks into ../../blobs/
//   <root>/.locks/models--<org>--<name>/<etag>.lock       held while a blob is downloaded
//   (datasets: datasets--<org>--<name>)
//
// <root> is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub. No network here.
#include <optional>
#include <string>
#include <vector>

namespace swarm::hub {

enum class RepoType { Model, Dataset };
const char* repoTypeName(RepoType t);          // "model", "dataset"

struct RepoId {
    RepoType type = RepoType::Model;
    std::string id;                            // "org/name"
    std::string revision = "main";             // a branch, tag, "refs/..." or a 40-hex commit
    bool revisionGiven = false;                // "@rev" was written
    std::string display() const;               // "org/name" or "org/name@rev"
};

// True for "org/name" or "org/name@rev": one slash, both parts of letters, digits and "-_.",
// not starting with "." or "-", and a name that does not end in a file extension this product
// reads (.gguf, .json, .jsonl, .csv, .tsv, .parquet, .safetensors): "data/train.jsonl" is a path.
// The caller checks first that no such local path exists.
bool looksLikeRepoId(const std::string& text);
// Throws swarm::Error naming the text when it is not a repo id.
RepoId parseRepoId(const std::string& text, RepoType type);

bool isCommitHash(const std::string& s);       // 40 lower-case hex digits

std::string defaultCacheRoot();                // from the environment, as above

// One repo's folder in a cache root.
class RepoCache {
public:
    RepoCache(std::string root, const RepoId& repo);

    const std::string& root() const { return root_; }
    const std::string& repoDir() const { return repoDir_; }   // <root>/models--org--name
    std::string folderName() const;                            // "models--org--name"

    // The commit a revision names in the cache: the revision itself when it is a commit hash
    // with a snapshot folder, else the content of refs/<revision>; nothing when unknown.
    std::optional<std::string> commitFor(const std::string& revision) const;
    std::string snapshotDir(const std::string& commit) const;
    // The file in a snapshot, when present and its target (blob) exists.
    std::optional<std::string> snapshotFile(const std::string& commit, const std::string& path) const;

    std::string blobPath(const std::string& etag) const;
    std::string incompletePath(const std::string& etag) const;
    std::string lockPath(const std::string& etag) const;

    // Writes refs/<revision> = commit atomically (no-op for a commit hash revision).
    void writeRef(const std::string& revision, const std::string& commit) const;
    // snapshots/<commit>/<path> -> ../../blobs/<etag> (relative, one "../" per folder of path),
    // created under a temporary name and renamed: readers see no link or the complete one.
    void linkSnapshotFile(const std::string& commit, const std::string& path, const std::string& etag) const;

private:
    std::string root_;
    RepoId repo_;
    std::string repoDir_;
};

// Checks a path inside a repo ("config.json", "data/train-0000.parquet"): relative, no "..",
// no empty or "." parts, no backslash. Throws swarm::Error naming the repo and the path.
void checkRepoPath(const RepoId& repo, const std::string& path);

} // namespace swarm::hub
