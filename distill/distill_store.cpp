#include "distill/distill_store.h"

#include "core/error.h"
#include "core/format.h"
#include "core/sqlite.h"

#include <sqlite3.h>

namespace swarm::distill {

using nlohmann::json;

void registerDistillationSchema() {
    ProjectStore::registerMigration("distillation", 1, "distillation jobs, their prompts and answers, runs", R"SQL(
CREATE TABLE distill_jobs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  teacher_url TEXT NOT NULL,
  teacher TEXT NOT NULL,
  prompt_template TEXT NOT NULL,
  chat_format TEXT NOT NULL,
  validation TEXT NOT NULL,
  source_kind TEXT NOT NULL CHECK (source_kind IN ('file', 'dataset')),
  source TEXT NOT NULL,
  source_dataset_id INTEGER NOT NULL DEFAULT 0,
  split TEXT NOT NULL,
  seed INTEGER NOT NULL,
  price_in REAL NOT NULL DEFAULT 0,
  price_out REAL NOT NULL DEFAULT 0,
  key_source TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  dataset_id INTEGER NOT NULL DEFAULT 0,
  runner TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE distill_items (
  job_id INTEGER NOT NULL REFERENCES distill_jobs(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  record_number INTEGER NOT NULL,
  source_example_id INTEGER NOT NULL DEFAULT 0,
  split TEXT NOT NULL DEFAULT '',
  prompt TEXT NOT NULL,
  reference TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'accepted', 'rejected', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  http_status INTEGER NOT NULL DEFAULT 0,
  raw_response TEXT NOT NULL DEFAULT '',
  answer TEXT NOT NULL DEFAULT '',
  response TEXT NOT NULL DEFAULT '',
  finish_reason TEXT NOT NULL DEFAULT '',
  teacher_model TEXT NOT NULL DEFAULT '',
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  usage_reported INTEGER NOT NULL DEFAULT 0,
  cost REAL NOT NULL DEFAULT 0,
  latency_ms REAL NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '',
  answered_at TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, position)
);
CREATE INDEX distill_items_by_state ON distill_items (job_id, state, position);
CREATE TABLE distill_runs (
  id INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL REFERENCES distill_jobs(id) ON DELETE CASCADE,
  started_at TEXT NOT NULL,
  ended_at TEXT NOT NULL DEFAULT '',
  requests INTEGER NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  answers INTEGER NOT NULL DEFAULT 0,
  interrupted INTEGER NOT NULL DEFAULT 0,
  stop_reason TEXT NOT NULL DEFAULT '',
  settings TEXT NOT NULL DEFAULT '{}'
);
)SQL");
}

const char* itemStateName(ItemState s) {
    switch (s) {
    case ItemState::Pending: return "pending";
    case ItemState::Sending: return "sending";
    case ItemState::Accepted: return "accepted";
    case ItemState::Rejected: return "rejected";
    case ItemState::Failed: return "failed";
    }
    return "?";
}

bool parseItemState(const std::string& name, ItemState& out) {
    for (ItemState s : {ItemState::Pending, ItemState::Sending, ItemState::Accepted, ItemState::Rejected, ItemState::Failed})
        if (name == itemStateName(s)) {
            out = s;
            return true;
        }
    return false;
}

json ItemCounts::toJson() const {
    return json{{"total", total},       {"pending", pending},   {"sending", sending},       {"accepted", accepted},
                {"rejected", rejected}, {"failed", failed},     {"requests", requests},     {"answered", answered},
                {"prompt_tokens", promptTokens}, {"completion_tokens", completionTokens}, {"spent", spent},
                {"latency_ms", latencyMs}};
}

// ---------------------------------------------------------------------------------------------
// Jobs

namespace {

const char* kJobColumns =
    "id, name, teacher_url, teacher, prompt_template, chat_format, validation, source_kind, source, source_dataset_id, "
    "split, seed, price_in, price_out, key_source, status, message, dataset_id, created_at, updated_at";

json parseStored(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) throw Error("distillation job: the stored " + what + " is not JSON");
    return j;
}

DistillJob readJob(const SqlStatement& st) {
    DistillJob j;
    j.id = st.columnInt(0);
    j.name = st.columnText(1);
    j.teacherUrl = st.columnText(2);
    j.teacher = TeacherSettings::fromJson(parseStored(st.columnText(3), "teacher settings"));
    j.promptTemplate = st.columnText(4);
    j.chatFormat = st.columnText(5);
    j.validation = ValidationSettings::fromJson(parseStored(st.columnText(6), "validation settings"));
    j.sourceKind = st.columnText(7);
    j.source = st.columnText(8);
    j.sourceDatasetId = st.columnInt(9);
    j.split = parseStored(st.columnText(10), "split");
    j.seed = uint64_t(st.columnInt(11));
    j.priceIn = st.columnDouble(12);
    j.priceOut = st.columnDouble(13);
    j.keySource = st.columnText(14);
    j.status = st.columnText(15);
    j.message = st.columnText(16);
    j.datasetId = st.columnInt(17);
    j.createdAt = st.columnText(18);
    j.updatedAt = st.columnText(19);
    return j;
}

const char* kItemColumns =
    "job_id, position, record_number, source_example_id, split, prompt, reference, state, attempts, http_status, "
    "raw_response, answer, response, finish_reason, teacher_model, prompt_tokens, completion_tokens, usage_reported, "
    "cost, latency_ms, reason, detail, answered_at";

DistillItem readItem(const SqlStatement& st) {
    DistillItem it;
    it.jobId = st.columnInt(0);
    it.position = st.columnInt(1);
    it.recordNumber = st.columnInt(2);
    it.sourceExampleId = st.columnInt(3);
    it.split = st.columnText(4);
    it.prompt = st.columnText(5);
    it.reference = st.columnText(6);
    if (!parseItemState(st.columnText(7), it.state)) throw Error("distillation item: unknown state '" + st.columnText(7) + "'");
    it.attempts = int(st.columnInt(8));
    it.httpStatus = int(st.columnInt(9));
    it.rawResponse = st.columnText(10);
    it.answer = st.columnText(11);
    it.response = st.columnText(12);
    it.finishReason = st.columnText(13);
    it.teacherModel = st.columnText(14);
    it.promptTokens = st.columnInt(15);
    it.completionTokens = st.columnInt(16);
    it.usageReported = st.columnInt(17) != 0;
    it.cost = st.columnDouble(18);
    it.latencyMs = st.columnDouble(19);
    it.reason = st.columnText(20);
    it.detail = st.columnText(21);
    it.answeredAt = st.columnText(22);
    return it;
}

} // namespace

