#pragma once
// Runs a Trainer on a JobRunner's thread and turns its callbacks into Qt signals delivered on the
// UI thread. Pause and cancel are requests the trainer honours between micro-batches.
#include "training/trainer.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <functional>
#include <memory>

namespace swarm::ui {

class JobRunner;

class TrainingController : public QObject {
    Q_OBJECT
public:
    explicit TrainingController(QObject* parent = nullptr);
    ~TrainingController() override;            // cancels a running run and waits for it

    // Loading the model and the data happens on the training thread (an eve-272m base takes
    // seconds); problems arrive as failed(message). False if a run is already in progress.
    bool startNew(const QString& projectPath, const QString& runDir, const QString& runName, const QString& baseModel,
                  const TrainConfig& config, int64_t datasetId);
    bool resume(const QString& projectPath, const QString& runDir);
    void pause() { control_.store(kPause); }
    void cancel();
    bool running() const;
    void waitForFinished();                    // joins the training thread; its signals may still be queued

signals:
    void started(qint64 startStep, qint64 totalSteps);
    void step(const swarm::StepMetrics& m);
    void validation(const swarm::ValidationMetrics& v);
    void warning(qint64 step, const QString& message);
    void checkpoint(qint64 step, const QString& path);
    void finished(const swarm::RunResult& result);
    void failed(const QString& message);

private:
    bool launch(std::function<std::unique_ptr<Trainer>()> makeTrainer, const QString& projectPath, const QString& runDir,
                const QString& runName);
    void deliver(const QVariant& item);
    void finish(bool ok, const QString& message);

    JobRunner* job_;
    std::atomic<int> control_{kRun};
    RunResult result_;                         // the finished run's, streamed just before finished
};

} // namespace swarm::ui
