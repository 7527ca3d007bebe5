#pragma once
// A dataset repo on the Hugging Face Hub as a local file to import: `swarm dataset import
// org/name [--config C] [--split S] [--file F]` and the import dialog. Through the standard cache
// (core/hf_cache.h) first, the Hub only for what it lacks (core/hf_hub.h):
//   --file F       that file of the repo
//   else           the repo's data files (.parquet, .jsonl, .json, .csv, .tsv) for the split: files
//                  whose path names the split (train / validation, valid, val, dev / test), or, when
//                  no file names any split, all of them as "train" (the Hub's own rule); with
//                  --config, only files under the folder of that name
//   else           the Hub's Parquet conversion (revision refs/convert/parquet: <config>/<split>/
//                  NNNN.parquet), config "default" or the only one there is
// A split spread over several files is refused with their names (give --file).
#include "core/hf_hub.h"

#include <string>
#include <vector>

namespace swarm {

struct HubDatasetRequest {
    std::string repo;             // "org/name" or "org/name@revision"
    std::string config;           // empty: any (conversion: "default" or the only one)
    std::string split = "train";
    std::string file;             // a path in the repo: overrides config and split
};

struct HubDatasetFile {
    std::string localPath;        // in the cache's snapshot
    std::string repoPath;         // the file in the repo
    std::string commit;
    bool parquetConversion = false;   // from refs/convert/parquet
    bool fromCache = false;
    std::string source() const;   // "hf://datasets/org/name@<commit>/<path>" for reports
    std::string repoId;
};

HubDatasetFile resolveHubDataset(const HubDatasetRequest& request, const hub::HubOptions& options);

// The data files of `files` for a split (and config), by the rules above. Exposed for tests.
std::vector<std::string> splitFiles(const std::vector<std::string>& files, const std::string& config, const std::string& split);

// Normalised split name: "validation" for valid/val/dev, "train", "test"; other names as given.
std::string canonicalSplit(const std::string& split);

} // namespace swarm
