#pragma once
// Publishing to the Hugging Face Hub: create (or reuse) a model repo and commit files to it in one
// commit, through the Hub's commit API as huggingface_hub uses it:
//   POST {endpoint}/api/repos/create {"name","organization","type"}         409: it exists, fine
//   POST {endpoint}/api/models/{id}/preupload/{rev} {"files":[{path,sample,size}]}
//        -> each file's uploadMode: "regular" (inline in the commit) or "lfs"
//   POST {endpoint}/{id}.git/info/lfs/objects/batch (git-lfs batch API, sha256 oids)
//        -> per object: no actions (already stored), a "basic" upload (one PUT), or a multipart
//           one (header chunk_size + numbered part URLs, then a completion POST); then "verify"
//   POST {endpoint}/api/models/{id}/commit/{rev}  application/x-ndjson:
//        {"key":"header","value":{"summary","description"}}
//        {"key":"file","value":{"path","content"(base64),"encoding":"base64"}}
//        {"key":"lfsFile","value":{"path","algo":"sha256","oid","size"}}
// Needs a write token (HF_TOKEN or --token); refused when offline. Errors name the repo and file.
#include "core/hf_hub.h"

#include <string>
#include <vector>

namespace swarm::hub {

struct UploadFile {
    std::string localPath;
    std::string repoPath;         // where it goes in the repo ("model.safetensors")
};

struct PushResult {
    std::string commit;           // the new commit's hash
    std::string commitUrl;
    bool createdRepo = false;
    std::vector<std::string> inlineFiles, lfsUploaded, lfsAlreadyThere;
};

PushResult pushFiles(const RepoId& repo, const std::vector<UploadFile>& files, const std::string& summary,
                     const std::string& description, const HubOptions& options);

} // namespace swarm::hub