std::vector<DistillJob> DistillStore::jobs() const {
    SqlStatement st(db_, std::string("SELECT ") + kJobColumns + " FROM distill_jobs ORDER BY id");
    std::vector<DistillJob> out;
    while (st.step()) out.push_back(readJob(st));
    return out;
}

std::optional<DistillJob> DistillStore::find(const std::string& name) const {
    SqlStatement st(db_, std::string("SELECT ") + kJobColumns + " FROM distill_jobs WHERE name = ?");
    st.bind(1, name);
    if (!st.step()) return std::nullopt;
    return readJob(st);
}

std::optional<DistillJob> DistillStore::find(int64_t id) const {
    SqlStatement st(db_, std::string("SELECT ") + kJobColumns + " FROM distill_jobs WHERE id = ?");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return readJob(st);
}

DistillJob DistillStore::job(const std::string& name) const {
    if (auto j = find(name)) return *j;
    std::string known;
    for (const DistillJob& j : jobs()) known += (known.empty() ? "" : ", ") + j.name;
    throw Error(path_ + ": no distillation job '" + name + "'" + (known.empty() ? " (the project has none)" : " (jobs: " + known + ")"));
}

int64_t DistillStore::createJob(const DistillJob& j, const std::vector<DistillItem>& items) {
    SqlTransaction tx(db_);
    const std::string now = utcTimestamp();
    SqlStatement ins(db_,
                     "INSERT INTO distill_jobs (name, teacher_url, teacher, prompt_template, chat_format, validation, "
                     "source_kind, source, source_dataset_id, split, seed, price_in, price_out, key_source, status, message, "
                     "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, j.name).bind(2, j.teacherUrl).bind(3, j.teacher.toJson().dump()).bind(4, j.promptTemplate);
    ins.bind(5, j.chatFormat).bind(6, j.validation.toJson().dump()).bind(7, j.sourceKind).bind(8, j.source);
    ins.bind(9, j.sourceDatasetId).bind(10, j.split.dump()).bind(11, int64_t(j.seed)).bind(12, j.priceIn);
    ins.bind(13, j.priceOut).bind(14, j.keySource).bind(15, j.status.empty() ? std::string("ready") : j.status);
    ins.bind(16, j.message).bind(17, now).bind(18, now);
    ins.run();
    const int64_t id = sqlite3_last_insert_rowid(db_);
    SqlStatement item(db_,
                      "INSERT INTO distill_items (job_id, position, record_number, source_example_id, split, prompt, reference, "
                      "state, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const DistillItem& it : items) {
        item.bind(1, id).bind(2, it.position).bind(3, it.recordNumber).bind(4, it.sourceExampleId).bind(5, it.split);
        item.bind(6, it.prompt).bind(7, it.reference).bind(8, itemStateName(it.state)).bind(9, it.reason).bind(10, it.detail);
        item.run();
        item.reset();
    }
    tx.commit();
    return id;
}

void DistillStore::deleteJob(int64_t jobId) {
    SqlTransaction tx(db_);
    for (const char* sql : {"DELETE FROM distill_items WHERE job_id = ?", "DELETE FROM distill_runs WHERE job_id = ?",
                            "DELETE FROM distill_jobs WHERE id = ?"}) {
        SqlStatement st(db_, sql);
        st.bind(1, jobId);
        st.run();
    }
    tx.commit();
}

void DistillStore::setStatus(int64_t jobId, const std::string& status, const std::string& message) {
    SqlStatement st(db_, "UPDATE distill_jobs SET status = ?, message = ?, updated_at = ? WHERE id = ?");
    st.bind(1, status).bind(2, message).bind(3, utcTimestamp()).bind(4, jobId);
    st.run();
}

void DistillStore::setDataset(int64_t jobId, int64_t datasetId) {
    SqlStatement st(db_, "UPDATE distill_jobs SET dataset_id = ?, updated_at = ? WHERE id = ?");
    st.bind(1, datasetId).bind(2, utcTimestamp()).bind(3, jobId);
    st.run();
}

void DistillStore::setKeySource(int64_t jobId, const std::string& keySource) {
    SqlStatement st(db_, "UPDATE distill_jobs SET key_source = ?, updated_at = ? WHERE id = ?");
    st.bind(1, keySource).bind(2, utcTimestamp()).bind(3, jobId);
    st.run();
}

bool DistillStore::claimRunner(int64_t jobId, const std::string& me, const std::string& stale, std::string& holder) {
    SqlStatement st(db_, "UPDATE distill_jobs SET runner = ? WHERE id = ? AND (runner = '' OR runner = ? OR runner = ?)");
    st.bind(1, me).bind(2, jobId).bind(3, me).bind(4, stale.empty() ? me : stale);
    st.run();
    if (sqlite3_changes(db_) == 1) return true;
    SqlStatement read(db_, "SELECT runner FROM distill_jobs WHERE id = ?");
    read.bind(1, jobId);
    holder = read.step() ? read.columnText(0) : std::string();
    return false;
}

void DistillStore::releaseRunner(int64_t jobId, const std::string& me) {
    SqlStatement st(db_, "UPDATE distill_jobs SET runner = '' WHERE id = ? AND runner = ?");
    st.bind(1, jobId).bind(2, me);
    st.run();
}

// ---------------------------------------------------------------------------------------------
// Items

ItemCounts DistillStore::counts(int64_t jobId) const {
    ItemCounts c;
    SqlStatement st(db_,
                    "SELECT state, COUNT(*), SUM(attempts), SUM(answered_at != ''), SUM(prompt_tokens), "
                    "SUM(completion_tokens), SUM(cost), SUM(CASE WHEN answered_at != '' THEN latency_ms ELSE 0 END) "
                    "FROM distill_items WHERE job_id = ? GROUP BY state");
    st.bind(1, jobId);
    while (st.step()) {
        ItemState s;
        if (!parseItemState(st.columnText(0), s)) continue;
        const int64_t n = st.columnInt(1);
        c.total += n;
        switch (s) {
        case ItemState::Pending: c.pending = n; break;
        case ItemState::Sending: c.sending = n; break;
        case ItemState::Accepted: c.accepted = n; break;
        case ItemState::Rejected: c.rejected = n; break;
        case ItemState::Failed: c.failed = n; break;
        }
        c.requests += st.columnInt(2);
        c.answered += st.columnInt(3);
        c.promptTokens += st.columnInt(4);
        c.completionTokens += st.columnInt(5);
        c.spent += st.columnDouble(6);
        c.latencyMs += st.columnDouble(7);
    }
    return c;
}

std::map<std::pair<std::string, std::string>, int64_t> DistillStore::reasons(int64_t jobId) const {
    SqlStatement st(db_,
                    "SELECT state, reason, COUNT(*) FROM distill_items WHERE job_id = ? AND state IN ('rejected', 'failed') "
                    "GROUP BY state, reason");
    st.bind(1, jobId);
    std::map<std::pair<std::string, std::string>, int64_t> out;
    while (st.step()) out[{st.columnText(0), st.columnText(1)}] = st.columnInt(2);
    return out;
}

std::vector<DistillItem> DistillStore::items(int64_t jobId, std::optional<ItemState> state, int64_t offset,
                                             int64_t limit) const {
    SqlStatement st(db_, std::string("SELECT ") + kItemColumns + " FROM distill_items WHERE job_id = ?" +
                             (state ? " AND state = ?" : "") + " ORDER BY position LIMIT ? OFFSET ?");
    int k = 1;
    st.bind(k++, jobId);
    if (state) st.bind(k++, itemStateName(*state));
    st.bind(k++, limit < 0 ? int64_t(-1) : limit);
    st.bind(k++, offset);
    std::vector<DistillItem> out;
    while (st.step()) out.push_back(readItem(st));
    return out;
}

std::optional<DistillItem> DistillStore::item(int64_t jobId, int64_t position) const {
    SqlStatement st(db_, std::string("SELECT ") + kItemColumns + " FROM distill_items WHERE job_id = ? AND position = ?");
    st.bind(1, jobId).bind(2, position);
    if (!st.step()) return std::nullopt;
    return readItem(st);
}

int64_t DistillStore::resetSending(int64_t jobId) {
    SqlStatement st(db_, "UPDATE distill_items SET state = 'pending', detail = 'interrupted while a request was out' "
                         "WHERE job_id = ? AND state = 'sending'");
    st.bind(1, jobId);
    st.run();
    return sqlite3_changes(db_);
}

int64_t DistillStore::requeueFailed(int64_t jobId) {
    SqlStatement st(db_, "UPDATE distill_items SET state = 'pending', reason = '', detail = '' WHERE job_id = ? AND state = 'failed'");
    st.bind(1, jobId);
    st.run();
    return sqlite3_changes(db_);
}

void DistillStore::markSending(int64_t jobId, int64_t position) {
    SqlStatement st(db_, "UPDATE distill_items SET state = 'sending', attempts = attempts + 1 WHERE job_id = ? AND position = ?");
    st.bind(1, jobId).bind(2, position);
    st.run();
}

void DistillStore::markPending(int64_t jobId, int64_t position, const std::string& lastError) {
    SqlStatement st(db_, "UPDATE distill_items SET state = 'pending', detail = ? WHERE job_id = ? AND position = ?");
    st.bind(1, lastError).bind(2, jobId).bind(3, position);
    st.run();
}

void DistillStore::storeOutcome(int64_t jobId, int64_t position, const AnswerRecord& r) {
    if (r.state != ItemState::Accepted && r.state != ItemState::Rejected && r.state != ItemState::Failed)
        throw Error("distillation: an outcome must be accepted, rejected or failed");
    const bool answered = r.state != ItemState::Failed;
    SqlStatement st(db_,
                    "UPDATE distill_items SET state = ?, http_status = ?, raw_response = ?, answer = ?, response = ?, "
                    "finish_reason = ?, teacher_model = ?, prompt_tokens = ?, completion_tokens = ?, usage_reported = ?, "
                    "cost = ?, latency_ms = ?, reason = ?, detail = ?, answered_at = ? WHERE job_id = ? AND position = ?");
    st.bind(1, itemStateName(r.state)).bind(2, r.httpStatus).bind(3, r.rawResponse).bind(4, r.answer).bind(5, r.response);
    st.bind(6, r.finishReason).bind(7, r.teacherModel).bind(8, r.promptTokens).bind(9, r.completionTokens);
    st.bind(10, r.usageReported ? 1 : 0).bind(11, r.cost).bind(12, r.latencyMs).bind(13, r.reason).bind(14, r.detail);
    st.bind(15, answered ? utcTimestamp() : std::string()).bind(16, jobId).bind(17, position);
    st.run();
}

// ---------------------------------------------------------------------------------------------
// Runs

int64_t DistillStore::beginRun(int64_t jobId, const json& settings, int64_t interrupted) {
    SqlStatement st(db_, "INSERT INTO distill_runs (job_id, started_at, interrupted, settings) VALUES (?, ?, ?, ?)");
    st.bind(1, jobId).bind(2, utcTimestamp()).bind(3, interrupted).bind(4, settings.dump());
    st.run();
    return sqlite3_last_insert_rowid(db_);
}

void DistillStore::endRun(int64_t runId, int64_t requests, int64_t retries, int64_t answers, const std::string& stopReason) {
    SqlStatement st(db_, "UPDATE distill_runs SET ended_at = ?, requests = ?, retries = ?, answers = ?, stop_reason = ? WHERE id = ?");
    st.bind(1, utcTimestamp()).bind(2, requests).bind(3, retries).bind(4, answers).bind(5, stopReason).bind(6, runId);
    st.run();
}

std::vector<DistillRunRow> DistillStore::runs(int64_t jobId) const {
    SqlStatement st(db_,
                    "SELECT id, job_id, started_at, ended_at, requests, retries, answers, interrupted, stop_reason, settings "
                    "FROM distill_runs WHERE job_id = ? ORDER BY id");
    st.bind(1, jobId);
    std::vector<DistillRunRow> out;
    while (st.step()) {
        DistillRunRow r;
        r.id = st.columnInt(0);
        r.jobId = st.columnInt(1);
        r.startedAt = st.columnText(2);
        r.endedAt = st.columnText(3);
        r.requests = st.columnInt(4);
        r.retries = st.columnInt(5);
        r.answers = st.columnInt(6);
        r.interrupted = st.columnInt(7);
        r.stopReason = st.columnText(8);
        r.settings = parseStored(st.columnText(9), "run settings");
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace swarm::distill
