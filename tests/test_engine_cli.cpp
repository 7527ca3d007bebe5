// `swarm generate` on the CPU engine and `swarm bench`, run as a user would: sampling options,
// streaming, stop strings, GGUF input, the torch path's limits, and the bad-input errors.
#include "test_engine_util.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "cli_process.h"

#include <fstream>

class TestEngineCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString model_, gguf_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        model_ = tmp_.filePath("tiny");
        Result init = runSwarm({"model", "init", "--preset", "tiny", "--out", model_, "--seed", "3"});
        QVERIFY2(init.exitCode == 0, qPrintable(init.err));
        // The same architecture as a GGUF file (small sizes, test-side writer).
        swarm::ModelConfig c = enginetest::smallConfig();
        gguf_ = tmp_.filePath("small.gguf");
        const std::string bytes = enginetest::eveGguf(c, enginetest::randomWeights(c, 4, 0.3), 8, true).build();
        std::ofstream(gguf_.toStdString(), std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    }

    void greedyEnginesAgree() {
        Result cpu = runSwarm({"generate", model_, "--prompt", "hello there", "--max-tokens", "6"});
        QVERIFY2(cpu.exitCode == 0, qPrintable(cpu.err));
        QVERIFY(cpu.err.contains("cpu engine"));
        QVERIFY(cpu.err.contains("tokens in"));
        Result torch = runSwarm({"generate", model_, "--prompt", "hello there", "--max-tokens", "6", "--engine", "torch"});
        QVERIFY2(torch.exitCode == 0, qPrintable(torch.err));
        QCOMPARE(cpu.out, torch.out);
        // Streaming prints the same text.
        Result stream = runSwarm({"generate", model_, "--prompt", "hello there", "--max-tokens", "6", "--stream"});
        QCOMPARE(stream.out, cpu.out);
    }

    void samplingOptions() {
        const QStringList base = {"generate", model_, "--prompt", "once upon a time", "--max-tokens", "12",
                                  "--temperature", "0.9", "--top-k", "50", "--top-p", "0.95",
                                  "--repetition-penalty", "1.1", "--seed", "7", "--dtype", "q8_0", "--threads", "1"};
        Result a = runSwarm(base), b = runSwarm(base);
        QVERIFY2(a.exitCode == 0, qPrintable(a.err));
        QCOMPARE(a.out, b.out);                                  // same seed, same text
        QVERIFY(a.err.contains("q8_0"));
        Result experts = runSwarm({"generate", model_, "--prompt", "hi", "--max-tokens", "3", "--experts"});
        QVERIFY2(experts.exitCode == 0, qPrintable(experts.err));
        QVERIFY(experts.err.contains("0:"));                     // "<token>\t0:e,e 1:e,e ..."
    }

    void ggufModel() {
        Result r = runSwarm({"generate", gguf_, "--prompt", "hello", "--max-tokens", "4", "--raw"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.err.contains("q8_0"));
        Result bench = runSwarm({"bench", gguf_, "--prompt-tokens", "16", "--decode-tokens", "4", "--batch", "2",
                                 "--context", "32", "--no-bandwidth"});
        QVERIFY2(bench.exitCode == 0, qPrintable(bench.err));
        QVERIFY(bench.out.contains("prefill") && bench.out.contains("decode") && bench.out.contains("peak RSS"));
        Result torch = runSwarm({"generate", gguf_, "--prompt", "hello", "--engine", "torch"});
        QCOMPARE(torch.exitCode, 1);
    }

    void badInput() {
        auto fails = [&](const QStringList& args, const char* mention) {
            Result r = runSwarm(args);
            QVERIFY2(r.exitCode != 0, qPrintable(args.join(' ')));
            QVERIFY2(r.err.contains(mention), qPrintable(r.err));
            QCOMPARE(r.err.count('\n'), 1);                      // one line
        };
        fails({"generate", model_, "--prompt", "x", "--max-tokens", "0"}, "--max-tokens");
        fails({"generate", model_, "--prompt", "x", "--max-tokens", "-5"}, "--max-tokens");
        fails({"generate", model_, "--prompt", "x", "--top-p", "1.5"}, "--top-p");
        fails({"generate", model_, "--prompt", "x", "--temperature", "abc"}, "--temperature");
        fails({"generate", model_, "--prompt", "x", "--dtype", "q3_k"}, "--dtype");
        fails({"bench", model_, "--kv-dtype", "q4_k"}, "--kv-dtype");
        // q4_k on rows of 128 (not a multiple of 256) takes llama.cpp's fallback and says so.
        Result k = runSwarm({"generate", model_, "--prompt", "x", "--max-tokens", "2", "--dtype", "q4_k"});
        QVERIFY2(k.exitCode == 0, qPrintable(k.err));
        QVERIFY2(k.err.contains("as llama.cpp does"), qPrintable(k.err));
        fails({"generate", model_, "--prompt", "x", "--engine", "gpu"}, "--engine");
        fails({"generate", model_, "--prompt", "x", "--engine", "torch", "--top-k", "5"}, "needs --engine cpu");
        const QString longPrompt = QString("word ").repeated(40);
        fails({"generate", model_, "--prompt", longPrompt, "--context", "16"}, "context");
        Result cut = runSwarm({"generate", model_, "--prompt", longPrompt, "--context", "16", "--truncate", "--max-tokens", "2"});
        QVERIFY2(cut.exitCode == 0, qPrintable(cut.err));
        QVERIFY(cut.err.contains("dropped"));
        fails({"bench", tmp_.filePath("missing")}, "missing");
        Result help = runSwarm({"bench", "--help"});
        QVERIFY(help.exitCode == 0 && help.out.contains("usage:"));
    }
};

QTEST_GUILESS_MAIN(TestEngineCli)
#include "test_engine_cli.moc"
