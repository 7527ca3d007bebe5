#pragma once
// Runs one long job (import, training, generation, export...) on its own QThread and reports back
// on the UI thread: progress while it runs, the items it streams (tokens, training steps...) in
// the order it sent them, then finished(ok, message). The UI thread never blocks.
#include <QObject>
#include <QString>
#include <QThread>
#include <QVariant>

#include <atomic>
#include <functional>

namespace swarm::ui {

class JobRunner : public QObject {
    Q_OBJECT
public:
    // `work` runs on the worker thread; it may call report(fraction, text) and emitChunk(item) from
    // there and should poll cancelled(). A swarm::Error (or any exception) it throws becomes
    // finished(false, what).
    using Work = std::function<QString(JobRunner& job)>;

    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;                  // cancels and waits

    bool start(const QString& title, Work work);   // false if a job is already running
    void cancel() { cancelled_.store(true); }
    // Blocks until the worker thread has ended; its chunks and finished may still be queued.
    void wait();
    // True from start() until finished has been emitted.
    bool running() const { return running_; }
    bool cancelled() const { return cancelled_.load(); }
    const std::atomic<bool>* cancelFlag() const { return &cancelled_; }
    const QString& title() const { return title_; }
    // The job whose worker thread calls this, or null on any other thread: for reporters that
    // libraries call deep inside a job (a model's download from the Hugging Face Hub).
    static JobRunner* current();

    // Thread-safe. Progress is throttled (a few updates a second reach the UI thread).
    void report(double fraction, const QString& text);
    // Thread-safe, from the job or any thread it runs code on: `item` arrives as chunk(item) on
    // the runner's thread after every chunk sent before it and before finished. Never dropped.
    void emitChunk(const QVariant& item);

signals:
    void started(const QString& title);
    void progress(double fraction, const QString& text);
    void chunk(const QVariant& item);
    void finished(bool ok, const QString& message);

private:
    QThread* thread_ = nullptr;
    QString title_;
    bool running_ = false;
    std::atomic<bool> cancelled_{false};
};

// A streamed item as a T, or null when it holds another type: the receiver of chunk() tells its
// kinds of item apart with it. Qt's type registry goes by name, so item types get names of their
// own in swarm::ui, never an anonymous namespace (two files' "(anonymous namespace)::Item" would
// be one type to it).
template <class T>
const T* chunkAs(const QVariant& item) {
    return item.metaType() == QMetaType::fromType<T>() ? static_cast<const T*>(item.constData()) : nullptr;
}

} // namespace swarm::ui
