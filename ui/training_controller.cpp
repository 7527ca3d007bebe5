#include "ui/training_controller.h"

#include "ui/job_runner.h"

#include "training/run_folder.h"
#include "training/run_store.h"

#include "core/error.h"
#include "datasets/dataset_store.h"

#include <QFileInfo>

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

} // namespace

TrainingController::TrainingController(QObject* parent) : QObject(parent), job_(new JobRunner(this)) {
    qRegisterMetaType<swarm::StepMetrics>();
    qRegisterMetaType<swarm::ValidationMetrics>();
    qRegisterMetaType<swarm::RunResult>();
    connect(job_, &JobRunner::chunk, this, &TrainingController::deliver);
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
    return launch([=] { return Trainer::create(dir, base, config, loadTrainingData(project, std::to_string(datasetId))); }, projectPath,
                  runDir, runName);
}

bool TrainingController::resume(const QString& projectPath, const QString& runDir) {
    const std::string project = projectPath.toStdString(), dir = runDir.toStdString();
    return launch([=] {
        nlohmann::json manifest = run_folder::readManifest(dir);
        return Trainer::resume(dir, loadTrainingData(project, std::to_string(manifest["dataset"].value("id", int64_t(0)))));
    }, projectPath, runDir, QFileInfo(runDir).fileName());
}

bool TrainingController::launch(std::function<std::unique_ptr<Trainer>()> makeTrainer, const QString& projectPath,
                                const QString& runDir, const QString& runName) {
    if (job_->running()) return false;
    control_.store(kRun);
    const std::string project = projectPath.toStdString(), dir = runDir.toStdString(), name = runName.toStdString();
    return job_->start("training", [this, makeTrainer, project, dir, name](JobRunner& job) {
        std::unique_ptr<Trainer> trainer = makeTrainer();
        RunRecorder recorder(project, dir, name);
        StreamingObserver observer(job, recorder);
        const RunResult result = trainer->run(&observer, &control_);
        recorder.flush();
        if (!recorder.lastError().empty()) throw Error("the project store was not updated: " + recorder.lastError());
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
