#pragma once
// Training runs in the project store: the run, its per-step metrics (with expert utilisation),
// validation points, warnings and checkpoints. The "training" schema is added to a project by
// migration. RunRecorder writes a live run's events from a background thread in batched
// transactions, so the training step never waits for the disk.
#include "training/run_schema.h"
#include "training/trainer.h"

#include "core/project_store.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace swarm {

struct RunRecord {
    int64_t id = 0;
    std::string name;
    std::string runDir;
    int64_t datasetId = 0;             // 0: the dataset was deleted
    std::string baseModel;
    nlohmann::json config;
    std::string status;
    std::string createdAt, updatedAt;
    int64_t stepsDone = 0, totalSteps = 0;
    double seconds = 0;
    double trainLoss = 0;
    double validationLoss = -1;
    std::string finalModel;
    std::string device;
    std::string message;
};

struct MetricRow {
    std::string kind;                  // train, val, val_epoch
    int64_t step = 0;
    int epoch = 0;
    double loss = 0, auxLoss = 0, lr = 0, gradNorm = 0, tokensPerSecond = 0, elapsedSeconds = 0;
    int64_t tokens = 0;
    std::vector<std::vector<float>> expertShare;   // train rows: [layer][expert]
    std::vector<float> routerEntropy;              // train rows: [layer]
};

struct RunEvent {
    int64_t step = 0;
    std::string kind;                  // warning, checkpoint
    std::string message;
};

class RunStore {
public:
    explicit RunStore(ProjectStore& project) : project_(project) {}
    std::vector<RunRecord> runs() const;                      // newest first
    std::optional<RunRecord> run(int64_t id) const;
    std::optional<RunRecord> findByDir(const std::string& runDir) const;
    std::vector<MetricRow> metrics(int64_t runId, const std::string& kind = "") const;   // by step
    std::vector<RunEvent> events(int64_t runId) const;
    void deleteRun(int64_t id);                                 // the run folder stays on disk

private:
    ProjectStore& project_;
};

// A TrainingObserver that records into the project file at `projectPath` (its own connection,
// on its own thread). Create it before Trainer::run; it registers or updates the run on start.
class RunRecorder : public TrainingObserver {
public:
    RunRecorder(std::string projectPath, std::string runDir, std::string runName);
    ~RunRecorder() override;                  // flushes and joins
    void onStart(const nlohmann::json& manifest, int64_t startStep) override;
    void onStep(const StepMetrics& m) override;
    void onValidation(const ValidationMetrics& v) override;
    void onWarning(int64_t step, const std::string& message) override;
    void onCheckpoint(int64_t step, const std::string& path) override;
    void onFinish(const RunResult& r) override;
    void flush();                             // blocks until everything queued is written
    int64_t runId() const { return runId_; }
    // A write failure (disk full...) is kept here rather than thrown into the training loop.
    std::string lastError() const;

private:
    struct Item;
    void worker();
    // One queued event into the project (inside the worker's transaction).
    void writeItem(sqlite3* db, const Item& item);
    void writeStart(sqlite3* db, const Item& item);
    void writeStep(sqlite3* db, const StepMetrics& s);
    void writeValidation(sqlite3* db, const ValidationMetrics& v);
    void writeEvent(sqlite3* db, const Item& item);
    void writeFinish(sqlite3* db, const RunResult& r);
    void enqueue(Item item);

    std::string projectPath_, runDir_, runName_;
    int64_t runId_ = 0;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, drained_;
    std::vector<Item> queue_;
    bool stop_ = false;
    size_t inFlight_ = 0;
    std::string lastError_;
};

} // namespace swarm
