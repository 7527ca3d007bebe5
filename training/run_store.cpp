#include "training/run_store.h"

#include "core/error.h"
#include "core/format.h"

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sqlite3.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

namespace {

const char* kRunColumns =
    "id, name, run_dir, COALESCE(dataset_id, 0), base_model, config_json, status, created_at, updated_at, "
    "steps_done, total_steps, seconds, COALESCE(train_loss, 0), COALESCE(validation_loss, -1), "
    "COALESCE(final_model, ''), COALESCE(device, ''), COALESCE(message, '')";

RunRecord readRun(const SqlStatement& st) {
    RunRecord r;
    r.id = st.columnInt(0);
    r.name = st.columnText(1);
    r.runDir = st.columnText(2);
    r.datasetId = st.columnInt(3);
    r.baseModel = st.columnText(4);
    r.config = json::parse(st.columnText(5), nullptr, false);
    r.status = st.columnText(6);
    r.createdAt = st.columnText(7);
    r.updatedAt = st.columnText(8);
    r.stepsDone = st.columnInt(9);
    r.totalSteps = st.columnInt(10);
    r.seconds = st.columnDouble(11);
    r.trainLoss = st.columnDouble(12);
    r.validationLoss = st.columnDouble(13);
    r.finalModel = st.columnText(14);
    r.device = st.columnText(15);
    r.message = st.columnText(16);
    return r;
}

std::string floatBlob(const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::vector<float> blobFloats(std::string_view b) {
    std::vector<float> v(b.size() / sizeof(float));
    if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * sizeof(float));
    return v;
}

std::string canonicalDir(const std::string& dir) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::absolute(dir), ec);
    return ec ? dir : p.string();
}

} // namespace

std::vector<RunRecord> RunStore::runs() const {
    SqlStatement st(project_.handle(), std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id DESC");
    std::vector<RunRecord> out;
    while (st.step()) out.push_back(readRun(st));
    return out;
}

std::optional<RunRecord> RunStore::run(int64_t id) const {
    SqlStatement st(project_.handle(), std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return readRun(st);
}

std::optional<RunRecord> RunStore::findByDir(const std::string& runDir) const {
    SqlStatement st(project_.handle(), std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_dir = ?");
    st.bind(1, canonicalDir(runDir));
    if (!st.step()) return std::nullopt;
    return readRun(st);
}

std::vector<MetricRow> RunStore::metrics(int64_t runId, const std::string& kind) const {
    SqlStatement st(project_.handle(),
                    "SELECT kind, step, epoch, COALESCE(loss, 0), COALESCE(aux_loss, 0), COALESCE(lr, 0), "
                    "COALESCE(grad_norm, 0), COALESCE(tokens, 0), COALESCE(tokens_per_s, 0), COALESCE(elapsed_s, 0), "
                    "COALESCE(n_layer, 0), COALESCE(n_expert, 0), expert_share, router_entropy "
                    "FROM run_metrics WHERE run_id = ?1 AND (?2 = '' OR kind = ?2) ORDER BY step, kind");
    st.bind(1, runId).bind(2, kind);
    std::vector<MetricRow> out;
    while (st.step()) {
        MetricRow m;
        m.kind = st.columnText(0);
        m.step = st.columnInt(1);
        m.epoch = int(st.columnInt(2));
        m.loss = st.columnDouble(3);
        m.auxLoss = st.columnDouble(4);
        m.lr = st.columnDouble(5);
        m.gradNorm = st.columnDouble(6);
        m.tokens = st.columnInt(7);
        m.tokensPerSecond = st.columnDouble(8);
        m.elapsedSeconds = st.columnDouble(9);
        const int64_t L = st.columnInt(10), E = st.columnInt(11);
        std::vector<float> share = blobFloats(st.columnBlob(12));
        if (L > 0 && E > 0 && int64_t(share.size()) == L * E)
            for (int64_t l = 0; l < L; ++l)
                m.expertShare.emplace_back(share.begin() + l * E, share.begin() + (l + 1) * E);
        m.routerEntropy = blobFloats(st.columnBlob(13));
        out.push_back(std::move(m));
    }
    return out;
}

std::vector<RunEvent> RunStore::events(int64_t runId) const {
    SqlStatement st(project_.handle(), "SELECT step, kind, message FROM run_events WHERE run_id = ? ORDER BY id");
    st.bind(1, runId);
    std::vector<RunEvent> out;
    while (st.step()) out.push_back(RunEvent{st.columnInt(0), st.columnText(1), st.columnText(2)});
    return out;
}

void RunStore::deleteRun(int64_t id) {
    SqlTransaction tx(project_.handle());
    SqlStatement(project_.handle(), "DELETE FROM runs WHERE id = ?").bind(1, id).run();
    tx.commit();
}

// ---------------------------------------------------------------------------------------------
struct RunRecorder::Item {
    enum Kind { Start, Step, Validation, Warning, Checkpoint, Finish } kind;
    explicit Item(Kind k) : kind(k) {}
    json manifest;
    int64_t startStep = 0;
    StepMetrics step;
    ValidationMetrics validation;
    int64_t eventStep = 0;
    std::string text;
    RunResult result;
};

RunRecorder::RunRecorder(std::string projectPath, std::string runDir, std::string runName)
    : projectPath_(std::move(projectPath)), runDir_(canonicalDir(runDir)), runName_(std::move(runName)) {
    registerTrainingSchema();
    // Register synchronously so that runId() is known and a bad project fails before training.
    ProjectStore project = ProjectStore::open(projectPath_);
    SqlStatement st(project.handle(), "SELECT id FROM runs WHERE run_dir = ?");
    st.bind(1, runDir_);
    if (st.step()) runId_ = st.columnInt(0);
    thread_ = std::thread([this] { worker(); });
}

RunRecorder::~RunRecorder() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void RunRecorder::enqueue(Item item) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(item));
    }
    wake_.notify_all();
}

