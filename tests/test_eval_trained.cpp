// The issue 6 proof: a tiny model fine-tuned on the bundled SQL sample (quick-test preset, a short
// run) scores higher than its untrained base on the sample's test split, measured end to end
// through the built `swarm` binary: model init, train, compare (with an HTML report).
#include "datasets/dataset_import.h"
#include "core/project_store.h"
#include "datasets/sample_generators.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>

using namespace swarm;

namespace {

// Training steps and evaluation size: chosen from measurements on a 2-core machine (see the
// report of issue 6); the whole test stays within a few minutes.
constexpr const char* kSteps = "160";
constexpr const char* kLimit = "24";
constexpr const char* kMaxTokens = "40";

int run(const QStringList& args, QString* out = nullptr, QString* err = nullptr) {
    QProcess p;
    p.start(SWARM_CLI, args);
    if (!p.waitForFinished(600000)) {
        p.kill();
        p.waitForFinished();
        return -1;
    }
    if (out) *out = QString::fromUtf8(p.readAllStandardOutput());
    if (err) *err = QString::fromUtf8(p.readAllStandardError());
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

} // namespace

class TestEvalTrained : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void trainedBeatsBase() {
        const QString base = tmp_.filePath("base"), runDir = tmp_.filePath("run"), project = tmp_.filePath("p.swarm");
        QString out, err;
        QCOMPARE(run({"model", "init", "--preset", "tiny", "--out", base, "--seed", "2"}, &out, &err), 0);
        {
            ProjectStore store = ProjectStore::create(project.toStdString());
            const std::string jsonl = tmp_.filePath("nl2sql.jsonl").toStdString();
            samples::writeJsonl(jsonl, samples::sqlSamples(2000, 1));
            ImportOptions o;
            o.name = "nl2sql";
            o.sourcePath = jsonl;
            o.presetName = "sql";
            o.split.train = 0.9;
            o.split.validation = 0.05;
            o.split.test = 0.05;
            o.threads = 1;
            ImportResult r = importDataset(store, Gpt2Tokenizer::bundled(), o);
            QVERIFY(r.counts.nTest >= 50);
        }
        QElapsedTimer t;
        t.start();
        const int trainRc = run({"train", "--project", project, "--dataset", "nl2sql", "--base", base, "--out", runDir,
                                 "--preset", "quick-test", "--max-steps", kSteps, "--eval-every", "0",
                                 "--checkpoint-every", "1000", "--seed", "1"},
                                &out, &err);
        QVERIFY2(trainRc == 0, qPrintable(err));
        qInfo("training %s steps: %.1f s", kSteps, double(t.elapsed()) / 1000.0);
        t.restart();
        const QString report = tmp_.filePath("report.html");
        const int rc = run({"compare", base, runDir, "--project", project, "--dataset", "nl2sql", "--limit", kLimit,
                            "--max-tokens", kMaxTokens, "--baseline", base, "--report", report, "--json"},
                           &out, &err);
        QVERIFY2(rc == 0, qPrintable(err));
        qInfo("compare: %.1f s", double(t.elapsed()) / 1000.0);
        const nlohmann::json j = nlohmann::json::parse(out.toStdString());
        QCOMPARE(j["models"].size(), size_t(2));
        const nlohmann::json& b = j["models"][0]["values"];
        const nlohmann::json& trained = j["models"][1]["values"];
        qInfo("base:    %s", b.dump().c_str());
        qInfo("trained: %s", trained.dump().c_str());
        // Measured (2 cores): after 160 quick-test steps (~90 s idle, up to ~6 min on a busy machine)
        // exact match and execution accuracy are still 0 for both, so the proof is the loss of the
        // reference answers (10.9 -> 1.9 nats/token) and the share of outputs that are valid SQL
        // (0 -> 0.33); the other task metrics must not get worse.
        QVERIFY(trained["ref_loss"].get<double>() < b["ref_loss"].get<double>() - 2.0);
        QVERIFY(trained["ref_ppl"].get<double>() < b["ref_ppl"].get<double>());
        QVERIFY(trained["sql_syntax"].get<double>() > b["sql_syntax"].get<double>());
        QVERIFY(trained["sql_valid"].get<double>() >= b["sql_valid"].get<double>());
        QVERIFY(trained["sql_exec"].get<double>() >= b["sql_exec"].get<double>());
        QVERIFY(trained["exact_match"].get<double>() >= b["exact_match"].get<double>());
        std::ifstream in(report.toStdString());
        std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        QVERIFY(html.find("<svg") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestEvalTrained)
#include "test_eval_trained.moc"
