#include "datasets/hub_dataset.h"

#include "core/error.h"

#include <algorithm>
#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace swarm {

namespace {

constexpr const char* kConversionRevision = "refs/convert/parquet";

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool isDataFile(const std::string& path) {
    const std::string l = lower(path);
    if (l.rfind(".", 0) == 0 || l.find("/.") != std::string::npos) return false;   // .gitattributes, .huggingface/
    const std::string name = l.substr(l.rfind('/') == std::string::npos ? 0 : l.rfind('/') + 1);
    if (name == "dataset_infos.json" || name == "dataset_info.json" || name == "dataset_dict.json" || name == "state.json")
        return false;
    for (const char* ext : {".parquet", ".jsonl", ".ndjson", ".json", ".csv", ".tsv"}) {
        const std::string e = ext;
        if (l.size() > e.size() && l.compare(l.size() - e.size(), e.size(), e) == 0) return true;
    }
    return false;
}

// The words of a path: "data/train-00000-of-00001.parquet" -> data, train, 00000, of, 00001, parquet.
std::vector<std::string> words(const std::string& path) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : lower(path)) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
            cur += c;
        } else if (!cur.empty()) {
            out.push_back(cur);
            cur.clear();
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

// The split a path names, or "".
std::string splitOfPath(const std::string& path) {
    for (const std::string& w : words(path)) {
        const std::string c = canonicalSplit(w);
        if (c == "train" || c == "validation" || c == "test") return c;
    }
    return "";
}

std::string what(const hub::RepoId& repo) { return "dataset " + repo.display(); }

std::vector<std::string> snapshotListing(const hub::RepoCache& cache, const std::string& commit) {
    std::vector<std::string> out;
    const fs::path dir = cache.snapshotDir(commit);
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code e2;
        if (fs::is_regular_file(it->path(), e2)) out.push_back(it->path().lexically_relative(dir).generic_string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string joinList(const std::vector<std::string>& v, size_t max = 6) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > max) s += ", ... (" + std::to_string(v.size()) + " in all)";
    return s;
}

HubDatasetFile fetchOne(const hub::RepoId& repo, const std::string& path, const hub::HubOptions& o, bool conversion) {
    const hub::Snapshot s = hub::resolveFiles(repo, {path}, o);
    HubDatasetFile f;
    f.localPath = (fs::path(s.dir) / path).string();
    f.repoPath = path;
    f.commit = s.commit;
    f.parquetConversion = conversion;
    f.fromCache = s.fromCache;
    f.repoId = repo.id;
    return f;
}

[[noreturn]] void throwManyFiles(const hub::RepoId& repo, const std::string& split, const std::vector<std::string>& files) {
    throw Error(what(repo) + ": split '" + split + "' is spread over " + std::to_string(files.size()) + " files (" + joinList(files) +
                "); import one at a time with --file");
}

// The Hub's Parquet conversion, for repos whose own files give nothing for the split.
HubDatasetFile fromConversion(const hub::RepoId& repo, const HubDatasetRequest& req, const hub::HubOptions& o,
                              const std::string& reason) {
    hub::RepoId conv = repo;
    conv.revision = kConversionRevision;
    conv.revisionGiven = true;
    const hub::RepoCache cache(o.cacheRoot, conv);
    std::vector<std::string> files;
    if (auto commit = cache.commitFor(conv.revision)) files = snapshotListing(cache, *commit);
    const std::string split = canonicalSplit(req.split);
    auto pick = [&](const std::vector<std::string>& listing, std::string& config) {
        std::set<std::string> configs;
        for (const std::string& f : listing)
            if (f.find('/') != std::string::npos && lower(f).size() > 8 && lower(f).compare(f.size() - 8, 8, ".parquet") == 0)
                configs.insert(f.substr(0, f.find('/')));
        config = req.config;
        if (config.empty()) {
            if (configs.count("default")) config = "default";
            else if (configs.size() == 1) config = *configs.begin();
            else if (configs.size() > 1)
                throw Error(what(repo) + ": the Hub's Parquet conversion has several configs (" +
                            joinList(std::vector<std::string>(configs.begin(), configs.end())) + "): give --config");
        }
        std::vector<std::string> out;
        for (const std::string& f : listing) {
            const std::string prefix = config + "/";
            if (f.rfind(prefix, 0) != 0) continue;
            const std::string rest = f.substr(prefix.size());
            const size_t slash = rest.find('/');
            if (slash == std::string::npos) continue;
            const std::string dirSplit = rest.substr(0, slash);
            if (canonicalSplit(dirSplit) == split || dirSplit == "partial-" + split) out.push_back(f);
        }
        return out;
    };
    std::string config;
    std::vector<std::string> chosen = pick(files, config);
    if (chosen.empty()) {
        if (o.offline)
            throw Error(what(repo) + ": " + reason + ", and the Hub's Parquet conversion is not in the cache (" + cache.repoDir() +
                        ") while offline mode is on (HF_HUB_OFFLINE=1 or --offline)");
        hub::RepoRevision rev;
        try {
            rev = hub::fetchRevision(conv, o);
        } catch (const hub::HubHttpError& e) {
            if (e.status != 404) throw;
            throw Error(what(repo) + ": " + reason + ", and the Hub has no Parquet conversion of it");
        }
        files.clear();
        for (const hub::RepoFile& f : rev.files) files.push_back(f.path);
        chosen = pick(files, config);
        if (chosen.empty())
            throw Error(what(repo) + ": " + reason + ", and the Hub's Parquet conversion has no split '" + req.split + "'" +
                        (config.empty() ? "" : " in config '" + config + "'"));
        conv.revision = rev.commit;   // pin the listing's commit for the download
    }
    if (chosen.size() > 1) throwManyFiles(repo, req.split, chosen);
    HubDatasetFile f = fetchOne(conv, chosen[0], o, true);
    hub::RepoCache(o.cacheRoot, conv).writeRef(kConversionRevision, f.commit);
    return f;
}

} // namespace