void RunRecorder::onStart(const json& manifest, int64_t startStep) {
    Item i(Item::Start);
    i.manifest = manifest;
    i.startStep = startStep;
    enqueue(std::move(i));
    flush();   // the run row must exist before anything refers to it
}
void RunRecorder::onStep(const StepMetrics& m) { Item i(Item::Step); i.step = m; enqueue(std::move(i)); }
void RunRecorder::onValidation(const ValidationMetrics& v) { Item i(Item::Validation); i.validation = v; enqueue(std::move(i)); }
void RunRecorder::onWarning(int64_t step, const std::string& message) {
    Item i(Item::Warning);
    i.eventStep = step;
    i.text = message;
    enqueue(std::move(i));
}
void RunRecorder::onCheckpoint(int64_t step, const std::string& path) {
    Item i(Item::Checkpoint);
    i.eventStep = step;
    i.text = path;
    enqueue(std::move(i));
}
void RunRecorder::onFinish(const RunResult& r) {
    Item i(Item::Finish);
    i.result = r;
    enqueue(std::move(i));
    flush();
}

void RunRecorder::flush() {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.notify_all();
    drained_.wait(lock, [&] { return (queue_.empty() && inFlight_ == 0) || !thread_.joinable(); });
}

std::string RunRecorder::lastError() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lastError_;
}

void RunRecorder::worker() {
    std::optional<ProjectStore> project;
    try {
        project.emplace(ProjectStore::open(projectPath_));
    } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        lastError_ = e.what();
    }
    for (;;) {
        std::vector<Item> batch;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            // Batch: wake at once for starts/finishes (flush), else at most once a second.
            wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || !queue_.empty(); });
            batch.swap(queue_);
            inFlight_ = batch.size();
            if (batch.empty() && stop_) {
                drained_.notify_all();
                return;
            }
        }
        if (project && !batch.empty()) {
            try {
                SqlTransaction tx(project->handle());
                for (const Item& item : batch) writeItem(project->handle(), item);
                tx.commit();
            } catch (const std::exception& e) {
                std::lock_guard<std::mutex> lock(mutex_);
                lastError_ = e.what();
            }
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            inFlight_ = 0;
        }
        drained_.notify_all();
    }
}

void RunRecorder::writeItem(sqlite3* db, const Item& item) {
    switch (item.kind) {
    case Item::Start: writeStart(db, item); return;
    case Item::Step: writeStep(db, item.step); return;
    case Item::Validation: writeValidation(db, item.validation); return;
    case Item::Warning:
    case Item::Checkpoint: writeEvent(db, item); return;
    case Item::Finish: writeFinish(db, item.result); return;
    }
}

