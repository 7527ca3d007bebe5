// Perplexity results in the project: the "evaluation" line's second migration (eval_perplexity,
// beside eval_runs), reuse by model files + text + settings, and evaluatePerplexity, which ties
// the model, the text and the table together.
#include "eval/perplexity.h"

#include "engine/engine.h"

#include "core/error.h"
#include "core/format.h"
#include "core/sqlite.h"

#include <sqlite3.h>

#include <chrono>
#include <cmath>

namespace swarm::eval {

using nlohmann::json;

void registerPerplexityMigration() {
    ProjectStore::registerMigration("evaluation", 2, "perplexity on raw text", R"SQL(
CREATE TABLE eval_perplexity (
  id INTEGER PRIMARY KEY,
  model_path TEXT NOT NULL,
  model_name TEXT NOT NULL,
  model_kind TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  source_kind TEXT NOT NULL,
  source_name TEXT NOT NULL,
  source_path TEXT NOT NULL,
  source_fingerprint TEXT NOT NULL,
  settings_key TEXT NOT NULL,
  context INTEGER NOT NULL,
  stride INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  windows INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  nll REAL NOT NULL,
  perplexity REAL NOT NULL,
  bits_per_byte REAL NOT NULL,
  seconds REAL NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX eval_perplexity_key ON eval_perplexity (fingerprint, source_fingerprint, settings_key);
)SQL");
}

json PerplexityResult::toJson() const {
    return json{{"id", id},
                {"model", modelName},
                {"model_path", modelPath},
                {"model_kind", modelKind},
                {"source", {{"kind", source.kind}, {"name", source.name}, {"path", source.path}}},
                {"settings", settings},
                {"context", context},
                {"stride", stride},
                {"tokens", tokens},
                {"bytes", bytes},
                {"windows", windows},
                {"input_tokens", inputTokens},
                {"nll", nll},
                {"mean_nll", meanNll},
                {"perplexity", perplexity},
                {"bits_per_byte", bitsPerByte},
                {"seconds", seconds},
                {"created_at", createdAt},
                {"reused", reused}};
}

namespace {

constexpr const char* kColumns =
    "SELECT id, model_path, model_name, model_kind, fingerprint, source_kind, source_name, source_path, "
    "source_fingerprint, settings_key, context, stride, tokens, bytes, windows, input_tokens, nll, perplexity, "
    "bits_per_byte, seconds, created_at FROM eval_perplexity ";

PerplexityResult readRow(const SqlStatement& q) {
    PerplexityResult r;
    r.id = q.columnInt(0);
    r.modelPath = q.columnText(1);
    r.modelName = q.columnText(2);
    r.modelKind = q.columnText(3);
    r.modelFingerprint = q.columnText(4);
    r.source.kind = q.columnText(5);
    r.source.name = q.columnText(6);
    r.source.path = q.columnText(7);
    r.source.fingerprint = q.columnText(8);
    const std::string_view key = q.columnTextView(9);
    r.settings = json::parse(key.begin(), key.end(), nullptr, false);
    if (r.settings.is_discarded()) r.settings = json::object();
    r.context = int(q.columnInt(10));
    r.stride = int(q.columnInt(11));
    r.tokens = q.columnInt(12);
    r.bytes = q.columnInt(13);
    r.windows = q.columnInt(14);
    r.inputTokens = q.columnInt(15);
    r.nll = q.columnDouble(16);
    r.perplexity = q.columnDouble(17);
    r.bitsPerByte = q.columnDouble(18);
    r.seconds = q.columnDouble(19);
    r.createdAt = q.columnText(20);
    r.meanNll = r.tokens > 0 ? r.nll / double(r.tokens) : 0;
    return r;
}

std::optional<PerplexityResult> findStored(ProjectStore& project, const std::string& fingerprint,
                                           const std::string& sourceFingerprint, const json& key) {
    SqlStatement q(project.handle(), std::string(kColumns) +
                                         "WHERE fingerprint = ?1 AND source_fingerprint = ?2 AND settings_key = ?3 "
                                         "ORDER BY id DESC LIMIT 1");
    q.bind(1, fingerprint).bind(2, sourceFingerprint).bind(3, key.dump());
    if (!q.step()) return std::nullopt;
    return readRow(q);
}

int64_t insertResult(ProjectStore& project, const PerplexityResult& r) {
    SqlStatement q(project.handle(),
                   "INSERT INTO eval_perplexity (model_path, model_name, model_kind, fingerprint, source_kind, "
                   "source_name, source_path, source_fingerprint, settings_key, context, stride, tokens, bytes, "
                   "windows, input_tokens, nll, perplexity, bits_per_byte, seconds, created_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)");
    q.bind(1, r.modelPath).bind(2, r.modelName).bind(3, r.modelKind).bind(4, r.modelFingerprint);
    q.bind(5, r.source.kind).bind(6, r.source.name).bind(7, r.source.path).bind(8, r.source.fingerprint);
    q.bind(9, r.settings.dump()).bind(10, r.context).bind(11, r.stride).bind(12, r.tokens).bind(13, r.bytes);
    q.bind(14, r.windows).bind(15, r.inputTokens).bind(16, r.nll).bind(17, r.perplexity).bind(18, r.bitsPerByte);
    q.bind(19, r.seconds).bind(20, r.createdAt);
    q.run();
    return sqlite3_last_insert_rowid(project.handle());
}

} // namespace

std::vector<PerplexityResult> storedPerplexities(ProjectStore& project, const std::string& modelFingerprint) {
    SqlStatement q(project.handle(), std::string(kColumns) + "WHERE fingerprint = ?1 ORDER BY id DESC");
    q.bind(1, modelFingerprint);
    std::vector<PerplexityResult> out;
    while (q.step()) out.push_back(readRow(q));
    return out;
}

std::map<std::string, double> perplexityValues(ProjectStore& project, const std::string& modelFingerprint) {
    std::map<std::string, double> values;
    for (const PerplexityResult& r : storedPerplexities(project, modelFingerprint)) {
        const std::string name = r.source.kind == "corpus" ? "ppl:corpus:" + r.source.name : "ppl:" + r.source.name;
        values.emplace(name, r.perplexity);   // newest first: an older result of the same text is not kept
    }
    return values;
}

PerplexityResult evaluatePerplexity(ProjectStore* project, const std::string& modelPath, const PerplexitySource& source,
                                    const PerplexitySettings& settings, const PerplexityCallbacks& cb) {
    const ModelRef ref = resolveModel(modelPath);
    const json key = settings.key();
    if (project) {
        if (std::optional<PerplexityResult> stored = findStored(*project, ref.fingerprint, source.fingerprint, key)) {
            if (cb.log)
                cb.log("reusing perplexity result " + std::to_string(stored->id) + " (same model files, text and settings)");
            stored->reused = true;
            return *stored;
        }
    }
    engine::LoadOptions lo;
    lo.threads = settings.threads;
    if (!settings.dtype.empty()) {
        engine::WType w;
        if (!engine::parseWType(settings.dtype, w)) throw Error("unknown dtype '" + settings.dtype + "'");
        lo.dtype = w;
    }
    const engine::Model model = engine::Model::load(ref.path, lo);
    for (const std::string& w : model.warnings())
        if (cb.log) cb.log("model: " + w);
    const PerplexityText text = PerplexityText::load(source, model.tokenizer());
    PerplexityResult r = computePerplexity(model, text, settings, cb);
    r.modelName = ref.name;
    r.modelPath = ref.path;
    r.modelKind = ref.kind;
    r.modelFingerprint = ref.fingerprint;
    r.source = source;
    r.settings = key;
    r.createdAt = utcTimestamp();
    if (project) r.id = insertResult(*project, r);
    return r;
}

} // namespace swarm::eval
