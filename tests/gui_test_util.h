#pragma once
// Widget-test helpers (Qt): a closer for modal dialogs under the offscreen platform.
#include <QApplication>
#include <QDialog>
#include <QMessageBox>
#include <QStringList>
#include <QTimer>

#include <utility>

namespace guitest {

// Closes any modal dialog that opens and keeps its text: under the offscreen platform nobody
// would click it, and its exec() would hold the test's event loop (and every QSignalSpy::wait
// timeout) until CTest kills the process.
class ModalDialogCloser {
public:
    ModalDialogCloser() {
        timer_.setInterval(100);
        QObject::connect(&timer_, &QTimer::timeout, [this] {
            auto* dialog = qobject_cast<QDialog*>(QApplication::activeModalWidget());
            if (!dialog) return;
            auto* box = qobject_cast<QMessageBox*>(dialog);
            closed_ << QString("%1: %2").arg(dialog->windowTitle(), box ? box->text() : QString("(dialog)"));
            dialog->reject();
        });
        timer_.start();
    }
    // The dialogs closed since the last call.
    QStringList takeClosed() { return std::exchange(closed_, {}); }

private:
    QTimer timer_;
    QStringList closed_;
};

} // namespace guitest