void RunRecorder::writeStart(sqlite3* db, const Item& item) {
    const json& m = item.manifest;
    const std::string now = utcTimestamp();
    if (runId_ == 0) {
        SqlStatement ins(db,
            "INSERT INTO runs (name, run_dir, dataset_id, base_model, config_json, model_config_json, "
            "status, created_at, updated_at, total_steps, device) "
            "VALUES (?, ?, NULLIF(?, 0), ?, ?, ?, 'running', ?, ?, ?, ?)");
        ins.bind(1, runName_).bind(2, runDir_)
            .bind(3, m.contains("dataset") ? m["dataset"].value("id", int64_t(0)) : int64_t(0))
            .bind(4, m.value("base_model", "")).bind(5, m["config"].dump())
            .bind(6, m.value("model_config", json::object()).dump()).bind(7, now).bind(8, now)
            .bind(9, m.value("total_steps", int64_t(0))).bind(10, m.value("device", ""));
        ins.run();
        runId_ = sqlite3_last_insert_rowid(db);
    } else {
        SqlStatement up(db, "UPDATE runs SET status = 'running', updated_at = ? WHERE id = ?");
        up.bind(1, now).bind(2, runId_).run();
    }
    // Steps after the checkpoint we resume from will run again.
    SqlStatement del(db, "DELETE FROM run_metrics WHERE run_id = ? AND step > ?");
    del.bind(1, runId_).bind(2, item.startStep).run();
}

void RunRecorder::writeStep(sqlite3* db, const StepMetrics& s) {
    std::vector<float> share;
    for (const auto& layer : s.expertShare)
        for (double v : layer) share.push_back(float(v));
    std::vector<float> entropy(s.routerEntropy.begin(), s.routerEntropy.end());
    SqlStatement ins(db,
        "INSERT OR REPLACE INTO run_metrics (run_id, kind, step, epoch, loss, aux_loss, lr, grad_norm, "
        "tokens, tokens_per_s, elapsed_s, n_layer, n_expert, expert_share, router_entropy) "
        "VALUES (?, 'train', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    std::string shareBlob = floatBlob(share), entropyBlob = floatBlob(entropy);
    ins.bind(1, runId_).bind(2, s.step).bind(3, s.epoch).bind(4, s.loss).bind(5, s.auxLoss)
        .bind(6, s.lr).bind(7, s.gradNorm).bind(8, s.tokens).bind(9, s.tokensPerSecond)
        .bind(10, s.elapsedSeconds).bind(11, int64_t(s.expertShare.size()))
        .bind(12, int64_t(s.expertShare.empty() ? 0 : s.expertShare[0].size()))
        .bindBlob(13, shareBlob.data(), shareBlob.size())
        .bindBlob(14, entropyBlob.data(), entropyBlob.size());
    ins.run();
    SqlStatement up(db, "UPDATE runs SET steps_done = ?, seconds = ?, train_loss = ?, updated_at = ? WHERE id = ?");
    up.bind(1, s.step).bind(2, s.elapsedSeconds).bind(3, s.loss).bind(4, utcTimestamp()).bind(5, runId_).run();
}

void RunRecorder::writeValidation(sqlite3* db, const ValidationMetrics& v) {
    SqlStatement ins(db, "INSERT OR REPLACE INTO run_metrics (run_id, kind, step, epoch, loss, tokens) "
                         "VALUES (?, ?, ?, ?, ?, ?)");
    ins.bind(1, runId_).bind(2, v.epochEnd ? "val_epoch" : "val").bind(3, v.step).bind(4, v.epoch)
        .bind(5, v.loss).bind(6, v.tokens).run();
    SqlStatement up(db, "UPDATE runs SET validation_loss = ? WHERE id = ?");
    up.bind(1, v.loss).bind(2, runId_).run();
}

void RunRecorder::writeEvent(sqlite3* db, const Item& item) {
    SqlStatement ins(db, "INSERT INTO run_events (run_id, step, kind, message, created_at) VALUES (?, ?, ?, ?, ?)");
    ins.bind(1, runId_).bind(2, item.eventStep)
        .bind(3, item.kind == Item::Warning ? "warning" : "checkpoint").bind(4, item.text)
        .bind(5, utcTimestamp()).run();
    if (item.kind == Item::Checkpoint) {
        SqlStatement cp(db, "INSERT OR REPLACE INTO run_checkpoints (run_id, step, path, created_at) VALUES (?, ?, ?, ?)");
        cp.bind(1, runId_).bind(2, item.eventStep).bind(3, item.text).bind(4, utcTimestamp()).run();
    }
}

void RunRecorder::writeFinish(sqlite3* db, const RunResult& r) {
    SqlStatement up(db,
        "UPDATE runs SET status = ?, steps_done = ?, seconds = ?, train_loss = ?, "
        "validation_loss = CASE WHEN ? >= 0 THEN ? ELSE validation_loss END, "
        "final_model = NULLIF(?, ''), message = ?, updated_at = ? WHERE id = ?");
    up.bind(1, statusName(r.status)).bind(2, r.steps).bind(3, r.seconds).bind(4, r.trainLoss)
        .bind(5, r.validationLoss).bind(6, r.validationLoss).bind(7, r.finalModelDir)
        .bind(8, r.message).bind(9, utcTimestamp()).bind(10, runId_).run();
}

} // namespace swarm
