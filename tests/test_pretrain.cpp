// Pre-training through the `swarm` binary (issue 20): `swarm train --objective pretrain --corpus`
// on corpora imported from the license texts on this machine (/usr/share/common-licenses), with
// a small Eve model (test_util.h smallConfig) written by the library.
//  - a full epoch uses every training token of the corpus exactly once (the tokens column), the
//    validation perplexity (exp of the mean token NLL, metrics.csv's last column and run.json)
//    falls well below where it started, and run.json records the objective and the corpus;
//  - resume is exact after SIGKILL past a periodic checkpoint and after SIGINT mid-step, across
//    epoch boundaries: metrics.csv's first 8 columns and final/model.safetensors byte-identical;
//  - 2 data-parallel ranks train on the same windows as one process;
//  - bad input: an unknown corpus, --dataset with --objective pretrain, --corpus without it, a
//    context longer than the model's, a corpus shorter than one window, a deleted corpus on resume.
#include "run_test_util.h"
#include "cli_process.h"
#include "test_util.h"

#include "model/model_io.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <csignal>
#include <map>

using runtest::deterministicMetrics;
using runtest::fileBytes;
using runtest::trainRows;
using runtest::waitFor;

namespace {

struct CsvRow {
    QString kind;
    int step = 0, epoch = 0;
    double loss = 0;
    qint64 tokens = 0;
    double perplexity = 0;
};

std::vector<CsvRow> readMetrics(const QString& runDir) {
    std::vector<CsvRow> rows;
    for (const QByteArray& line : fileBytes(runDir + "/metrics.csv").split('\n')) {
        const QList<QByteArray> c = line.split(',');
        if (c.size() < 10 || c[0] == "kind") continue;
        CsvRow r;
        r.kind = QString::fromUtf8(c[0]);
        r.step = c[1].toInt();
        r.epoch = c[2].toInt();
        r.loss = c[3].toDouble();
        r.tokens = c[7].toLongLong();
        if (c.size() > 10) r.perplexity = c[10].toDouble();
        rows.push_back(r);
    }
    return rows;
}

QJsonObject readJson(const QString& path) { return QJsonDocument::fromJson(fileBytes(path)).object(); }

} // namespace

class TestPretrain : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString project_, base_;

    // The small corpus: three short licenses, windows of 64 tokens, global batches of 4 windows
    // in two micro-batches: a few steps per epoch, so 12 steps cross epoch boundaries.
    QStringList smallArgs(const QString& runDir) const {
        return {"train", "--objective", "pretrain", "--project", project_, "--corpus", "small", "--base", base_,
                "--out", runDir, "--context", "64", "--global-batch", "4", "--micro-batch", "2", "--epochs", "5",
                "--max-steps", "12", "--lr", "3e-3", "--warmup-steps", "2", "--checkpoint-every", "4",
                "--eval-every", "5", "--threads", "1", "--seed", "3"};
    }

    QString straight() {
        const QString dir = tmp_.filePath("straight");
        if (!QFile::exists(dir + "/final/model.safetensors")) {
            const Result r = runSwarm(smallArgs(dir));
            if (r.exitCode != 0) qWarning("%s", qPrintable(r.err));
        }
        return dir;
    }

    void compareWithStraight(const QString& runDir) {
        const QString want = straight();
        QCOMPARE(trainRows(want), 12);
        const QByteArray a = deterministicMetrics(want), b = deterministicMetrics(runDir);
        QVERIFY2(a == b, qPrintable("metrics differ:\n" + QString::fromUtf8(a) + "\nvs\n" + QString::fromUtf8(b)));
        const QByteArray wa = fileBytes(want + "/final/model.safetensors"), wb = fileBytes(runDir + "/final/model.safetensors");
        QVERIFY(!wa.isEmpty());
        QVERIFY2(wa == wb, "the final weights differ");
    }

    Result importCorpus(const QString& name, const QStringList& inputs) {
        return runSwarm(QStringList{"corpus", "import"} + inputs + QStringList{"--project", project_, "--name", name});
    }

