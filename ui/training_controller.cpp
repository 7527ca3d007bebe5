#include "ui/training_controller.h"

#include "training/run_folder.h"
#include "training/run_store.h"

#include "core/error.h"
#include "datasets/dataset_store.h"

#include <QFileInfo>
#include <QMetaObject>

namespace swarm::ui {

namespace {

// Forwards every event to the controller's thread (the UI thread) as a queued call, then to the
// project recorder on the training thread itself.
class QueuedObserver : public TrainingObserver {
public:
    QueuedObserver(TrainingController* target, RunRecorder* recorder) : target_(target), recorder_(recorder) {}
    void onStart(const nlohmann::json& manifest, int64_t startStep) override {
        recorder_->onStart(manifest, startStep);
        const qint64 total = manifest.value("total_steps", int64_t(0));
        QMetaObject::invokeMethod(target_, [t = target_, startStep, total] { emit t->started(startStep, total); }, Qt::QueuedConnection);
    }
    void onStep(const StepMetrics& m) override {
        recorder_->onStep(m);
        QMetaObject::invokeMethod(target_, [t = target_, m] { emit t->step(m); }, Qt::QueuedConnection);
    }
    void onValidation(const ValidationMetrics& v) override {
        recorder_->onValidation(v);
        QMetaObject::invokeMethod(target_, [t = target_, v] { emit t->validation(v); }, Qt::QueuedConnection);
    }
    void onWarning(int64_t step, const std::string& message) override {
        recorder_->onWarning(step, message);
        QString text = QString::fromStdString(message);
        QMetaObject::invokeMethod(target_, [t = target_, step, text] { emit t->warning(step, text); }, Qt::QueuedConnection);
    }
    void onCheckpoint(int64_t step, const std::string& path) override {
        recorder_->onCheckpoint(step, path);
        QString p = QString::fromStdString(path);
        QMetaObject::invokeMethod(target_, [t = target_, step, p] { emit t->checkpoint(step, p); }, Qt::QueuedConnection);
    }
    void onFinish(const RunResult& r) override { recorder_->onFinish(r); }

private:
    TrainingController* target_;
    RunRecorder* recorder_;
};

} // namespace

TrainingController::TrainingController(QObject* parent) : QObject(parent) {
    qRegisterMetaType<swarm::StepMetrics>();
    qRegisterMetaType<swarm::ValidationMetrics>();
    qRegisterMetaType<swarm::RunResult>();
}

TrainingController::~TrainingController() {
    cancel();
    waitForFinished();
}

void TrainingController::waitForFinished() {
    if (!thread_) return;
    thread_->wait();
    delete thread_;
    thread_ = nullptr;
}

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
    if (thread_) return false;
    control_.store(kRun);
    const std::string project = projectPath.toStdString(), dir = runDir.toStdString(), name = runName.toStdString();
    thread_ = QThread::create([this, makeTrainer, project, dir, name] {
        RunResult result;
        QString error;
        try {
            std::unique_ptr<Trainer> trainer = makeTrainer();
            RunRecorder recorder(project, dir, name);
            QueuedObserver observer(this, &recorder);
            result = trainer->run(&observer, &control_);
            recorder.flush();
            if (!recorder.lastError().empty())
                error = QString::fromStdString("the project store was not updated: " + recorder.lastError());
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        QMetaObject::invokeMethod(this, [this, result, error] {
            waitForFinished();
            if (error.isEmpty()) emit finished(result);
            else emit failed(error);
        }, Qt::QueuedConnection);
    });
    thread_->setObjectName("training");
    thread_->start();
    return true;
}

} // namespace swarm::ui
