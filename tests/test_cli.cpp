// Runs the real `swarm` binary as a user would and checks its output and exit codes.
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "cli_process.h"

class TestCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void helpForEveryCommand() {
        Result top = runSwarm({"--help"});
        QCOMPARE(top.exitCode, 0);
        QVERIFY(top.out.contains("model init"));
        for (QStringList cmd : {QStringList{"model", "--help"}, QStringList{"model", "init", "--help"},
                                QStringList{"model", "info", "--help"}, QStringList{"tokenize", "--help"},
                                QStringList{"generate", "--help"}}) {
            Result r = runSwarm(cmd);
            QVERIFY2(r.exitCode == 0 && r.out.contains("usage:"), qPrintable(cmd.join(' ')));
        }
    }

    void unknownCommandsAndOptionsFailWithOneLine() {
        Result r = runSwarm({"frobnicate"});
        QCOMPARE(r.exitCode, 2);
        QVERIFY(r.err.contains("unknown command 'frobnicate'"));
        r = runSwarm({"model", "init", "--preset", "tiny", "--out", tmp_.filePath("x"), "--bogus"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("unknown option --bogus"));
        QCOMPARE(r.err.count('\n'), 1);
        r = runSwarm({"model", "init", "--preset", "huge", "--out", tmp_.filePath("x")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("unknown model preset 'huge'"), qPrintable(r.err));
        QVERIFY(!QDir(tmp_.filePath("x")).exists());
    }

    void eve272mReportsPublishedParameterCount() {
        const QString dir = tmp_.filePath("eve");
        Result init = runSwarm({"model", "init", "--preset", "eve-272m", "--out", dir});
        QVERIFY2(init.exitCode == 0, qPrintable(init.err));
        Result info = runSwarm({"model", "info", dir});
        QVERIFY2(info.exitCode == 0, qPrintable(info.err));
        QVERIFY2(info.out.contains("271,970,816"), qPrintable(info.out));
        QVERIFY2(info.out.contains("116,257,280"), qPrintable(info.out));   // active per token
        QVERIFY(info.out.contains("F32"));
        QVERIFY(QFile::exists(dir + "/tokenizer.json"));
        QVERIFY(QFile::exists(dir + "/generation_config.json"));
        QDir(dir).removeRecursively();
    }

    void initIsReproducibleAndGenerates() {
        const QString a = tmp_.filePath("a"), b = tmp_.filePath("b");
        QCOMPARE(runSwarm({"model", "init", "--preset", "tiny", "--out", a, "--seed", "5"}).exitCode, 0);
        QCOMPARE(runSwarm({"model", "init", "--preset", "tiny", "--out", b, "--seed", "5"}).exitCode, 0);
        QFile fa(a + "/model.safetensors"), fb(b + "/model.safetensors");
        QVERIFY(fa.open(QIODevice::ReadOnly) && fb.open(QIODevice::ReadOnly));
        QVERIFY(fa.readAll() == fb.readAll());

        Result g1 = runSwarm({"generate", a, "--prompt", "hello there", "--max-tokens", "5", "--threads", "1"});
        QVERIFY2(g1.exitCode == 0, qPrintable(g1.err));
        Result g2 = runSwarm({"generate", b, "--prompt", "hello there", "--max-tokens", "5"});
        QCOMPARE(g2.out, g1.out);                       // greedy and same weights: same text
        QVERIFY(g1.err.contains("tokens in"));

        Result bad = runSwarm({"generate", a, "--prompt", "x", "--max-tokens", "0"});
        QCOMPARE(bad.exitCode, 1);
        QVERIFY(bad.err.contains("--max-tokens"));
        Result cuda = runSwarm({"generate", a, "--prompt", "x", "--device", "tpu"});
        QCOMPARE(cuda.exitCode, 1);
        QVERIFY(cuda.err.contains("unknown device 'tpu'"));
    }

    void tokenizeTextAndStdin() {
        Result r = runSwarm({"tokenize", "--ids", "Hello world<|endoftext|>"});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.trimmed(), QString("15496 995 50256"));
        Result s = runSwarm({"tokenize", "--ids", "-"}, "Hello world");
        QCOMPARE(s.out.trimmed(), QString("15496 995"));
        Result table = runSwarm({"tokenize", "a\nb"});
        QVERIFY(table.out.contains("\\n"));
        QVERIFY(table.out.contains("3 tokens"));
    }

    void badModelFoldersGiveOneClearLine() {
        Result missing = runSwarm({"model", "info", tmp_.filePath("nope")});
        QCOMPARE(missing.exitCode, 1);
        QVERIFY(missing.err.contains("nope") && missing.err.contains("no such directory"));

        const QString dir = tmp_.filePath("broken");
        QVERIFY(QDir().mkpath(dir));
        QFile cfg(dir + "/config.json");
        QVERIFY(cfg.open(QIODevice::WriteOnly));
        cfg.write("{\"n_layer\": 2}");
        cfg.close();
        QFile w(dir + "/model.safetensors");
        QVERIFY(w.open(QIODevice::WriteOnly));
        w.write("garbage");
        w.close();
        Result r = runSwarm({"model", "info", dir});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("config.json") && r.err.contains("vocab_size"), qPrintable(r.err));
        Result g = runSwarm({"generate", dir, "--prompt", "x"});
        QCOMPARE(g.exitCode, 1);
        QCOMPARE(g.err.count('\n'), 1);
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
