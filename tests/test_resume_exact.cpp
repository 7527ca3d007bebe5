// Resume is bit-exact through the binary, on the bundled NL->SQL sample data, for every way a
// user stops a run: SIGKILL after a periodic checkpoint, SIGINT mid-step (the cancel checkpoint),
// with gradient accumulation, across an epoch boundary, in F32 and with BF16 autocast. "Exact"
// means the deterministic columns of metrics.csv (everything but tokens/s and elapsed time) and
// the final model.safetensors are byte-identical to the uninterrupted run's.
#include "run_test_util.h"
#include "cli_process.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <csignal>

using runtest::deterministicMetrics;
using runtest::fileBytes;
using runtest::trainRows;
using runtest::waitFor;

namespace {

// metrics.csv without its two timing columns (tokens_per_s, elapsed_s), which no two runs share.
} // namespace

class TestResumeExact : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString project_, base_;

    QStringList trainArgs(const QString& runDir, const QString& precision) const {
        // 36 training pairs in global batches of 4 (two micro-batches of 2): 9 steps per epoch,
        // so 14 steps cross the epoch boundary; a checkpoint every 4 steps.
        return {"train", "--project", project_, "--dataset", "nl2sql", "--base", base_, "--out", runDir,
                "--preset", "quick-test", "--lr", "3e-3", "--global-batch", "4", "--micro-batch", "2",
                "--epochs", "2", "--max-steps", "14", "--checkpoint-every", "4", "--eval-every", "5",
                "--threads", "1", "--seed", "5", "--precision", precision};
    }

    QString straight(const QString& precision) {
        const QString dir = tmp_.filePath("straight-" + precision);
        if (!QFile::exists(dir + "/final/model.safetensors")) {
            const Result r = runSwarm(trainArgs(dir, precision));
            if (r.exitCode != 0) qWarning("%s", qPrintable(r.err));
        }
        return dir;
    }

    void compareWithStraight(const QString& runDir, const QString& precision) {
        const QString want = straight(precision);
        QCOMPARE(trainRows(want), 14);
        const QByteArray a = deterministicMetrics(want), b = deterministicMetrics(runDir);
        QVERIFY2(a == b, qPrintable("metrics differ:\n" + QString::fromUtf8(a) + "\nvs\n" + QString::fromUtf8(b)));
        const QByteArray wa = fileBytes(want + "/final/model.safetensors"), wb = fileBytes(runDir + "/final/model.safetensors");
        QVERIFY(!wa.isEmpty());
        QVERIFY2(wa == wb, "the final weights differ");
    }

private slots:
    void initTestCase() {
        project_ = tmp_.filePath("p.swarm");
        base_ = tmp_.filePath("base");
        const QString samples = tmp_.filePath("samples");
        QCOMPARE(runSwarm({"project", "create", project_}).exitCode, 0);
        QCOMPARE(runSwarm({"dataset", "samples", "--out", samples, "--count", "40"}).exitCode, 0);
        const Result imp = runSwarm({"dataset", "import", samples + "/nl2sql.jsonl", "--project", project_, "--name",
                                     "nl2sql", "--max-len", "96", "--split", "0.9,0.1,0", "--quiet"});
        QVERIFY2(imp.exitCode == 0, qPrintable(imp.err));
        QCOMPARE(runSwarm({"model", "init", "--preset", "tiny", "--out", base_, "--seed", "1"}).exitCode, 0);
    }

    void sigkillAfterPeriodicCheckpoint() {
        const QString dir = tmp_.filePath("killed");
        QProcess p;
        p.start(SWARM_CLI, trainArgs(dir, "f32"));
        QVERIFY(p.waitForStarted());
        QVERIFY2(waitFor([&] { return QFile::exists(dir + "/checkpoints/step-00000008/trainer_state.json"); }, 300000),
                 "no checkpoint at step 8");
        p.kill();
        p.waitForFinished();
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);
        const Result r = runSwarm({"train", "--resume", dir});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        compareWithStraight(dir, "f32");
    }

    void sigintMidStepThenResume_data() {
        QTest::addColumn<QString>("precision");
        QTest::newRow("f32") << "f32";
        QTest::newRow("bf16") << "bf16";
    }
    void sigintMidStepThenResume() {
        QFETCH(QString, precision);
        const QString dir = tmp_.filePath("interrupted-" + precision);
        QProcess p;
        p.start(SWARM_CLI, trainArgs(dir, precision));
        QVERIFY(p.waitForStarted());
        // After step 5's row: an odd step, so the cancel checkpoint (not a periodic one) is used.
        QVERIFY(waitFor([&] { return trainRows(dir) >= 5; }, 300000));
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(300000));
        QCOMPARE(p.exitCode(), 130);
        QVERIFY(!QFile::exists(dir + "/final"));
        const Result r = runSwarm({"train", "--resume", dir});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        compareWithStraight(dir, precision);
    }

    // A second interruption of an already resumed run still ends exactly where one run would.
    void interruptedTwice() {
        const QString dir = tmp_.filePath("twice");
        for (int stopAt : {3, 10}) {
            QProcess p;
            p.start(SWARM_CLI, stopAt == 3 ? trainArgs(dir, "f32") : QStringList{"train", "--resume", dir});
            QVERIFY(p.waitForStarted());
            QVERIFY(waitFor([&] { return trainRows(dir) >= stopAt; }, 300000));
            ::kill(pid_t(p.processId()), SIGINT);
            QVERIFY(p.waitForFinished(300000));
            QCOMPARE(p.exitCode(), 130);
        }
        const Result r = runSwarm({"train", "--resume", dir});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        compareWithStraight(dir, "f32");
    }
};

QTEST_GUILESS_MAIN(TestResumeExact)
#include "test_resume_exact.moc"
