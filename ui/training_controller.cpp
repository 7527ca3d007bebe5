#include "ui/training_controller.h"

#include "ui/hub_models.h"
#include "ui/job_runner.h"

#include "training/local_launcher.h"
#include "training/run_folder.h"
#include "training/run_store.h"

#include "core/error.h"
#include "datasets/dataset_store.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

#include <csignal>
#include <thread>

namespace swarm::ui {

// The trainer's events that have no type of their own, as they travel through JobRunner::chunk
// (outside the anonymous namespace: chunkAs tells types apart by name).
struct RunStarted {
    qint64 startStep = 0, totalSteps = 0;
};
struct RunWarning {
    qint64 step = 0;
    QString message;
};
struct RunCheckpoint {
    qint64 step = 0;
    QString path;
};

namespace {

// Records every event in the project on the training thread itself, then streams it to the UI
// thread through the job.
class StreamingObserver : public TrainingObserver {
public:
    StreamingObserver(JobRunner& job, RunRecorder& recorder) : job_(job), recorder_(recorder) {}
    void onStart(const nlohmann::json& manifest, int64_t startStep) override {
        recorder_.onStart(manifest, startStep);
        job_.emitChunk(QVariant::fromValue(RunStarted{startStep, manifest.value("total_steps", int64_t(0))}));
    }
    void onStep(const StepMetrics& m) override {
        recorder_.onStep(m);
        job_.emitChunk(QVariant::fromValue(m));
    }
    void onValidation(const ValidationMetrics& v) override {
        recorder_.onValidation(v);
        job_.emitChunk(QVariant::fromValue(v));
    }
    void onWarning(int64_t step, const std::string& message) override {
        recorder_.onWarning(step, message);
        job_.emitChunk(QVariant::fromValue(RunWarning{step, QString::fromStdString(message)}));
    }
    void onCheckpoint(int64_t step, const std::string& path) override {
        recorder_.onCheckpoint(step, path);
        job_.emitChunk(QVariant::fromValue(RunCheckpoint{step, QString::fromStdString(path)}));
    }
    void onFinish(const RunResult& r) override { recorder_.onFinish(r); }

private:
    JobRunner& job_;
    RunRecorder& recorder_;
};

// Ranks 1..N-1 on this machine, this process rank 0. Called on the training thread: the ranks
// die with it (PR_SET_PDEATHSIG) and it waits for them before it ends.
LocalJob startRanks(const QString& swarmCli, int processes, std::chrono::milliseconds timeout) {
    if (swarmCli.isEmpty() || !QFileInfo(swarmCli).isExecutable())
        throw Error("training on " + std::to_string(processes) + " processes needs the swarm command-line program, which runs "
                    "ranks 1.." + std::to_string(processes - 1) + ", beside the workbench: there is none at " +
                    (swarmCli.isEmpty() ? QDir(QCoreApplication::applicationDirPath()).filePath("swarm") : swarmCli).toStdString() +
                    " (install it there, or train on 1 process)");
    return startLocalJob(swarmCli.toStdString(), processes, "auto", timeout);
}

// After rank 0's run the other ranks end on their own (they stop at the same step); one that
// has not within the collective timeout is stopped. "" when every rank ended well.
std::string waitForRanks(LocalRanks& ranks, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ranks.poll()) {
        if (std::chrono::steady_clock::now() > deadline) {
            ranks.signalAll(SIGKILL);
            ranks.wait();
            return "a rank did not end within " + std::to_string(timeout.count() / 1000) + " s of rank 0 and was stopped";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return ranks.exitCode() == 1 ? ranks.failure() : std::string();
}

} // namespace

QString swarmCliBesideThisProgram() {
    const QString path = QDir(QCoreApplication::applicationDirPath()).filePath("swarm");
    return QFileInfo(path).isExecutable() ? path : QString();
}

TrainingController::TrainingController(QObject* parent)
    : QObject(parent), job_(new JobRunner(this)), swarmCli_(swarmCliBesideThisProgram()) {
    qRegisterMetaType<swarm::StepMetrics>();
    qRegisterMetaType<swarm::ValidationMetrics>();
    qRegisterMetaType<swarm::RunResult>();
    connect(job_, &JobRunner::chunk, this, &TrainingController::deliver);
    connect(job_, &JobRunner::progress, this, [this](double, const QString& text) { emit preparing(text); });
    connect(job_, &JobRunner::finished, this, &TrainingController::finish);
}

TrainingController::~TrainingController() {
    // The training thread reads control_: it must end before this object's members do.
    cancel();
    waitForFinished();
}

void TrainingController::cancel() {
    control_.store(kCancel);
    job_->cancel();
}

bool TrainingController::running() const { return job_->running(); }

void TrainingController::waitForFinished() { job_->wait(); }

bool TrainingController::startNew(const QString& projectPath, const QString& runDir, const QString& runName,
                                  const QString& baseModel, const TrainConfig& config, int64_t datasetId) {
    const std::string project = projectPath.toStdString(), dir = runDir.toStdString(), base = baseModel.toStdString();
    return launch([=](Distributed* dist) {
        // A repo id (org/name[@rev]) is the cache's snapshot, downloaded here when missing.
        return Trainer::create(dir, resolvePickedModel(base), config, loadTrainingData(project, std::to_string(datasetId)), dist);
    }, projectPath, runDir, runName);
}

bool TrainingController::startPretraining(const QString& projectPath, const QString& runDir, const QString& runName,
                                          const QString& baseModel, const TrainConfig& config, const QString& corpusName) {
    const std::string project = projectPath.toStdString(), dir = runDir.toStdString(), base = baseModel.toStdString(),
                      corpus = corpusName.toStdString();
    return launch([=](Distributed* dist) {
        return Trainer::create(dir, resolvePickedModel(base), config, loadCorpusData(project, corpus), dist);
    }, projectPath, runDir, runName);
}

bool TrainingController::resume(const QString& projectPath, const QString& runDir) {
    const std::string project = projectPath.toStdString(), dir = runDir.toStdString();
    return launch([=](Distributed* dist) {
        nlohmann::json manifest = run_folder::readManifest(dir);
        return Trainer::resume(dir, loadRunData(project, manifest), dist);
    }, projectPath, runDir, QFileInfo(runDir).fileName());
}

void TrainingController::setProcesses(int processes, std::chrono::milliseconds timeout) {
    processes_ = std::max(1, processes);
    distTimeout_ = timeout;
}

bool TrainingController::launch(std::function<std::unique_ptr<Trainer>(Distributed*)> makeTrainer, const QString& projectPath,
                                const QString& runDir, const QString& runName) {
    if (job_->running()) return false;
    control_.store(kRun);
    const std::string project = projectPath.toStdString(), dir = runDir.toStdString(), name = runName.toStdString();
    const int processes = processes_;
    const QString cli = swarmCli_;
    const std::chrono::milliseconds timeout = distTimeout_;
    return job_->start("training", [this, makeTrainer, project, dir, name, processes, cli, timeout](JobRunner& job) {
        LocalJob ranks;
        if (processes > 1) ranks = startRanks(cli, processes, timeout);
        RunResult result;
        try {
            std::unique_ptr<Trainer> trainer = makeTrainer(ranks.dist.get());
            RunRecorder recorder(project, dir, name);
            StreamingObserver observer(job, recorder);
            result = trainer->run(&observer, &control_);
            recorder.flush();
            if (!recorder.lastError().empty()) throw Error("the project store was not updated: " + recorder.lastError());
        } catch (const std::exception& e) {
            // A rank that died is the cause to name; rank 0's timeout only follows from it.
            if (ranks.workers) {
                ranks.workers->poll();
                if (!ranks.workers->failure().empty()) throw Error(ranks.workers->failure() + " (rank 0: " + e.what() + ")");
            }
            throw;
        }
        if (ranks.workers) {
            const std::string failure = waitForRanks(*ranks.workers, timeout);
            if (!failure.empty()) throw Error(failure);
        }
        job.emitChunk(QVariant::fromValue(result));
        return QString::fromStdString(result.message);
    });
}

void TrainingController::deliver(const QVariant& item) {
    if (const auto* m = chunkAs<StepMetrics>(item)) emit step(*m);
    else if (const auto* v = chunkAs<ValidationMetrics>(item)) emit validation(*v);
    else if (const auto* s = chunkAs<RunStarted>(item)) emit started(s->startStep, s->totalSteps);
    else if (const auto* w = chunkAs<RunWarning>(item)) emit warning(w->step, w->message);
    else if (const auto* c = chunkAs<RunCheckpoint>(item)) emit checkpoint(c->step, c->path);
    else if (const auto* r = chunkAs<RunResult>(item)) result_ = *r;
}

void TrainingController::finish(bool ok, const QString& message) {
    if (ok) emit finished(result_);
    else emit failed(message);
    result_ = {};
}

} // namespace swarm::ui
