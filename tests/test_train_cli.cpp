// `swarm train` as a process: killed with SIGKILL mid-run it loses at most the steps since the
// last checkpoint, the project stays consistent, and --resume reproduces the uninterrupted run's
// per-step losses; Ctrl-C stops cleanly with a checkpoint.
#include "core/project_store.h"
#include "datasets/dataset_store.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <csignal>
#include <map>
#include <random>
#include <sqlite3.h>

using namespace swarm;

namespace {

QString g_base;       // a tiny model folder shared by the tests
QString g_project;

std::map<int64_t, double> trainLosses(const QString& runDir) {
    QFile f(runDir + "/metrics.csv");
    std::map<int64_t, double> out;
    if (!f.open(QIODevice::ReadOnly)) return out;
    for (const QByteArray& line : f.readAll().split('\n')) {
        QList<QByteArray> cells = line.split(',');
        if (cells.size() > 3 && cells[0] == "train") out[cells[1].toLongLong()] = cells[3].toDouble();
    }
    return out;
}

QStringList trainArgs(const QString& runDir) {
    return {"train", "--project", g_project, "--dataset", "synthetic", "--base", g_base, "--out", runDir,
            "--preset", "quick-test", "--max-steps", "12", "--checkpoint-every", "3", "--eval-every", "0",
            "--threads", "1", "--seed", "3"};
}

int runToEnd(const QStringList& args, QString* err = nullptr) {
    QProcess p;
    p.start(SWARM_CLI, args);
    p.waitForFinished(600000);
    if (err) *err = QString::fromUtf8(p.readAllStandardError());
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

bool waitForFile(const QString& path, int timeoutMs) {
    for (int waited = 0; waited < timeoutMs; waited += 50) {
        if (QFile::exists(path)) return true;
        QThread::msleep(50);
    }
    return false;
}

} // namespace

class TestTrainCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void initTestCase() {
        g_base = tmp_.filePath("base");
        QCOMPARE(QProcess::execute(SWARM_CLI, {"model", "init", "--preset", "tiny", "--out", g_base, "--seed", "2"}), 0);
        // A project with a synthetic dataset: random prompts, a fixed response phrase.
        g_project = tmp_.filePath("p.swarm");
        ProjectStore store = ProjectStore::create(g_project.toStdString());
        NewDataset nd;
        nd.name = "synthetic";
        nd.sourcePath = "generated";
        nd.sourceFormat = "jsonl";
        DatasetWriter w = DatasetStore(store).beginDataset(nd);
        std::mt19937 rng(1);
        DatasetCounts counts;
        for (int i = 0; i < 120; ++i) {
            std::vector<int32_t> ids;
            int promptLen = 4 + int(rng() % 10);
            for (int t = 0; t < promptLen; ++t) ids.push_back(int32_t(rng() % 2000));
            for (int32_t t : {464, 3280, 318, 50256}) ids.push_back(t);
            Split split = i < 100 ? Split::Train : Split::Validation;
            w.addExample(i + 1, split, "p", "r", ids, promptLen, 0, uint64_t(i));
            (split == Split::Train ? counts.nTrain : counts.nValidation)++;
        }
        counts.rowsRead = counts.rowsImported = 120;
        w.commit(counts, nlohmann::json::object());
    }

    void sigkillThenResumeMatchesUninterrupted() {
        const QString straight = tmp_.filePath("straight");
        QString err;
        QCOMPARE(runToEnd(trainArgs(straight), &err), 0);
        std::map<int64_t, double> want = trainLosses(straight);
        QCOMPARE(int(want.size()), 12);

        const QString killed = tmp_.filePath("killed");
        QProcess p;
        p.start(SWARM_CLI, trainArgs(killed));
        QVERIFY(p.waitForStarted());
        QVERIFY2(waitForFile(killed + "/checkpoints/step-00000006/trainer_state.json", 300000), "no checkpoint appeared");
        p.kill();                                              // SIGKILL, mid-step
        p.waitForFinished();
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);

        // The project opens and knows the run; no metric row is beyond what the process reached.
        {
            ProjectStore store = ProjectStore::open(g_project.toStdString());
            sqlite3* db = store.handle();
            SqlStatement st(db, "SELECT status, steps_done FROM runs WHERE run_dir LIKE '%killed'");
            QVERIFY(st.step());
            QCOMPARE(st.columnText(0), std::string("running"));
            SqlStatement check(db, "PRAGMA integrity_check");
            QVERIFY(check.step());
            QCOMPARE(check.columnText(0), std::string("ok"));
        }
        QString resumeErr;
        QCOMPARE(runToEnd({"train", "--resume", killed}, &resumeErr), 0);
        QVERIFY2(resumeErr.contains("resuming after step"), qPrintable(resumeErr));
        std::map<int64_t, double> got = trainLosses(killed);
        QCOMPARE(got.size(), want.size());
        for (auto& [step, loss] : want)
            QVERIFY2(got[step] == loss,
                     qPrintable(QString("step %1: %2 vs %3").arg(step).arg(got[step]).arg(loss)));
        ProjectStore store = ProjectStore::open(g_project.toStdString());
        SqlStatement st(store.handle(),
                        "SELECT r.status, r.steps_done, (SELECT COUNT(*) FROM run_metrics m WHERE m.run_id = r.id AND kind = 'train') "
                        "FROM runs r WHERE run_dir LIKE '%killed'");
        QVERIFY(st.step());
        QCOMPARE(st.columnText(0), std::string("finished"));
        QCOMPARE(st.columnInt(1), int64_t(12));
        QCOMPARE(st.columnInt(2), int64_t(12));
        QVERIFY(QFile::exists(killed + "/final/model.safetensors"));
    }

    void ctrlCStopsWithACheckpoint() {
        const QString runDir = tmp_.filePath("interrupted");
        QProcess p;
        p.start(SWARM_CLI, trainArgs(runDir));
        QVERIFY(p.waitForStarted());
        QVERIFY(waitForFile(runDir + "/metrics.csv", 300000));
        // Wait for a first step row, then interrupt.
        for (int i = 0; i < 6000 && trainLosses(runDir).empty(); ++i) QThread::msleep(50);
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(300000));
        QCOMPARE(p.exitCode(), 130);
        const QString out = QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY2(out.contains("run cancelled") && out.contains("swarm train --resume"), qPrintable(out));
        QVERIFY(!QDir(runDir + "/checkpoints").entryList({"step-*"}, QDir::Dirs).isEmpty());
    }

    void badArgumentsAreRefusedBeforeTraining() {
        QString err;
        QCOMPARE(runToEnd({"train", "--project", g_project, "--dataset", "nope", "--base", g_base, "--out",
                           tmp_.filePath("x")}, &err), 1);
        QVERIFY2(err.contains("nope"), qPrintable(err));
        QCOMPARE(runToEnd({"train", "--project", g_project, "--dataset", "synthetic", "--base", g_base, "--out",
                           tmp_.filePath("y"), "--micro-batch", "500", "--global-batch", "8"}, &err), 1);
        QVERIFY2(err.contains("micro_batch"), qPrintable(err));
        QCOMPARE(runToEnd({"train", "--resume", tmp_.filePath("missing")}, &err), 1);
        QVERIFY2(err.contains("run.json"), qPrintable(err));
        QVERIFY(!QDir(tmp_.filePath("x")).exists());
    }
};

QTEST_GUILESS_MAIN(TestTrainCli)
#include "test_train_cli.moc"
