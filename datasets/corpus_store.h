#pragma once
// The text corpora of a project: one row each in the "corpora" migration line of the project
// file (the tokens themselves stay in the corpus folder, datasets/text_corpus.h). A CorpusStore
// is a view over an open ProjectStore, which must outlive it.
#include "core/project_store.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm {

// Registers the "corpora" migrations; idempotent. Call before opening projects.
void registerCorpusSchema();

struct CorpusInfo {
    int64_t id = 0;
    std::string name;
    std::string folder;                // relative to the project file's folder, e.g. "p.swarm.corpora/web"
    std::string createdAt;
    nlohmann::json inputs = nlohmann::json::array();   // the paths given to the import
    std::string textField;             // for JSONL/JSON/Parquet sources
    int64_t sources = 0, documents = 0, tokens = 0;
    int64_t trainDocuments = 0, trainTokens = 0, validationDocuments = 0, validationTokens = 0;
    int64_t skippedFiles = 0, skippedRecords = 0;
    std::string checksum;              // of tokens.bin, as in the manifest
    std::string tokenizer;             // the tokenizer's fingerprint
    double seconds = 0;                // the import's duration
};

class CorpusStore {
public:
    explicit CorpusStore(const ProjectStore& project) : db_(project.handle()), path_(project.path()) {}

    std::vector<CorpusInfo> corpora() const;                        // by id
    std::optional<CorpusInfo> find(const std::string& name) const;
    // Throws naming the project and listing its corpora when there is none of that name.
    CorpusInfo corpus(const std::string& name) const;
    // The absolute folder of a corpus row (resolved against the project file's folder).
    std::string folderOf(const CorpusInfo& info) const;

    // Inserts the row inside the caller's open transaction (the import commits it once the
    // folder is in place); throws if the name is taken.
    int64_t insert(const CorpusInfo& info);
    void remove(int64_t id);

private:
    sqlite3* db_;
    std::string path_;
};

} // namespace swarm
