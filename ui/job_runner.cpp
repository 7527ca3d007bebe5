#include "ui/job_runner.h"

#include <QElapsedTimer>
#include <QMetaObject>

#include <exception>

namespace swarm::ui {

JobRunner::JobRunner(QObject* parent) : QObject(parent) {}

JobRunner::~JobRunner() {
    cancel();
    wait();
}

void JobRunner::wait() {
    if (!thread_) return;
    thread_->wait();
    delete thread_;
    thread_ = nullptr;
}

namespace {
thread_local JobRunner* tCurrentJob = nullptr;
}

JobRunner* JobRunner::current() { return tCurrentJob; }

bool JobRunner::start(const QString& title, Work work) {
    if (running_) return false;
    wait();   // the previous job's thread, already past its last post
    running_ = true;
    title_ = title;
    cancelled_.store(false);
    emit started(title);
    thread_ = QThread::create([this, work = std::move(work)] {
        bool ok = true;
        QString message;
        tCurrentJob = this;
        try {
            message = work(*this);
        } catch (const std::exception& e) {
            ok = false;
            message = QString::fromUtf8(e.what());
        } catch (...) {
            ok = false;
            message = "unknown error";
        }
        QMetaObject::invokeMethod(this, [this, ok, message] {
            running_ = false;
            emit finished(ok, message);
        }, Qt::QueuedConnection);
    });
    thread_->setObjectName(title);
    thread_->start();
    return true;
}

void JobRunner::report(double fraction, const QString& text) {
    // At most ~20 updates a second reach the UI thread, however often the job reports.
    static thread_local QElapsedTimer last;
    if (last.isValid() && last.elapsed() < 50 && fraction < 1.0) return;
    last.restart();
    QMetaObject::invokeMethod(this, [this, fraction, text] { emit progress(fraction, text); }, Qt::QueuedConnection);
}

void JobRunner::emitChunk(const QVariant& item) {
    // Posted events to one receiver are delivered in the order they were posted, and finished is
    // posted after the job returns: chunks keep their order and all come before finished.
    QMetaObject::invokeMethod(this, [this, item] { emit chunk(item); }, Qt::QueuedConnection);
}

} // namespace swarm::ui
