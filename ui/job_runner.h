#pragma once
// Runs one long job (import, model loading, export...) on its own QThread and reports back on the
// UI thread: progress while it runs, then finished(ok, message). The UI thread never blocks.
#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <functional>

namespace swarm::ui {

class JobRunner : public QObject {
    Q_OBJECT
public:
    // `work` runs on the worker thread; it may call report(fraction, text) from there and should
    // poll cancelled(). A swarm::Error (or any exception) it throws becomes finished(false, what).
    using Work = std::function<QString(JobRunner& job)>;

    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;                  // cancels and waits

    bool start(const QString& title, Work work);   // false if a job is already running
    void cancel() { cancelled_.store(true); }
    bool running() const { return running_; }
    bool cancelled() const { return cancelled_.load(); }
    const std::atomic<bool>* cancelFlag() const { return &cancelled_; }
    const QString& title() const { return title_; }

    void report(double fraction, const QString& text);   // thread-safe

signals:
    void started(const QString& title);
    void progress(double fraction, const QString& text);
    void finished(bool ok, const QString& message);

private:
    QThread* thread_ = nullptr;
    QString title_;
    bool running_ = false;
    std::atomic<bool> cancelled_{false};
};

} // namespace swarm::ui