private slots:
    void initTestCase() {
        if (!QFile::exists("/usr/share/common-licenses/BSD")) QSKIP("needs /usr/share/common-licenses (base-files)");
        project_ = tmp_.filePath("p.swarm");
        base_ = tmp_.filePath("base");
        QCOMPARE(runSwarm({"project", "create", project_}).exitCode, 0);
        swarm::EveModel m(swarm::test::smallConfig(64, 64, 128));
        m->initWeights(1);
        swarm::saveEveModel(base_.toStdString(), m, swarm::DType::F32, nullptr);

        Result r = importCorpus("licenses", {"/usr/share/common-licenses"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QString small = tmp_.filePath("small");
        QVERIFY(QDir().mkpath(small));
        for (const char* f : {"BSD", "Artistic", "CC0-1.0"})
            QVERIFY(QFile::copy(QString("/usr/share/common-licenses/") + f, small + "/" + f));
        r = importCorpus("small", {small});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        swarm::test::writeFile(tmp_.filePath("short.txt").toStdString(), "Too short to fill a window.\n");
        r = importCorpus("short", {tmp_.filePath("short.txt")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    }

    // One epoch over the licenses corpus: every training token once, validation perplexity falls.
    void validationPerplexityFalls() {
        const QString dir = tmp_.filePath("licenses-run");
        const Result r = runSwarm({"train", "--objective", "pretrain", "--project", project_, "--corpus", "licenses",
                                   "--base", base_, "--out", dir, "--context", "128", "--global-batch", "8",
                                   "--micro-batch", "8", "--max-steps", "24", "--lr", "1e-2", "--warmup-steps", "2", "--eval-every", "8",
                                   "--checkpoint-every", "0", "--threads", "1"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("perplexity"), qPrintable(r.out));

        const QJsonObject manifest = readJson(dir + "/run.json");
        QCOMPARE(manifest["objective"].toString(), QString("pretrain"));
        QCOMPARE(manifest["corpus"].toObject()["name"].toString(), QString("licenses"));
        QCOMPARE(manifest["corpus"].toObject()["context"].toInt(), 128);
        QVERIFY(!manifest.contains("dataset"));

        std::vector<CsvRow> val;
        for (const CsvRow& row : readMetrics(dir))
            if (row.kind != "train") val.push_back(row);
        QVERIFY(val.size() >= 3);
        for (const CsvRow& v : val) {
            QVERIFY(v.tokens > 0);
            QVERIFY2(std::abs(v.perplexity - std::exp(v.loss)) <= 1e-6 * v.perplexity, qPrintable(QString::number(v.perplexity)));
        }
        const double first = val.front().perplexity, last = val.back().perplexity;
        qInfo("validation perplexity %.1f at step 0 -> %.1f at step %d", first, last, val.back().step);
        QCOMPARE(val.front().step, 0);
        QVERIFY2(first > 10000, qPrintable(QString::number(first)));    // about the vocabulary at the start
        QVERIFY2(last < first / 20, qPrintable(QString("%1 -> %2").arg(first).arg(last)));
        QVERIFY(std::abs(manifest["validation_perplexity"].toDouble() - last) <= 1e-4 * last);
    }

    // Each epoch of the small corpus's run used every training token once (the tokens column
    // counts the real, not padding, tokens of the windows a step trained on).
    void everyTrainingTokenOncePerEpoch() {
        const QString dir = straight();
        const QJsonObject corpus = readJson(dir + "/run.json")["corpus"].toObject();
        const qint64 trainTokens = corpus["train_tokens"].toInteger(), windows = (trainTokens + 63) / 64;
        QCOMPARE(corpus["train_windows"].toInteger(), windows);
        const qint64 stepsPerEpoch = (windows + 3) / 4;
        QVERIFY2(stepsPerEpoch < 12, "the run must cross an epoch boundary");
        std::map<int, qint64> tokens;
        std::map<int, int> steps;
        for (const CsvRow& row : readMetrics(dir))
            if (row.kind == "train") {
                tokens[row.epoch] += row.tokens;
                ++steps[row.epoch];
            }
        QCOMPARE(qint64(steps[0]), stepsPerEpoch);
        QCOMPARE(tokens[0], trainTokens);
        if (steps[1] == stepsPerEpoch) QCOMPARE(tokens[1], trainTokens);
    }

    void sigkillAfterPeriodicCheckpoint() {
        const QString dir = tmp_.filePath("killed");
        QProcess p;
        p.start(SWARM_CLI, smallArgs(dir));
        QVERIFY(p.waitForStarted());
        QVERIFY2(waitFor([&] { return QFile::exists(dir + "/checkpoints/step-00000008/trainer_state.json"); }, 300000),
                 "no checkpoint at step 8");
        p.kill();
        p.waitForFinished();
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);
        const Result r = runSwarm({"train", "--resume", dir});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        compareWithStraight(dir);
        // Crossed epoch boundaries: the plan of a later epoch came from (seed, epoch) on resume.
        QVERIFY(readMetrics(dir).back().epoch >= 1);
    }

    void sigintMidStepThenResume() {
        const QString dir = tmp_.filePath("interrupted");
        QProcess p;
        p.start(SWARM_CLI, smallArgs(dir));
        QVERIFY(p.waitForStarted());
        QVERIFY(waitFor([&] { return trainRows(dir) >= 5; }, 300000));   // step 5: the cancel checkpoint
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(300000));
        QCOMPARE(p.exitCode(), 130);
        QVERIFY(!QFile::exists(dir + "/final"));
        const Result r = runSwarm({"train", "--resume", dir});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        compareWithStraight(dir);
    }

    // The distributed path takes the same batch source: 2 ranks see the windows one process does.
    void twoRanksTrainOnTheSameWindows() {
        const QString dir = tmp_.filePath("ranks");
        QStringList args = smallArgs(dir);
        args[args.indexOf("--max-steps") + 1] = "4";
        args << "--nproc" << "2";
        const Result r = runSwarm(args);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const std::vector<CsvRow> two = readMetrics(dir), one = readMetrics(straight());
        QCOMPARE(two.size(), size_t(6));           // validation at 0, steps 1-4, the last step's validation
        QCOMPARE(two.back().kind, QString("val_epoch"));
        for (size_t i = 0; i < 5; ++i) {
            QCOMPARE(two[i].kind, one[i].kind);
            QCOMPARE(two[i].step, one[i].step);
            QCOMPARE(two[i].tokens, one[i].tokens);
            QVERIFY2(std::abs(two[i].loss - one[i].loss) <= 1e-3 * one[i].loss,
                     qPrintable(QString("%1 vs %2").arg(two[i].loss).arg(one[i].loss)));
        }
    }

    void badInput() {
        const QString out = tmp_.filePath("bad");
        auto train = [&](const QStringList& extra) {
            return runSwarm(QStringList{"train", "--project", project_, "--base", base_, "--out", out, "--max-steps", "1"} + extra);
        };
        Result r = train({"--objective", "pretrain", "--corpus", "nope"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("nope") && r.err.contains("licenses"), qPrintable(r.err));   // names it, lists those there
        r = train({"--objective", "pretrain", "--dataset", "x"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("--corpus") && r.err.contains("--dataset"), qPrintable(r.err));
        r = train({"--corpus", "licenses"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("--objective pretrain"), qPrintable(r.err));
        r = train({"--objective", "pretraining", "--corpus", "licenses"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("finetune or pretrain"), qPrintable(r.err));
        r = train({"--objective", "pretrain", "--corpus", "licenses", "--context", "256"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("256") && r.err.contains("128"), qPrintable(r.err));   // the model's context
        r = train({"--objective", "pretrain", "--corpus", "short", "--context", "128"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("short") && r.err.contains("fewer than one window"), qPrintable(r.err));
        QVERIFY(!QFile::exists(out));                       // no run folder left behind

        // A run whose corpus was deleted says so on resume.
        const QString dir = tmp_.filePath("orphan");
        QVERIFY(importCorpus("doomed", {tmp_.filePath("small")}).exitCode == 0);
        QStringList args = smallArgs(dir);
        args[args.indexOf("small")] = "doomed";
        QProcess p;
        p.start(SWARM_CLI, args);
        QVERIFY(p.waitForStarted());
        QVERIFY(waitFor([&] { return QFile::exists(dir + "/run.json"); }, 60000));
        p.kill();
        p.waitForFinished();
        QCOMPARE(runSwarm({"corpus", "delete", "doomed", "--project", project_}).exitCode, 0);
        r = runSwarm({"train", "--resume", dir});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("doomed"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestPretrain)
#include "test_pretrain.moc"