std::string canonicalSplit(const std::string& split) {
    const std::string s = lower(split);
    if (s == "valid" || s == "val" || s == "dev" || s == "validation" || s == "validate") return "validation";
    if (s == "training" || s == "train") return "train";
    if (s == "testing" || s == "test") return "test";
    return s;
}

std::string HubDatasetFile::source() const { return "hf://datasets/" + repoId + "@" + commit + "/" + repoPath; }

std::vector<std::string> splitFiles(const std::vector<std::string>& files, const std::string& config, const std::string& split) {
    std::vector<std::string> data;
    for (const std::string& f : files) {
        if (!isDataFile(f)) continue;
        if (!config.empty() && config != "default" && f.rfind(config + "/", 0) != 0) continue;
        data.push_back(f);
    }
    const std::string want = canonicalSplit(split);
    bool anyNamed = false;
    for (const std::string& f : data) anyNamed = anyNamed || !splitOfPath(f).empty();
    std::vector<std::string> out;
    for (const std::string& f : data) {
        if (anyNamed ? splitOfPath(f) == want : want == "train") out.push_back(f);
    }
    std::sort(out.begin(), out.end());
    return out;
}

HubDatasetFile resolveHubDataset(const HubDatasetRequest& req, const hub::HubOptions& o) {
    const hub::RepoId repo = hub::parseRepoId(req.repo, hub::RepoType::Dataset);
    if (!req.file.empty()) {
        hub::checkRepoPath(repo, req.file);
        return fetchOne(repo, req.file, o, false);
    }
    // The cache's snapshot first: its listing is what the Python tools downloaded.
    const hub::RepoCache cache(o.cacheRoot, repo);
    if (auto commit = cache.commitFor(repo.revision)) {
        const std::vector<std::string> chosen = splitFiles(snapshotListing(cache, *commit), req.config, req.split);
        if (chosen.size() == 1) return fetchOne(repo, chosen[0], o, false);
        if (chosen.size() > 1) throwManyFiles(repo, req.split, chosen);
    }
    if (o.offline) {
        // The conversion may be cached even when the repo's own files are not.
        return fromConversion(repo, req, o, "the repo's files are not in the Hugging Face cache");
    }
    const hub::RepoRevision rev = hub::fetchRevision(repo, o);
    std::vector<std::string> listing;
    for (const hub::RepoFile& f : rev.files) listing.push_back(f.path);
    const std::vector<std::string> chosen = splitFiles(listing, req.config, req.split);
    if (chosen.size() > 1) throwManyFiles(repo, req.split, chosen);
    if (chosen.size() == 1) {
        hub::RepoId pinned = repo;
        pinned.revision = rev.commit;
        HubDatasetFile f = fetchOne(pinned, chosen[0], o, false);
        cache.writeRef(repo.revision, rev.commit);
        return f;
    }
    return fromConversion(repo, req, o,
                          "no data file of the repo is for split '" + req.split + "'" + (req.config.empty() ? "" : " of config '" + req.config + "'"));
}

} // namespace swarm
