// The evaluation tables in the project file: the schema, the reuse key of the settings, reading
// stored runs and examples (EvalStore), and the rows evaluate() writes (eval_store_rows.h).
#include "eval/eval_store_rows.h"
#include "eval/harness.h"
#include "eval/perplexity.h"

#include "core/error.h"
#include "core/format.h"

#include <sqlite3.h>

#include <cmath>

namespace swarm::eval {

using nlohmann::json;

void registerEvaluationSchema() {
    ProjectStore::registerMigration("evaluation", 1, "eval runs and examples", R"SQL(
CREATE TABLE eval_runs (
  id INTEGER PRIMARY KEY,
  model_path TEXT NOT NULL,
  model_name TEXT NOT NULL,
  model_kind TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  dataset_id INTEGER NOT NULL,
  dataset_name TEXT NOT NULL,
  preset TEXT NOT NULL DEFAULT '',
  split TEXT NOT NULL,
  settings TEXT NOT NULL,
  settings_key TEXT NOT NULL,
  metrics TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  n_total INTEGER NOT NULL DEFAULT 0,
  n_done INTEGER NOT NULL DEFAULT 0,
  summary TEXT NOT NULL DEFAULT '{}',
  perf TEXT NOT NULL DEFAULT '{}',
  message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX eval_runs_key ON eval_runs (fingerprint, dataset_id, split, settings_key);
CREATE TABLE eval_examples (
  run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
  example_id INTEGER NOT NULL,
  position INTEGER NOT NULL,
  prompt TEXT NOT NULL,
  reference TEXT NOT NULL,
  has_reference INTEGER NOT NULL,
  output TEXT NOT NULL,
  scores TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}',
  latency_ms REAL NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  finish TEXT NOT NULL,
  PRIMARY KEY (run_id, example_id)
);
)SQL");
    registerPerplexityMigration();   // eval_perplexity (issue 20)
}

// ---------------------------------------------------------------------------------------------
// Settings

json EvalSettings::key() const {
    return json{{"split", split},       {"limit", limit}, {"metrics", metrics}, {"max_new_tokens", maxNewTokens},
                {"temperature", temperature}, {"top_k", topK}, {"top_p", topP}, {"seed", seed},
                {"dtype", dtype},       {"sql_time_limit_ms", sqlTimeLimitMs}};
}

json EvalSettings::toJson() const {
    json j = key();
    j["batch_size"] = batchSize;
    j["threads"] = threads;
    return j;
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

constexpr const char* kRunColumns =
    "SELECT id, model_path, model_name, model_kind, fingerprint, dataset_id, dataset_name, preset, split, settings, "
    "metrics, status, created_at, updated_at, n_total, n_done, summary, perf, message FROM eval_runs ";

json parseOr(std::string_view text, json fallback) {
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    return j.is_discarded() ? fallback : j;
}

EvalRunInfo readRun(const SqlStatement& q) {
    EvalRunInfo r;
    r.id = q.columnInt(0);
    r.modelPath = q.columnText(1);
    r.modelName = q.columnText(2);
    r.modelKind = q.columnText(3);
    r.fingerprint = q.columnText(4);
    r.datasetId = q.columnInt(5);
    r.datasetName = q.columnText(6);
    r.preset = q.columnText(7);
    r.split = q.columnText(8);
    r.settings = parseOr(q.columnTextView(9), json::object());
    json m = parseOr(q.columnTextView(10), json::array());
    for (const json& v : m)
        if (v.is_string()) r.metrics.push_back(v.get<std::string>());
    r.status = q.columnText(11);
    r.createdAt = q.columnText(12);
    r.updatedAt = q.columnText(13);
    r.total = q.columnInt(14);
    r.done = q.columnInt(15);
    r.summary = parseOr(q.columnTextView(16), json::object());
    r.perf = parseOr(q.columnTextView(17), json::object());
    r.message = q.columnText(18);
    return r;
}

} // namespace

std::vector<EvalRunInfo> EvalStore::runs(int64_t datasetId) const {
    std::vector<EvalRunInfo> out;
    SqlStatement q(project_.handle(), std::string(kRunColumns) + (datasetId ? "WHERE dataset_id = ?1 " : "") +
                                          "ORDER BY id DESC");
    if (datasetId) q.bind(1, datasetId);
    while (q.step()) out.push_back(readRun(q));
    return out;
}

std::optional<EvalRunInfo> EvalStore::run(int64_t id) const {
    SqlStatement q(project_.handle(), std::string(kRunColumns) + "WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return readRun(q);
}

std::optional<EvalRunInfo> EvalStore::find(const std::string& fingerprint, int64_t datasetId, const std::string& split,
                                           const json& settingsKey) const {
    SqlStatement q(project_.handle(), std::string(kRunColumns) +
                                          "WHERE fingerprint = ?1 AND dataset_id = ?2 AND split = ?3 AND "
                                          "settings_key = ?4 ORDER BY (status = 'done') DESC, id DESC LIMIT 1");
    q.bind(1, fingerprint).bind(2, datasetId).bind(3, split).bind(4, settingsKey.dump());
    if (!q.step()) return std::nullopt;
    return readRun(q);
}

std::vector<EvalExampleRow> EvalStore::examples(int64_t runId) const {
    std::vector<EvalExampleRow> out;
    SqlStatement q(project_.handle(),
                   "SELECT example_id, position, prompt, reference, has_reference, output, scores, detail, latency_ms, "
                   "prompt_tokens, output_tokens, finish FROM eval_examples WHERE run_id = ?1 ORDER BY position");
    q.bind(1, runId);
    while (q.step()) {
        EvalExampleRow e;
        e.exampleId = q.columnInt(0);
        e.position = q.columnInt(1);
        e.prompt = q.columnText(2);
        e.reference = q.columnText(3);
        e.hasReference = q.columnInt(4) != 0;
        e.output = q.columnText(5);
        json s = parseOr(q.columnTextView(6), json::object());
        for (auto it = s.begin(); it != s.end(); ++it)
            if (it->is_number()) e.scores[it.key()] = it->get<double>();
        e.detail = parseOr(q.columnTextView(7), json::object());
        e.latencyMs = q.columnDouble(8);
        e.promptTokens = int(q.columnInt(9));
        e.outputTokens = int(q.columnInt(10));
        e.finish = q.columnText(11);
        out.push_back(std::move(e));
    }
    return out;
}

void EvalStore::deleteRun(int64_t id) {
    SqlTransaction tx(project_.handle());
    SqlStatement(project_.handle(), "DELETE FROM eval_examples WHERE run_id = ?1").bind(1, id).run();
    SqlStatement(project_.handle(), "DELETE FROM eval_runs WHERE id = ?1").bind(1, id).run();
    tx.commit();
}

json EvalStore::resummarize(int64_t runId) {
    auto info = run(runId);
    if (!info) throw Error("no evaluation run " + std::to_string(runId));
    std::vector<metrics::ScoredExample> scored;
    for (EvalExampleRow& e : examples(runId))
        scored.push_back({std::move(e.output), std::move(e.reference), e.hasReference, std::move(e.scores)});
    json summary = metrics::aggregate(info->metrics, scored).toJson();
    summary["examples"] = scored.size();
    SqlStatement(project_.handle(), "UPDATE eval_runs SET summary = ?1, updated_at = ?2 WHERE id = ?3")
        .bind(1, dumpSafe(summary))
        .bind(2, utcTimestamp())
        .bind(3, runId)
        .run();
    return summary;
}

// ---------------------------------------------------------------------------------------------
// Writing

std::string dumpSafe(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int64_t insertRun(sqlite3* db, const ModelRef& model, const DatasetInfo& dataset, const EvalSettings& effective,
                  const std::vector<std::string>& families, int64_t total) {
    SqlStatement ins(db, "INSERT INTO eval_runs (model_path, model_name, model_kind, fingerprint, dataset_id, "
                         "dataset_name, preset, split, settings, settings_key, metrics, status, created_at, "
                         "updated_at, n_total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', "
                         "?12, ?12, ?13)");
    ins.bind(1, model.path).bind(2, model.name).bind(3, model.kind).bind(4, model.fingerprint);
    ins.bind(5, dataset.id).bind(6, dataset.name).bind(7, dataset.preset).bind(8, effective.split);
    ins.bind(9, effective.toJson().dump()).bind(10, effective.key().dump()).bind(11, json(families).dump());
    ins.bind(12, utcTimestamp()).bind(13, total);
    ins.run();
    return sqlite3_last_insert_rowid(db);
}

void setRunRunning(sqlite3* db, int64_t runId, int64_t total) {
    SqlStatement(db, "UPDATE eval_runs SET status = 'running', n_total = ?1, updated_at = ?2 WHERE id = ?3")
        .bind(1, total)
        .bind(2, utcTimestamp())
        .bind(3, runId)
        .run();
}

void setRunDoneCount(sqlite3* db, int64_t runId, int64_t done) {
    SqlStatement(db, "UPDATE eval_runs SET n_done = ?1, updated_at = ?2 WHERE id = ?3")
        .bind(1, done)
        .bind(2, utcTimestamp())
        .bind(3, runId)
        .run();
}

void setRunPerf(sqlite3* db, int64_t runId, const json& perf) {
    SqlStatement(db, "UPDATE eval_runs SET perf = ?1 WHERE id = ?2").bind(1, dumpSafe(perf)).bind(2, runId).run();
}

void setRunCancelled(sqlite3* db, int64_t runId, const std::string& message) {
    SqlStatement(db, "UPDATE eval_runs SET status = 'cancelled', message = ?1, updated_at = ?2 WHERE id = ?3")
        .bind(1, message)
        .bind(2, utcTimestamp())
        .bind(3, runId)
        .run();
}

void setRunDone(sqlite3* db, int64_t runId, int64_t total) {
    SqlStatement(db, "UPDATE eval_runs SET status = 'done', n_done = ?1, message = '', updated_at = ?2 WHERE id = ?3")
        .bind(1, total)
        .bind(2, utcTimestamp())
        .bind(3, runId)
        .run();
}

void setRunFailed(sqlite3* db, int64_t runId, const std::string& message) noexcept {
    try {
        SqlStatement(db, "UPDATE eval_runs SET status = 'failed', message = ?1, updated_at = ?2 WHERE id = ?3")
            .bind(1, message)
            .bind(2, utcTimestamp())
            .bind(3, runId)
            .run();
    } catch (const std::exception&) {
    }
}

ExampleInserter::ExampleInserter(sqlite3* db, int64_t runId)
    : insert_(db, "INSERT OR REPLACE INTO eval_examples (run_id, example_id, position, prompt, reference, "
                  "has_reference, output, scores, detail, latency_ms, prompt_tokens, output_tokens, finish) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
      runId_(runId) {}

void ExampleInserter::insert(const EvalExampleRow& row) {
    json scores = json::object();
    for (const auto& [k, v] : row.scores) scores[k] = std::isfinite(v) ? json(v) : json(nullptr);
    insert_.reset();
    insert_.bind(1, runId_).bind(2, row.exampleId).bind(3, row.position).bind(4, row.prompt);
    insert_.bind(5, row.reference).bind(6, row.hasReference ? 1 : 0).bind(7, row.output);
    insert_.bind(8, dumpSafe(scores)).bind(9, dumpSafe(row.detail)).bind(10, row.latencyMs);
    insert_.bind(11, row.promptTokens).bind(12, row.outputTokens).bind(13, row.finish);
    insert_.run();
}

} // namespace swarm::eval
