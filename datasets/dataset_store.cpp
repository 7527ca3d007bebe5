#include "datasets/dataset_store.h"

#include "core/error.h"
#include "core/format.h"

#include <sqlite3.h>

#include <cstring>

using nlohmann::json;

namespace swarm {

// ---------------------------------------------------------------------------------------------
// Splits

const char* splitName(Split s) {
    switch (s) {
    case Split::Train: return "train";
    case Split::Validation: return "validation";
    case Split::Test: return "test";
    }
    return "train";
}

bool parseSplit(std::string_view text, Split& out) {
    std::string t;
    for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        t += char(std::tolower(static_cast<unsigned char>(c)));
    }
    if (t == "train" || t == "training") { out = Split::Train; return true; }
    if (t == "validation" || t == "valid" || t == "val" || t == "dev" || t == "eval") { out = Split::Validation; return true; }
    if (t == "test" || t == "testing") { out = Split::Test; return true; }
    return false;
}

// ---------------------------------------------------------------------------------------------
// Token blobs and time

std::string packTokenIds(const std::vector<int32_t>& ids) {
    std::string out(ids.size() * 4, '\0');
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!ids.empty()) std::memcpy(out.data(), ids.data(), out.size());
#else
    for (size_t i = 0; i < ids.size(); ++i) {
        const uint32_t v = uint32_t(ids[i]);
        for (int b = 0; b < 4; ++b) out[i * 4 + size_t(b)] = char((v >> (8 * b)) & 0xff);
    }
#endif
    return out;
}

std::vector<int32_t> unpackTokenIds(std::string_view blob) {
    if (blob.size() % 4 != 0)
        throw Error("token id blob has " + std::to_string(blob.size()) + " bytes, not a multiple of 4");
    std::vector<int32_t> ids(blob.size() / 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!ids.empty()) std::memcpy(ids.data(), blob.data(), blob.size());
#else
    for (size_t i = 0; i < ids.size(); ++i) {
        uint32_t v = 0;
        for (int b = 0; b < 4; ++b) v |= uint32_t(static_cast<unsigned char>(blob[i * 4 + size_t(b)])) << (8 * b);
        ids[i] = int32_t(v);
    }
#endif
    return ids;
}

// ---------------------------------------------------------------------------------------------
// Datasets

namespace {

const char* kDatasetColumns =
    "SELECT id, name, source_path, source_format, preset, mapping_json, max_len, overlong, split_json, seed, "
    "created_at, rows_read, rows_imported, rows_rejected, n_train, n_validation, n_test, n_truncated, n_tokens "
    "FROM datasets ";

json parseStoredJson(std::string_view text, const std::string& what) {
    try {
        return text.empty() ? json() : json::parse(text);
    } catch (const json::exception& e) {
        throw Error(what + " holds malformed JSON: " + e.what());
    }
}

} // namespace

DatasetInfo DatasetStore::readDataset(const SqlStatement& st) const {
    DatasetInfo d;
    d.id = st.columnInt(0);
    d.name = st.columnText(1);
    d.sourcePath = st.columnText(2);
    d.sourceFormat = st.columnText(3);
    d.preset = st.isNull(4) ? std::string() : st.columnText(4);
    d.mapping = parseStoredJson(st.columnTextView(5), path_ + ": dataset '" + d.name + "' mapping");
    d.maxLen = int32_t(st.columnInt(6));
    d.overlong = st.columnText(7);
    d.split = parseStoredJson(st.columnTextView(8), path_ + ": dataset '" + d.name + "' split");
    d.seed = uint64_t(st.columnInt(9));
    d.createdAt = st.columnText(10);
    d.rowsRead = st.columnInt(11);
    d.rowsImported = st.columnInt(12);
    d.rowsRejected = st.columnInt(13);
    d.nTrain = st.columnInt(14);
    d.nValidation = st.columnInt(15);
    d.nTest = st.columnInt(16);
    d.nTruncated = st.columnInt(17);
    d.nTokens = st.columnInt(18);
    return d;
}

