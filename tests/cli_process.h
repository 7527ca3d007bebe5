#pragma once
// Runs the built `swarm` binary (SWARM_CLI, a compile definition) as a user would, for the CLI
// tests: arguments, optional standard input, exit code and both output streams.
#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QStringList>

struct Result {
    int exitCode = -1;          // -1: crashed or killed at the time limit
    QString out;
    QString err;
};

inline Result runSwarm(const QStringList& args, const QByteArray& stdinData = {}, int timeoutMs = 300000) {
    QProcess p;
    p.start(SWARM_CLI, args);
    if (!stdinData.isEmpty()) p.write(stdinData);
    p.closeWriteChannel();
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
    }
    Result r;
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}
