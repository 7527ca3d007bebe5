#include "eval/harness.h"

#include "engine/engine.h"

#include "core/error.h"
#include "datasets/prompt_template.h"
#include "core/system.h"
#include "core/format.h"
#include "datasets/dataset_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace swarm::eval {

namespace fs = std::filesystem;
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
}

// ---------------------------------------------------------------------------------------------
// Models

namespace {

std::string fileStamp(const fs::path& p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    return p.filename().string() + ":" + std::to_string(size) + ":" + std::to_string(mtime);
}

bool isModelFolder(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec) && fs::exists(p / "config.json", ec);
}

// "Bad UTF-8 never reaches the store": invalid bytes become U+FFFD.
std::string sanitizeUtf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + size_t(len) <= s.size() && c != 0;
        for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + size_t(k)]) >> 6) == 2;
        if (ok && len == 2 && c < 0xC2) ok = false;
        if (ok) {
            out.append(s.substr(i, size_t(len)));
            i += size_t(len);
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

} // namespace

ModelRef resolveModel(const std::string& input) {
    ModelRef m;
    m.input = input;
    std::error_code ec;
    fs::path p = fs::absolute(fs::path(input), ec).lexically_normal();
    if (!p.empty() && p.filename().empty()) p = p.parent_path();
    if (fs::is_regular_file(p, ec)) {
        if (p.extension() != ".gguf") throw Error("model '" + input + "': a file must be a .gguf");
        m.kind = "gguf";
        m.path = p.string();
        m.name = p.filename().string();
        m.bytes = int64_t(fs::file_size(p, ec));
        m.fingerprint = "gguf:" + m.path + "|" + fileStamp(p);
        return m;
    }
    if (!fs::is_directory(p, ec)) throw Error("model '" + input + "': no such file or folder");
    fs::path folder;
    if (isModelFolder(p)) {
        folder = p;
        const std::string parent = p.parent_path().filename().string();
        if (p.filename() == "final") {
            m.kind = "run";
            m.name = p.parent_path().filename().string();
        } else if (parent == "checkpoints") {
            m.kind = "checkpoint";
            m.name = p.parent_path().parent_path().filename().string() + "@" + p.filename().string();
        } else {
            m.kind = "hf";
            m.name = p.filename().string();
        }
    } else if (isModelFolder(p / "final")) {
        folder = p / "final";
        m.kind = "run";
        m.name = p.filename().string();
    } else if (fs::is_directory(p / "checkpoints", ec)) {
        long best = -1;
        for (const auto& e : fs::directory_iterator(p / "checkpoints", ec)) {
            const std::string n = e.path().filename().string();
            if (n.rfind("step-", 0) != 0 || !isModelFolder(e.path())) continue;
            const long step = std::strtol(n.c_str() + 5, nullptr, 10);
            if (step > best) {
                best = step;
                folder = e.path();
            }
        }
        if (best < 0) throw Error("model '" + input + "': the run has no final/ and no checkpoint yet");
        m.kind = "checkpoint";
        m.name = p.filename().string() + "@step-" + std::to_string(best);
    } else {
        throw Error("model '" + input + "': not a model folder (no config.json), a run folder or a .gguf file");
    }
    m.path = folder.string();
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(folder, ec))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    m.fingerprint = "hf:" + m.path;
    for (const fs::path& f : files) {
        m.fingerprint += "|" + fileStamp(f);
        if (f.extension() == ".safetensors") m.bytes += int64_t(fs::file_size(f, ec));
    }
    return m;
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
// Store

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