std::vector<DatasetInfo> DatasetStore::datasets() const {
    SqlStatement q(db_, std::string(kDatasetColumns) + "ORDER BY id");
    std::vector<DatasetInfo> out;
    while (q.step()) out.push_back(readDataset(q));
    return out;
}

std::optional<DatasetInfo> DatasetStore::findDataset(const std::string& name) const {
    SqlStatement q(db_, std::string(kDatasetColumns) + "WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::nullopt;
    return readDataset(q);
}

std::optional<DatasetInfo> DatasetStore::findDataset(int64_t id) const {
    SqlStatement q(db_, std::string(kDatasetColumns) + "WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return readDataset(q);
}

DatasetInfo DatasetStore::dataset(const std::string& nameOrId) const {
    if (auto d = findDataset(nameOrId)) return *d;
    if (!nameOrId.empty() && nameOrId.size() < 19 &&
        std::all_of(nameOrId.begin(), nameOrId.end(), [](char c) { return c >= '0' && c <= '9'; }))
        if (auto d = findDataset(int64_t(std::stoll(nameOrId)))) return *d;
    std::string names;
    for (const DatasetInfo& d : datasets()) names += (names.empty() ? "" : ", ") + d.name;
    throw Error("project " + path_ + " has no dataset '" + nameOrId + "' (" +
                (names.empty() ? std::string("it has no datasets yet") : "datasets: " + names) + ")");
}

void DatasetStore::deleteDataset(int64_t datasetId) {
    SqlTransaction tx(db_);
    SqlStatement q(db_, "DELETE FROM datasets WHERE id = ?");
    q.bind(1, datasetId);
    q.run();
    if (sqlite3_changes(db_) == 0) throw Error("project " + path_ + " has no dataset with id " + std::to_string(datasetId));
    tx.commit();
}

DatasetWriter DatasetStore::beginDataset(const NewDataset& info) {
    if (info.name.empty()) throw Error("a dataset needs a name");
    SqlTransaction tx(db_);
    if (findDataset(info.name))
        throw Error("project " + path_ + " already has a dataset named '" + info.name +
                    "' (choose another name or delete it first)");
    SqlStatement ins(db_, "INSERT INTO datasets (name, source_path, source_format, preset, mapping_json, max_len, "
                          "overlong, split_json, seed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, info.name).bind(2, info.sourcePath).bind(3, info.sourceFormat);
    if (info.preset.empty()) ins.bindNull(4);
    else ins.bind(4, info.preset);
    ins.bind(5, info.mapping.dump()).bind(6, int64_t(info.maxLen)).bind(7, info.overlong);
    ins.bind(8, info.split.dump()).bind(9, int64_t(info.seed)).bind(10, utcTimestamp());
    ins.run();
    const int64_t id = sqlite3_last_insert_rowid(db_);
    return DatasetWriter(db_, id, std::move(tx));
}

json DatasetStore::validationReport(int64_t datasetId) const {
    SqlStatement q(db_, "SELECT report_json FROM validation_reports WHERE dataset_id = ?");
    q.bind(1, datasetId);
    if (!q.step()) return json();
    return parseStoredJson(q.columnTextView(0), path_ + ": the validation report of dataset " + std::to_string(datasetId));
}

std::vector<RejectedRow> DatasetStore::rejectedRows(int64_t datasetId, int64_t limit, int64_t offset) const {
    SqlStatement q(db_, "SELECT record_number, line, reason, detail FROM rejected_rows WHERE dataset_id = ? "
                        "ORDER BY record_number, id LIMIT ? OFFSET ?");
    q.bind(1, datasetId).bind(2, limit).bind(3, offset);
    std::vector<RejectedRow> out;
    while (q.step()) out.push_back(RejectedRow{q.columnInt(0), q.columnInt(1), q.columnText(2), q.columnText(3)});
    return out;
}

// ---------------------------------------------------------------------------------------------
// Examples

int64_t DatasetStore::exampleCount(int64_t datasetId, std::optional<Split> split) const {
    SqlStatement q(db_, split ? "SELECT count(*) FROM examples WHERE dataset_id = ? AND split = ?"
                              : "SELECT count(*) FROM examples WHERE dataset_id = ?");
    q.bind(1, datasetId);
    if (split) q.bind(2, splitName(*split));
    return q.step() ? q.columnInt(0) : 0;
}

std::vector<TrainingExample> DatasetStore::trainingExamples(int64_t datasetId, Split split) const {
    SqlStatement q(db_, "SELECT id, ids, prompt_len FROM examples WHERE dataset_id = ? AND split = ? ORDER BY id");
    q.bind(1, datasetId).bind(2, splitName(split));
    std::vector<TrainingExample> out;
    while (q.step()) {
        TrainingExample ex;
        ex.exampleId = q.columnInt(0);
        ex.ids = unpackTokenIds(q.columnBlob(1));
        ex.promptLen = int32_t(q.columnInt(2));
        out.push_back(std::move(ex));
    }
    return out;
}

namespace {

const char* kExampleColumns = "SELECT id, dataset_id, record_number, split, prompt, response, ids, prompt_len, "
                              "truncated_tokens, content_hash FROM examples ";

StoredExample readExample(const SqlStatement& q) {
    StoredExample e;
    e.id = q.columnInt(0);
    e.datasetId = q.columnInt(1);
    e.recordNumber = q.columnInt(2);
    parseSplit(q.columnTextView(3), e.split);
    e.prompt = q.columnText(4);
    e.response = q.columnText(5);
    e.ids = unpackTokenIds(q.columnBlob(6));
    e.promptLen = int32_t(q.columnInt(7));
    e.truncatedTokens = int32_t(q.columnInt(8));
    e.contentHash = uint64_t(q.columnInt(9));
    return e;
}

} // namespace

std::optional<StoredExample> DatasetStore::example(int64_t exampleId) const {
    SqlStatement q(db_, std::string(kExampleColumns) + "WHERE id = ?");
    q.bind(1, exampleId);
    if (!q.step()) return std::nullopt;
    return readExample(q);
}

std::vector<StoredExample> DatasetStore::examples(int64_t datasetId, std::optional<Split> split, int64_t offset,
                                                  int64_t limit) const {
    std::vector<StoredExample> out;
    SqlStatement q(db_, std::string(kExampleColumns) +
                            (split ? "WHERE dataset_id = ?1 AND split = ?4 ORDER BY id LIMIT ?2 OFFSET ?3"
                                   : "WHERE dataset_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"));
    q.bind(1, datasetId).bind(2, limit).bind(3, offset);
    if (split) q.bind(4, splitName(*split));
    while (q.step()) out.push_back(readExample(q));
    return out;
}

void DatasetStore::forEachExample(int64_t datasetId, std::optional<Split> split,
                                  const std::function<bool(const StoredExample&)>& fn) const {
    SqlStatement q(db_, std::string(kExampleColumns) +
                            (split ? "WHERE dataset_id = ? AND split = ? ORDER BY id" : "WHERE dataset_id = ? ORDER BY id"));
    q.bind(1, datasetId);
    if (split) q.bind(2, splitName(*split));
    while (q.step())
        if (!fn(readExample(q))) break;
}

// ---------------------------------------------------------------------------------------------
// Presets saved in the project

void DatasetStore::savePreset(const std::string& name, const json& preset) {
    if (name.empty()) throw Error("a preset needs a name");
    SqlStatement q(db_, "INSERT OR REPLACE INTO dataset_presets (name, preset_json, updated_at) VALUES (?, ?, ?)");
    q.bind(1, name).bind(2, preset.dump()).bind(3, utcTimestamp());
    q.run();
}

std::vector<std::pair<std::string, json>> DatasetStore::savedPresets() const {
    std::vector<std::pair<std::string, json>> out;
    SqlStatement q(db_, "SELECT name, preset_json FROM dataset_presets ORDER BY name");
    while (q.step()) out.emplace_back(q.columnText(0), parseStoredJson(q.columnTextView(1), path_ + ": preset"));
    return out;
}

void DatasetStore::deletePreset(const std::string& name) {
    SqlStatement q(db_, "DELETE FROM dataset_presets WHERE name = ?");
    q.bind(1, name);
    q.run();
    if (sqlite3_changes(db_) == 0) throw Error("project " + path_ + " has no saved preset '" + name + "'");
}

// ---------------------------------------------------------------------------------------------
// DatasetWriter

DatasetWriter::DatasetWriter(sqlite3* db, int64_t datasetId, SqlTransaction&& tx)
    : db_(db),
      datasetId_(datasetId),
      tx_(std::move(tx)),
      insertExample_(db, "INSERT INTO examples (dataset_id, record_number, split, prompt, response, ids, prompt_len, "
                         "n_tokens, truncated_tokens, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      insertRejected_(db, "INSERT INTO rejected_rows (dataset_id, record_number, line, reason, detail) "
                          "VALUES (?, ?, ?, ?, ?)"),
      updateSplit_(db, "UPDATE examples SET split = ? WHERE id = ? AND dataset_id = ?") {}

DatasetWriter::DatasetWriter(DatasetWriter&& o) noexcept
    : db_(o.db_),
      datasetId_(o.datasetId_),
      tx_(std::move(o.tx_)),
      insertExample_(std::move(o.insertExample_)),
      insertRejected_(std::move(o.insertRejected_)),
      updateSplit_(std::move(o.updateSplit_)) {}

DatasetWriter::~DatasetWriter() = default;   // tx_ rolls back unless committed

int64_t DatasetWriter::addExample(int64_t recordNumber, Split split, std::string_view prompt,
                                  std::string_view response, const std::vector<int32_t>& ids, int32_t promptLen,
                                  int32_t truncatedTokens, uint64_t contentHash) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    if (promptLen < 0 || size_t(promptLen) >= ids.size())
        throw Error("DatasetWriter: record " + std::to_string(recordNumber) + " has prompt_len " +
                    std::to_string(promptLen) + " of " + std::to_string(ids.size()) + " tokens");
    const std::string blob = packTokenIds(ids);
    SqlStatement& q = insertExample_;
    q.bind(1, datasetId_).bind(2, recordNumber).bind(3, splitName(split)).bind(4, prompt).bind(5, response);
    q.bindBlob(6, blob.data(), blob.size()).bind(7, promptLen).bind(8, int64_t(ids.size()));
    q.bind(9, truncatedTokens).bind(10, int64_t(contentHash));
    q.run();
    q.reset();
    return sqlite3_last_insert_rowid(db_);
}

void DatasetWriter::addRejected(const RejectedRow& row) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    SqlStatement& q = insertRejected_;
    q.bind(1, datasetId_).bind(2, row.recordNumber).bind(3, row.line).bind(4, row.reason).bind(5, row.detail);
    q.run();
    q.reset();
}

void DatasetWriter::setSplit(int64_t exampleId, Split split) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    SqlStatement& q = updateSplit_;
    q.bind(1, splitName(split)).bind(2, exampleId).bind(3, datasetId_);
    q.run();
    q.reset();
}

void DatasetWriter::commit(const DatasetCounts& c, const json& report) {
    if (!tx_.active()) throw Error("DatasetWriter: the import transaction is finished");
    SqlStatement upd(db_, "UPDATE datasets SET rows_read = ?, rows_imported = ?, rows_rejected = ?, n_train = ?, "
                          "n_validation = ?, n_test = ?, n_truncated = ?, n_tokens = ? WHERE id = ?");
    upd.bind(1, c.rowsRead).bind(2, c.rowsImported).bind(3, c.rowsRejected).bind(4, c.nTrain);
    upd.bind(5, c.nValidation).bind(6, c.nTest).bind(7, c.nTruncated).bind(8, c.nTokens).bind(9, datasetId_);
    upd.run();
    SqlStatement rep(db_, "INSERT OR REPLACE INTO validation_reports (dataset_id, report_json) VALUES (?, ?)");
    rep.bind(1, datasetId_).bind(2, report.dump(-1, ' ', false, json::error_handler_t::replace));
    rep.run();
    tx_.commit();
}

void DatasetWriter::rollback() { tx_.rollback(); }

} // namespace swarm
