#pragma once
// The training loop: AdamW, cosine schedule with warm-up, gradient accumulation to a global
// batch, clipping, the load-balancing loss, validation, checkpoints and exact resume. One loop
// for both objectives: fine-tuning on a dataset's examples (the prompt masked) and pre-training
// on a corpus's packed windows (TrainingData::corpus set); training/batch_source.h tells them apart.
// Observers receive plain C++ callbacks on the training thread; the GUI wraps them in signals.
#include "training/batch_plan.h"
#include "training/train_config.h"
#include "training/training_data.h"

#include "model/eve_model.h"
#include "core/project_store.h"
#include "datasets/dataset_store.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm {

struct StepMetrics {
    int64_t step = 0;                 // optimiser steps done, 1-based
    int64_t totalSteps = 0;
    int epoch = 0;                    // 0-based
    double loss = 0;                  // cross-entropy over response tokens
    double auxLoss = 0;               // load-balancing loss summed over layers
    double lr = 0;
    double gradNorm = 0;              // before clipping
    int64_t tokens = 0;               // real (unpadded) tokens in the step
    double tokensPerSecond = 0;
    double elapsedSeconds = 0;        // whole run, across resumes
    double etaSeconds = 0;
    std::vector<std::vector<double>> expertShare;   // [layer][expert]: share of routed assignments
    std::vector<double> routerEntropy;              // [layer]: mean per-token entropy of the router, nats
    // Data parallelism (all zero in one process): this step's time in the all-reduces of
    // gradients and statistics, and the bytes each rank all-reduced.
    int ranks = 1;
    double allReduceSeconds = 0;
    int64_t allReduceBytes = 0;
};

struct ValidationMetrics {
    int64_t step = 0;
    int epoch = 0;
    double loss = 0;                  // mean NLL per labelled token, nats
    double perplexity = 0;            // exp(loss)
    int64_t tokens = 0;               // labelled tokens scored
    bool epochEnd = false;
};

struct RunResult {
    enum Status { Finished, Paused, Cancelled, Diverged };
    Status status = Finished;
    int64_t steps = 0;
    int64_t totalSteps = 0;
    double trainLoss = 0;
    double validationLoss = -1;       // < 0: none measured (its perplexity is exp of it)
    double seconds = 0;
    std::string finalModelDir;        // set when Finished
    std::string lastCheckpoint;
    std::string message;
};
const char* statusName(RunResult::Status s);

class TrainingObserver {
public:
    virtual ~TrainingObserver() = default;
    virtual void onStart(const nlohmann::json& /*runManifest*/, int64_t /*startStep*/) {}
    virtual void onStep(const StepMetrics&) {}
    virtual void onValidation(const ValidationMetrics&) {}
    virtual void onWarning(int64_t /*step*/, const std::string& /*message*/) {}
    virtual void onCheckpoint(int64_t /*step*/, const std::string& /*path*/) {}
    virtual void onFinish(const RunResult&) {}
};

// Sent to Trainer::run through an atomic; checked between micro-batches.
enum TrainControl : int { kRun = 0, kPause = 1, kCancel = 2 };

class BatchSource;
class Distributed;
class GradientAllReduce;

class Trainer {
public:
    // A new run in runDir (created; must not already hold a run). Throws swarm::Error.
    // With `dist` (training/distributed.h) this process is one rank of a data-parallel job: rank 0
    // alone creates and writes the run folder, broadcasts its initial weights, and every rank
    // must bring the same config, model config and dataset (checked, one error naming the
    // difference). Every rank passes its own config and data; run() then computes its share of
    // each global batch and the gradients are summed over the ranks before the optimiser step.
    static std::unique_ptr<Trainer> create(const std::string& runDir, const std::string& baseModelDir,
                                           const TrainConfig& config, TrainingData data, Distributed* dist = nullptr);
    // Continues runDir from its latest checkpoint (or from the start if none was written).
    // With `dist`: rank 0 reads the run folder and the checkpoint and sends weights, AdamW state
    // and position to the other ranks, which need neither (their runDir is only a name); the
    // world size may differ from the earlier sessions'.
    static std::unique_ptr<Trainer> resume(const std::string& runDir, TrainingData data, Distributed* dist = nullptr);

    ~Trainer();
    RunResult run(TrainingObserver* observer = nullptr, const std::atomic<int>* control = nullptr);

    const TrainConfig& config() const { return config_; }
    int64_t totalSteps() const { return totalSteps_; }
    int64_t startStep() const { return step_; }
    const std::string& runDir() const { return runDir_; }
    const EveModel& model() const { return model_; }

private:
    struct Session;
    struct Accumulated;

    Trainer() = default;
    void setUp(const std::string& modelDir);
    // Forward and backward over a global batch's micro-batches; false when asked to stop midway.
    bool accumulate(const GlobalBatch& batch, Session& session, Accumulated& acc);
    // Data parallelism: sums the step's statistics and stop requests over the ranks; returns the
    // agreed control (kRun, kPause, kCancel).
    int combineAcrossRanks(Accumulated& acc, int control);
    void joinRanks(const char* mode, bool hasCheckpoint);
    bool isRank0() const;
    void reportStep(Session& session, const Accumulated& acc, int epoch, double lr, double gradNorm, double stepSeconds);
    void emitValidation(Session& session, bool epochEnd);
    void clearGradients();
    RunResult finish(Session& session, RunResult::Status status, const std::string& message);
    std::string divergenceMessage(double trainLoss, double gradNorm, double lr) const;
    struct Validation {
        double loss = -1;
        int64_t tokens = 0;           // 0: nothing held out
    };
    Validation validate();
    void writeManifest(const std::string& status, const RunResult* result);
    std::string writeCheckpoint(TrainingObserver* observer);
    nlohmann::json trainerState() const;

    TrainConfig config_;
    TrainingData data_;
    std::unique_ptr<BatchSource> batches_;   // over data_
    std::string runDir_;
    std::string baseModelDir_;
    nlohmann::json manifest_;
    EveModel model_{nullptr};
    std::unique_ptr<torch::optim::AdamW> optimizer_;
    torch::Device device_{torch::kCPU};
    Distributed* dist_ = nullptr;
    std::unique_ptr<GradientAllReduce> gradients_;
    int64_t stepsPerEpoch_ = 0;
    int64_t totalSteps_ = 0;
    int64_t step_ = 0;                  // optimiser steps done
    double elapsedBefore_ = 0;          // seconds spent in earlier sessions of this run
    std::chrono::steady_clock::time_point sessionStart_ = std::chrono::steady_clock::now();
    double elapsedNow() const {
        return elapsedBefore_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - sessionStart_).count();
    }
    double auxCoef_ = 0.01;
    double lastTrainLoss_ = 0;
    double lastValLoss_ = -1;
    std::string lastCheckpoint_;
};

} // namespace swarm