std::string dumpSafe(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

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
// Evaluation

namespace {

struct Slot {
    const StoredExample* example = nullptr;
    size_t position = 0;
    std::vector<int32_t> prompt;
    std::vector<int32_t> history;        // prompt + generated (for the repetition penalty)
    std::vector<int32_t> generated;
    std::string text;
    std::unique_ptr<engine::Sampler> sampler;
    bool active = false;
    std::string finish;
    double nll = 0;
    int refTokens = 0;
    bool hasLoss = false;
    double prefillSeconds = 0;
    double latencyMs = 0;
};

double logSoftmaxAt(const float* logits, int n, int32_t target) {
    float mx = logits[0];
    for (int i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += std::exp(double(logits[i] - mx));
    return double(logits[target] - mx) - std::log(sum);
}

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

} // namespace

namespace {

// Best effort: when the database itself is what failed, the run stays as it was.
void markRunFailed(sqlite3* db, int64_t runId, const std::string& message) {
    try {
        SqlStatement(db, "UPDATE eval_runs SET status = 'failed', message = ?1, updated_at = ?2 WHERE id = ?3")
            .bind(1, message)
            .bind(2, utcTimestamp())
            .bind(3, runId)
            .run();
    } catch (const std::exception&) {
    }
}

} // namespace

EvalRunInfo evaluate(ProjectStore& project, const std::string& modelPath, const std::string& datasetName,
                     const EvalSettings& settings, const EvalCallbacks& cb) {
    const auto started = Clock::now();
    auto progress = [&](EvalProgress p) {
        p.elapsedSeconds = secondsSince(started);
        if (cb.progress) cb.progress(p);
    };
    auto log = [&](const std::string& s) {
        if (cb.log) cb.log(s);
    };
    auto cancelled = [&] { return cb.cancel && cb.cancel->load(); };

    const DatasetInfo dataset = DatasetStore(project).dataset(datasetName);
    Split split;
    if (!parseSplit(settings.split, split)) throw Error("unknown split '" + settings.split + "' (train, validation, test)");
    const std::vector<std::string> families = metrics::parseMetrics(settings.metrics, dataset.preset);
    if (settings.maxNewTokens <= 0) throw Error("max new tokens must be > 0");
    const ModelRef model = resolveModel(modelPath);
    const std::vector<StoredExample> examples =
        DatasetStore(project).examples(dataset.id, split, 0, settings.limit > 0 ? settings.limit : -1);
    if (examples.empty())
        throw Error("dataset '" + dataset.name + "' has no " + std::string(splitName(split)) + " examples");

    EvalSettings effective = settings;
    effective.split = splitName(split);
    const json key = effective.key();
    EvalStore store(project);
    sqlite3* db = project.handle();

    // Reuse or resume.
    std::optional<EvalRunInfo> existing = store.find(model.fingerprint, dataset.id, effective.split, key);
    int64_t runId = 0;
    std::set<int64_t> done;
    if (existing) {
        runId = existing->id;
        for (const EvalExampleRow& e : store.examples(runId)) done.insert(e.exampleId);
        if (existing->status == "done" && int64_t(done.size()) >= int64_t(examples.size())) {
            log("reusing evaluation run " + std::to_string(runId) + " (same model files, split and settings)");
            existing->reused = true;
            progress({existing->total, existing->total, existing->total, 0, 0, "done"});
            return *existing;
        }
        log("resuming evaluation run " + std::to_string(runId) + ": " + std::to_string(done.size()) + " of " +
            std::to_string(examples.size()) + " examples already done");
    } else {
        SqlStatement ins(db, "INSERT INTO eval_runs (model_path, model_name, model_kind, fingerprint, dataset_id, "
                             "dataset_name, preset, split, settings, settings_key, metrics, status, created_at, "
                             "updated_at, n_total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', "
                             "?12, ?12, ?13)");
        ins.bind(1, model.path).bind(2, model.name).bind(3, model.kind).bind(4, model.fingerprint);
        ins.bind(5, dataset.id).bind(6, dataset.name).bind(7, dataset.preset).bind(8, effective.split);
        ins.bind(9, effective.toJson().dump()).bind(10, key.dump()).bind(11, json(families).dump());
        ins.bind(12, utcTimestamp()).bind(13, int64_t(examples.size()));
        ins.run();
        runId = sqlite3_last_insert_rowid(db);
    }
    const int64_t total = int64_t(examples.size());
    const int64_t reusedCount = int64_t(done.size());
    SqlStatement(db, "UPDATE eval_runs SET status = 'running', n_total = ?1, updated_at = ?2 WHERE id = ?3")
        .bind(1, total)
        .bind(2, utcTimestamp())
        .bind(3, runId)
        .run();

    // From here the run exists as 'running': an error (a model that does not load, a full disk...)
    // marks it 'failed' with the message, keeping the examples already stored for a resume.
    try {
        std::vector<size_t> pending;
        for (size_t i = 0; i < examples.size(); ++i)
            if (!done.count(examples[i].id)) pending.push_back(i);

        json perf = existing ? existing->perf : json::object();
        if (!pending.empty()) {
            progress({int64_t(done.size()), total, reusedCount, 0, -1, "loading"});
            engine::LoadOptions lo;
            lo.threads = settings.threads;
            if (!settings.dtype.empty()) {
                engine::WType w;
                if (!engine::parseWType(settings.dtype, w)) throw Error("unknown dtype '" + settings.dtype + "'");
                lo.dtype = w;
            }
            const auto loadStart = Clock::now();
            engine::Model m = engine::Model::load(model.path, lo);
            const double loadSeconds = secondsSince(loadStart);
            for (const std::string& w : m.warnings()) log("model: " + w);
            const ModelConfig& cfg = m.config();
            const int vocab = int(cfg.vocab_size);
            const bool wantLoss = std::find(families.begin(), families.end(), "loss") != families.end();

            engine::SamplingOptions so;
            so.temperature = settings.temperature;
            so.topK = settings.topK;
            so.topP = settings.topP;
            so.seed = settings.seed;
            so.maxTokens = settings.maxNewTokens;
            engine::validateSamplingOptions(so);

            int longest = 1;
            for (size_t i : pending) longest = std::max(longest, int(examples[i].ids.size()));
            const int context = int(std::min<int64_t>(cfg.block_size, int64_t(longest) + settings.maxNewTokens + 1));
            const int batch = std::clamp(settings.batchSize, 1, 64);
            engine::SessionOptions sopt;
            sopt.context = context;
            sopt.maxBatch = std::max(batch, 16);
            std::vector<engine::Session> sessions;
            for (int i = 0; i < std::min<int>(batch, int(pending.size())); ++i) sessions.emplace_back(m, sopt);

            // The chat format's turn marker ends a generation that runs past its answer.
            std::vector<std::string> stops;
            std::string lead;   // what the format puts before the response (" "): not part of the answer
            {
                ChatFormat format;
                if (dataset.mapping.contains("chat_format") && dataset.mapping["chat_format"].is_string()) {
                    try {
                        format = ChatFormat::parse(dataset.mapping["chat_format"].get<std::string>());
                    } catch (const Error&) {
                    }
                }
                std::string head = format.head();
                const std::string rt = format.responseText("");
                lead = rt.substr(0, rt.find_first_not_of(" \t\n"));
                while (!head.empty() && head.back() == ' ') head.pop_back();
                if (!head.empty()) stops.push_back("\n" + head);
            }

            double prefillTokens = perf.value("prefill_tokens", 0.0), prefillSeconds = perf.value("prefill_seconds", 0.0);
            double decodeTokens = perf.value("decode_tokens", 0.0), decodeSeconds = perf.value("decode_seconds", 0.0);
            int64_t peakRss = std::max<int64_t>(perf.value("peak_rss_bytes", int64_t(0)), currentRssBytes());
            const auto genStart = Clock::now();
            int64_t doneHere = 0;
            bool wasCancelled = false;

            SqlStatement insert(db, "INSERT OR REPLACE INTO eval_examples (run_id, example_id, position, prompt, reference, "
                                    "has_reference, output, scores, detail, latency_ms, prompt_tokens, output_tokens, "
                                    "finish) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
            std::vector<float> firstLogits(static_cast<size_t>(vocab));

            for (size_t b0 = 0; b0 < pending.size() && !(wasCancelled = cancelled()); b0 += sessions.size()) {
                const size_t n = std::min(sessions.size(), pending.size() - b0);
                std::vector<Slot> slots(n);
                for (size_t k = 0; k < n && !wasCancelled; ++k) {
                    Slot& s = slots[k];
                    s.position = pending[b0 + k];
                    s.example = &examples[s.position];
                    const std::vector<int32_t>& ids = s.example->ids;
                    const int promptLen = std::clamp<int>(s.example->promptLen, 1, int(ids.size()));
                    s.prompt.assign(ids.begin(), ids.begin() + promptLen);
                    const int room = std::max(1, context - std::min(settings.maxNewTokens, context - 1));
                    if (int(s.prompt.size()) > room) s.prompt.erase(s.prompt.begin(), s.prompt.end() - room);
                    engine::Session& sess = sessions[k];
                    sess.reset();
                    const auto t0 = Clock::now();
                    const bool hasRef = !s.example->response.empty();
                    if (wantLoss && hasRef && int(ids.size()) > promptLen && int(ids.size()) <= context &&
                        int(s.prompt.size()) == promptLen) {
                        sess.prefill(ids, true);
                        const std::vector<float>& all = sess.allLogits();
                        for (size_t t = size_t(promptLen) - 1; t + 1 < ids.size(); ++t) {
                            s.nll -= logSoftmaxAt(all.data() + t * size_t(vocab), vocab, ids[t + 1]);
                            ++s.refTokens;
                        }
                        s.hasLoss = true;
                        std::copy_n(all.data() + size_t(promptLen - 1) * size_t(vocab), size_t(vocab), firstLogits.data());
                        sess.truncate(promptLen);
                        prefillTokens += double(ids.size());
                    } else {
                        sess.prefill(s.prompt);
                        std::copy_n(sess.logits(), size_t(vocab), firstLogits.data());
                        prefillTokens += double(s.prompt.size());
                    }
                    s.prefillSeconds = secondsSince(t0);
                    prefillSeconds += s.prefillSeconds;
                    engine::SamplingOptions mine = so;
                    mine.seed = so.seed + uint64_t(s.example->id);
                    s.sampler = std::make_unique<engine::Sampler>(mine, vocab, std::min(vocab, int(engine::kTokenizerVocab)));
                    s.history = s.prompt;
                    s.active = true;
                    const int32_t tok = s.sampler->sample(firstLogits.data(), s.history.data(), s.history.size());
                    auto accept = [&](Slot& sl, int32_t t, const engine::Session& se) {
                        if (t == engine::kEndOfText) {
                            sl.finish = "eos";
                            sl.active = false;
                            return;
                        }
                        sl.generated.push_back(t);
                        sl.history.push_back(t);
                        sl.text += m.tokenizer().decode({t});
                        for (const std::string& st : stops) {
                            size_t at = sl.text.find(st, sl.text.size() > st.size() + 64 ? sl.text.size() - st.size() - 64 : 0);
                            if (at != std::string::npos) {
                                sl.text.resize(at);
                                sl.finish = "stop";
                                sl.active = false;
                                return;
                            }
                        }
                        if (int(sl.generated.size()) >= settings.maxNewTokens) {
                            sl.finish = "max_tokens";
                            sl.active = false;
                        } else if (se.position() >= se.context()) {
                            sl.finish = "context_full";
                            sl.active = false;
                        }
                    };
                    accept(s, tok, sess);
                    if (!s.active) s.latencyMs = s.prefillSeconds * 1000;
                    wasCancelled = cancelled();
                }
                // Batched decode of the active sequences.
                const auto decodeStart = Clock::now();
                std::vector<engine::Session*> act;
                std::vector<int32_t> toks;
                std::vector<size_t> who;
                while (!wasCancelled) {
                    act.clear();
                    toks.clear();
                    who.clear();
                    for (size_t k = 0; k < n; ++k)
                        if (slots[k].active) {
                            act.push_back(&sessions[k]);
                            toks.push_back(slots[k].generated.back());
                            who.push_back(k);
                        }
                    if (act.empty()) break;
                    if (act.size() == 1) act[0]->decode(toks[0]);
                    else m.decodeBatch(act.data(), toks.data(), int(act.size()));
                    decodeTokens += double(act.size());
                    for (size_t j = 0; j < who.size(); ++j) {
                        Slot& s = slots[who[j]];
                        const int32_t tok = s.sampler->sample(act[j]->logits(), s.history.data(), s.history.size());
                        // accept() as above (the lambda is per-slot scope; repeat the small logic here)
                        if (tok == engine::kEndOfText) {
                            s.finish = "eos";
                            s.active = false;
                        } else {
                            s.generated.push_back(tok);
                            s.history.push_back(tok);
                            s.text += m.tokenizer().decode({tok});
                            for (const std::string& st : stops) {
                                size_t from = s.text.size() > st.size() + 64 ? s.text.size() - st.size() - 64 : 0;
                                size_t at = s.text.find(st, from);
                                if (at != std::string::npos) {
                                    s.text.resize(at);
                                    s.finish = "stop";
                                    s.active = false;
                                    break;
                                }
                            }
                            if (s.active && int(s.generated.size()) >= settings.maxNewTokens) {
                                s.finish = "max_tokens";
                                s.active = false;
                            } else if (s.active && act[j]->position() >= act[j]->context()) {
                                s.finish = "context_full";
                                s.active = false;
                            }
                        }
                        if (!s.active) s.latencyMs = (s.prefillSeconds + secondsSince(decodeStart)) * 1000;
                    }
                    wasCancelled = cancelled();
                }
                decodeSeconds += secondsSince(decodeStart);
                peakRss = std::max(peakRss, currentRssBytes());
                if (wasCancelled) break;   // a batch cut short is not stored: it reruns on resume

                // Score and store the batch in one transaction.
                SqlTransaction tx(db);
                for (Slot& s : slots) {
                    const StoredExample& ex = *s.example;
                    std::string_view text = s.text;
                    if (!lead.empty() && text.substr(0, lead.size()) == lead) text.remove_prefix(lead.size());
                    metrics::ExampleInput in{ex.prompt, ex.response, sanitizeUtf8(text), !ex.response.empty()};
                    metrics::SqlOptions sqlOpt;
                    sqlOpt.timeLimitMs = settings.sqlTimeLimitMs;
                    json detail = json::object();
                    metrics::ScoreMap scores = metrics::scoreExample(families, in, sqlOpt, &detail);
                    if (s.hasLoss && s.refTokens > 0) {
                        scores["#ref_nll"] = s.nll;
                        scores["#ref_tokens"] = s.refTokens;
                        scores["ref_loss"] = s.nll / s.refTokens;
                    }
                    json sj = json::object();
                    for (auto& [k, v] : scores) sj[k] = std::isfinite(v) ? json(v) : json(nullptr);
                    insert.reset();
                    insert.bind(1, runId).bind(2, ex.id).bind(3, int64_t(s.position)).bind(4, ex.prompt);
                    insert.bind(5, ex.response).bind(6, in.hasReference ? 1 : 0).bind(7, in.output);
                    insert.bind(8, dumpSafe(sj)).bind(9, dumpSafe(detail)).bind(10, s.latencyMs);
                    insert.bind(11, int(s.prompt.size())).bind(12, int(s.generated.size()) + (s.finish == "eos" ? 1 : 0));
                    insert.bind(13, s.finish.empty() ? std::string("max_tokens") : s.finish);
                    insert.run();
                }
                doneHere += int64_t(n);
                SqlStatement(db, "UPDATE eval_runs SET n_done = ?1, updated_at = ?2 WHERE id = ?3")
                    .bind(1, int64_t(done.size()) + doneHere)
                    .bind(2, utcTimestamp())
                    .bind(3, runId)
                    .run();
                tx.commit();
                const double el = secondsSince(genStart);
                const int64_t left = int64_t(pending.size()) - doneHere;
                progress({int64_t(done.size()) + doneHere, total, reusedCount, 0, el / double(doneHere) * double(left),
                          "generating"});
            }

            perf = json{{"prefill_tokens", prefillTokens},
                        {"prefill_seconds", prefillSeconds},
                        {"decode_tokens", decodeTokens},
                        {"decode_seconds", decodeSeconds},
                        {"prefill_tok_s", prefillSeconds > 0 ? prefillTokens / prefillSeconds : 0.0},
                        {"decode_tok_s", decodeSeconds > 0 ? decodeTokens / decodeSeconds : 0.0},
                        {"peak_rss_bytes", peakRss},
                        {"load_seconds", loadSeconds},
                        {"threads", m.threads()},
                        {"weight_type", m.stats().storedTypes},
                        {"model_bytes", model.bytes},
                        {"batch_size", batch}};
            SqlStatement(db, "UPDATE eval_runs SET perf = ?1 WHERE id = ?2").bind(1, dumpSafe(perf)).bind(2, runId).run();
            if (wasCancelled) {
                store.resummarize(runId);
                SqlStatement(db, "UPDATE eval_runs SET status = 'cancelled', message = ?1, updated_at = ?2 WHERE id = ?3")
                    .bind(1, "cancelled after " + std::to_string(done.size() + size_t(doneHere)) + " of " +
                                 std::to_string(total) + " examples")
                    .bind(2, utcTimestamp())
                    .bind(3, runId)
                    .run();
                log("cancelled: " + std::to_string(done.size() + size_t(doneHere)) + " examples kept");
                return *store.run(runId);
            }
        }
        progress({total, total, reusedCount, 0, 0, "scoring"});
        store.resummarize(runId);
        SqlStatement(db, "UPDATE eval_runs SET status = 'done', n_done = ?1, message = '', updated_at = ?2 WHERE id = ?3")
            .bind(1, total)
            .bind(2, utcTimestamp())
            .bind(3, runId)
            .run();
        progress({total, total, reusedCount, 0, 0, "done"});
        return *store.run(runId);
    } catch (const std::exception& e) {
        markRunFailed(db, runId, e.what());
        throw;
    }
}

} // namespace swarm::eval
