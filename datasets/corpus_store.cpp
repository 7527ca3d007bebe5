#include "datasets/corpus_store.h"

#include "core/error.h"
#include "core/sqlite.h"

#include <sqlite3.h>

#include <filesystem>

namespace swarm {

using nlohmann::json;

void registerCorpusSchema() {
    ProjectStore::registerMigration("corpora", 1, "text corpora for pre-training", R"SQL(
CREATE TABLE corpora (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  folder TEXT NOT NULL,
  created_at TEXT NOT NULL,
  inputs_json TEXT NOT NULL,
  text_field TEXT NOT NULL DEFAULT '',
  n_sources INTEGER NOT NULL,
  n_documents INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL,
  n_train_documents INTEGER NOT NULL,
  n_train_tokens INTEGER NOT NULL,
  n_validation_documents INTEGER NOT NULL,
  n_validation_tokens INTEGER NOT NULL,
  n_skipped_files INTEGER NOT NULL DEFAULT 0,
  n_skipped_records INTEGER NOT NULL DEFAULT 0,
  checksum TEXT NOT NULL,
  tokenizer TEXT NOT NULL,
  seconds REAL NOT NULL DEFAULT 0
);
)SQL");
}

namespace {

constexpr const char* kColumns =
    "SELECT id, name, folder, created_at, inputs_json, text_field, n_sources, n_documents, n_tokens, "
    "n_train_documents, n_train_tokens, n_validation_documents, n_validation_tokens, n_skipped_files, "
    "n_skipped_records, checksum, tokenizer, seconds FROM corpora ";

CorpusInfo readRow(const SqlStatement& q) {
    CorpusInfo c;
    c.id = q.columnInt(0);
    c.name = q.columnText(1);
    c.folder = q.columnText(2);
    c.createdAt = q.columnText(3);
    const std::string_view inputs = q.columnTextView(4);
    c.inputs = json::parse(inputs.begin(), inputs.end(), nullptr, false);
    if (c.inputs.is_discarded()) c.inputs = json::array();
    c.textField = q.columnText(5);
    c.sources = q.columnInt(6);
    c.documents = q.columnInt(7);
    c.tokens = q.columnInt(8);
    c.trainDocuments = q.columnInt(9);
    c.trainTokens = q.columnInt(10);
    c.validationDocuments = q.columnInt(11);
    c.validationTokens = q.columnInt(12);
    c.skippedFiles = q.columnInt(13);
    c.skippedRecords = q.columnInt(14);
    c.checksum = q.columnText(15);
    c.tokenizer = q.columnText(16);
    c.seconds = q.columnDouble(17);
    return c;
}

} // namespace

std::vector<CorpusInfo> CorpusStore::corpora() const {
    SqlStatement q(db_, std::string(kColumns) + "ORDER BY id");
    std::vector<CorpusInfo> out;
    while (q.step()) out.push_back(readRow(q));
    return out;
}

std::optional<CorpusInfo> CorpusStore::find(const std::string& name) const {
    SqlStatement q(db_, std::string(kColumns) + "WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::nullopt;
    return readRow(q);
}

CorpusInfo CorpusStore::corpus(const std::string& name) const {
    if (auto c = find(name)) return *c;
    std::string names;
    for (const CorpusInfo& c : corpora()) names += (names.empty() ? "" : ", ") + c.name;
    throw Error("project " + path_ + " has no corpus '" + name + "' (" +
                (names.empty() ? std::string("it has no corpora yet; see swarm corpus import") : "corpora: " + names) + ")");
}

std::string CorpusStore::folderOf(const CorpusInfo& info) const {
    const std::filesystem::path folder(info.folder);
    if (folder.is_absolute()) return folder.string();
    std::error_code ec;
    const std::filesystem::path project = std::filesystem::absolute(path_, ec);
    return (project.parent_path() / folder).lexically_normal().string();
}

int64_t CorpusStore::insert(const CorpusInfo& c) {
    if (find(c.name)) throw Error("project " + path_ + " already has a corpus named '" + c.name + "'");
    SqlStatement q(db_,
                   "INSERT INTO corpora (name, folder, created_at, inputs_json, text_field, n_sources, n_documents, "
                   "n_tokens, n_train_documents, n_train_tokens, n_validation_documents, n_validation_tokens, "
                   "n_skipped_files, n_skipped_records, checksum, tokenizer, seconds) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, c.name).bind(2, c.folder).bind(3, c.createdAt).bind(4, c.inputs.dump(-1, ' ', false, json::error_handler_t::replace));
    q.bind(5, c.textField).bind(6, c.sources).bind(7, c.documents).bind(8, c.tokens).bind(9, c.trainDocuments);
    q.bind(10, c.trainTokens).bind(11, c.validationDocuments).bind(12, c.validationTokens).bind(13, c.skippedFiles);
    q.bind(14, c.skippedRecords).bind(15, c.checksum).bind(16, c.tokenizer).bind(17, c.seconds);
    q.run();
    return sqlite3_last_insert_rowid(db_);
}

void CorpusStore::remove(int64_t id) {
    SqlStatement q(db_, "DELETE FROM corpora WHERE id = ?");
    q.bind(1, id);
    q.run();
}

} // namespace swarm
