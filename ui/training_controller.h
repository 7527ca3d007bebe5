#pragma once
// Runs a Trainer on a JobRunner's thread and turns its callbacks into Qt signals delivered on the
// UI thread. Pause and cancel are requests the trainer honours between micro-batches.
#include "training/trainer.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

namespace swarm {
class Distributed;
}

namespace swarm::ui {

class JobRunner;

// The `swarm` command-line program beside this one (the workbench and swarm are installed side
// by side in bin/, and built side by side in the build's app/): the ranks 1..N-1 of a run on N
// processes. "" when there is none.
QString swarmCliBesideThisProgram();

class TrainingController : public QObject {
    Q_OBJECT
public:
    explicit TrainingController(QObject* parent = nullptr);
    ~TrainingController() override;            // cancels a running run and waits for it

    // Loading the model and the data happens on the training thread (an eve-272m base takes
    // seconds); problems arrive as failed(message). False if a run is already in progress.
    bool startNew(const QString& projectPath, const QString& runDir, const QString& runName, const QString& baseModel,
                  const TrainConfig& config, int64_t datasetId);
    // Pre-training on corpus `corpusName` of the project: packed windows of config.context.
    bool startPretraining(const QString& projectPath, const QString& runDir, const QString& runName,
                          const QString& baseModel, const TrainConfig& config, const QString& corpusName);
    bool resume(const QString& projectPath, const QString& runDir);
    // Data parallel on this machine for the next start or resume: with processes > 1 this process
    // is rank 0 and ranks 1..N-1 are `swarm train --join` child processes
    // (training/local_launcher.h); one run, one set of signals, cancel stops every rank.
    // `timeout` bounds the rendezvous and every collective. 1: the run stays in this process.
    void setProcesses(int processes, std::chrono::milliseconds timeout = std::chrono::minutes(5));
    // The swarm program that runs ranks 1..N-1 (default: swarmCliBesideThisProgram()).
    void setSwarmCli(const QString& path) { swarmCli_ = path; }
    void pause() { control_.store(kPause); }
    void cancel();
    bool running() const;
    void waitForFinished();                    // joins the training thread; its signals may still be queued

signals:
    // What the training thread is doing before the first step (e.g. downloading a Hub base model).
    void preparing(const QString& message);
    void started(qint64 startStep, qint64 totalSteps);
    void step(const swarm::StepMetrics& m);
    void validation(const swarm::ValidationMetrics& v);
    void warning(qint64 step, const QString& message);
    void checkpoint(qint64 step, const QString& path);
    void finished(const swarm::RunResult& result);
    void failed(const QString& message);

private:
    bool launch(std::function<std::unique_ptr<Trainer>(Distributed*)> makeTrainer, const QString& projectPath,
                const QString& runDir, const QString& runName);
    void deliver(const QVariant& item);
    void finish(bool ok, const QString& message);

    JobRunner* job_;
    std::atomic<int> control_{kRun};
    RunResult result_;                         // the finished run's, streamed just before finished
    int processes_ = 1;
    QString swarmCli_;
    std::chrono::milliseconds distTimeout_{std::chrono::minutes(5)};
};

} // namespace swarm::ui
