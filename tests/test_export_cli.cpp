// `swarm export` run as a user would: the built binary through QProcess.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include "cli_process.h"

namespace {

// The last non-empty line of stderr (the error line main prints).
QString lastLine(const QString& s) {
    const QStringList lines = s.split('\n', Qt::SkipEmptyParts);
    return lines.isEmpty() ? QString() : lines.last();
}

} // namespace

class TestExportCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString model_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        model_ = tmp_.filePath("tiny");
        Result r = runSwarm({"model", "init", "--preset", "tiny", "--out", model_, "--seed", "3"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    }

    void help() {
        Result r = runSwarm({"export", "--help"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("usage: swarm export MODEL --format hf|gguf --out PATH"));
        QVERIFY(r.out.contains("q4_0"));
        Result top = runSwarm({"--help"});
        QVERIFY(top.out.contains("export"));
    }

    void ggufPrintsTheRecheck() {
        const QString out = tmp_.filePath("tiny.q8_0.gguf");
        Result r = runSwarm({"export", model_, "--format", "gguf", "--out", out, "--dtype", "q8_0", "--threads", "2"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(QFileInfo(out).isFile());
        const QString size = QString::number(QFileInfo(out).size());
        QVERIFY2(r.out.contains("exported: "), qPrintable(r.out));
        QVERIFY(r.out.contains("gguf, q8_0"));
        // "12,345,678 bytes": the size printed is the file's.
        QRegularExpression bytesRe("\\(gguf, q8_0, ([0-9,]+) bytes\\)");
        QRegularExpressionMatch m = bytesRe.match(r.out);
        QVERIFY(m.hasMatch());
        QCOMPARE(m.captured(1).remove(','), size);
        QVERIFY(r.out.contains("re-check: 5 prompts"));
        QVERIFY(r.out.contains("max |logit diff|"));
        QVERIFY(r.out.contains("mean |logit diff|"));
        QVERIFY(r.out.contains("top-1 agreement"));
        QVERIFY(r.out.contains("llama.cpp: "));
        QFile f(out);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.read(4), QByteArray("GGUF"));
        // Nothing else was left beside it.
        QCOMPARE(QDir(tmp_.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"tiny.q8_0.gguf"});
    }

    void hfFolder() {
        const QString out = tmp_.filePath("exports/tiny-hf");
        Result r = runSwarm({"export", model_, "--format", "hf", "--out", out, "--dtype", "bf16"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md"})
            QVERIFY2(QFileInfo(QDir(out).filePath(f)).isFile(), f);
        QVERIFY(r.out.contains("(hf, bf16, "));
        QVERIFY(r.out.contains("top-1 agreement"));
        // The export is a model the workbench reads.
        Result info = runSwarm({"model", "info", out});
        QVERIFY2(info.exitCode == 0, qPrintable(info.err));
        QVERIFY(info.out.contains("BF16") || info.out.contains("bf16"));
    }

    void errorsAreOneLine() {
        struct Case {
            QStringList args;
            QString expect;
        };
        const QString file = tmp_.filePath("plain");
        QFile pf(file);
        QVERIFY(pf.open(QIODevice::WriteOnly));
        pf.write("x");
        pf.close();
        const std::vector<Case> cases = {
            {{"export", model_, "--format", "onnx", "--out", tmp_.filePath("x")}, "unknown --format 'onnx'"},
            {{"export", model_, "--format", "gguf", "--out", tmp_.filePath("x"), "--dtype", "q2_k"}, "unknown --dtype 'q2_k'"},
            {{"export", model_, "--format", "hf", "--out", tmp_.filePath("x"), "--dtype", "q4_0"}, "use --format gguf"},
            {{"export", tmp_.filePath("missing"), "--format", "gguf", "--out", tmp_.filePath("x.gguf")}, "no such model"},
            {{"export", model_, "--format", "gguf"}, "--out"},
            {{"export", model_, "--format", "gguf", "--out", file + "/m.gguf"}, "m.gguf"},
        };
        for (const Case& c : cases) {
            Result r = runSwarm(c.args);
            QVERIFY2(r.exitCode != 0, qPrintable(c.args.join(' ')));
            QVERIFY2(lastLine(r.err).contains(c.expect), qPrintable(c.args.join(' ') + " -> " + r.err));
        }
        QVERIFY(!QFileInfo::exists(tmp_.filePath("x")));
        QVERIFY(!QFileInfo::exists(tmp_.filePath("x.gguf")));
    }
};

QTEST_GUILESS_MAIN(TestExportCli)
#include "test_export_cli.moc"
