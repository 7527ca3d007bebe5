#pragma once
// What the tests of whole training runs compare (Qt): a run folder's metrics.csv without its
// timing columns, a file's bytes, the number of optimiser steps written, and a bounded wait.
#include <QByteArray>
#include <QFile>
#include <QString>
#include <QThread>

#include <functional>

namespace runtest {

// metrics.csv's first 8 columns (kind, step, epoch, loss ... tokens): tokens/s and elapsed time
// differ between any two runs, the rest must not.
inline QByteArray deterministicMetrics(const QString& runDir) {
    QFile f(runDir + "/metrics.csv");
    if (!f.open(QIODevice::ReadOnly)) return {};
    QByteArray out;
    for (const QByteArray& line : f.readAll().split('\n'))
        if (!line.isEmpty()) out += line.split(',').mid(0, 8).join(',') + '\n';
    return out;
}

inline QByteArray fileBytes(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

inline int trainRows(const QString& runDir) {
    int n = 0;
    for (const QByteArray& line : fileBytes(runDir + "/metrics.csv").split('\n')) n += line.startsWith("train,");
    return n;
}

inline bool waitFor(const std::function<bool()>& ready, int timeoutMs) {
    for (int waited = 0; waited < timeoutMs; waited += 20) {
        if (ready()) return true;
        QThread::msleep(20);
    }
    return false;
}

} // namespace runtest
