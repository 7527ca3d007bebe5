// `swarm distill` through the built binary (issue 16), teachers on 127.0.0.1:
//  - the fault-injecting teacher of the library tests (slow answers) in this process: Ctrl-C
//    (SIGINT) stops the run with exit 130 after storing the answers in flight, SIGKILL mid-run
//    loses at most the requests then out, and the same command resumes to the end: no prompt
//    whose answer was stored is ever requested again, every prompt is accepted, the dataset is
//    built; the key comes from an environment variable, reaches the teacher and is nowhere in the
//    project, the output or the job; --api-key on the command line is refused;
//  - `swarm serve` (the binary, small random specialists) as the teacher of a prompt dataset,
//    then `swarm distill compare` with the teacher as the report's baseline column.
#include "cli_process.h"
#include "distill_fault_server.h"
#include "swarm_test_util.h"

#include "datasets/sample_generators.h"

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sqlite3.h>

#include <csignal>
#include <fstream>
#include <set>
#include <thread>

using distilltest::Fault;
using distilltest::FaultServer;
using nlohmann::json;

namespace {

// Rows of one column from a read-only connection to the project.
std::vector<std::string> column(const QString& project, const std::string& sql) {
    sqlite3* db = nullptr;
    std::vector<std::string> out;
    if (sqlite3_open_v2(project.toUtf8().constData(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char* t = sqlite3_column_text(st, 0);
            out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
        }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

bool waitUntil(const std::function<bool()>& cond, int seconds) {
    for (int i = 0; i < seconds * 100; ++i) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

std::string slurp(const QString& path) {
    std::ifstream in(path.toStdString(), std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

} // namespace

class TestDistillCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString dir_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path();
    }

    void keyIsNeverTakenOnTheCommandLine() {
        const Result r = runSwarm({"distill", "--project", dir_ + "/none.swarm", "--api-key", "sk-visible"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("never taken on the command line") && r.err.contains("--api-key-env"), qPrintable(r.err));
        const Result help = runSwarm({"distill", "--help"});
        QCOMPARE(help.exitCode, 0);
        QVERIFY(help.out.contains("--max-spend") && help.out.contains("swarm distill compare"));
    }

    void interruptKillAndResumeWithoutResending() {
        FaultServer teacher;
        teacher.script = [](const std::string&, int) { return Fault::of(Fault::Kind::Slow, 120); };
        teacher.start();
        const QString project = dir_ + "/cli.swarm";
        QCOMPARE(runSwarm({"project", "create", project}).exitCode, 0);
        const QString prompts = dir_ + "/prompts.jsonl";
        std::vector<std::string> all;
        {
            std::ofstream out(prompts.toStdString());
            for (int i = 0; i < 24; ++i) {
                all.push_back("question " + std::to_string(i));
                out << json{{"prompt", all.back()}}.dump() << "\n";
            }
        }
        const QStringList command = {"distill", "--project", project, "--prompts", prompts, "--name", "d1",
                                     "--teacher-url", QString::fromStdString(teacher.url()), "--teacher-model", "fake-teacher",
                                     "--concurrency", "2", "--api-key-env", "SWARM_TEST_DISTILL_KEY", "--price-in", "1",
                                     "--price-out", "2", "--backoff-base", "0.01"};
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("SWARM_TEST_DISTILL_KEY", "sk-cli-secret-42");
        auto start = [&](QProcess& p) {
            p.setProcessEnvironment(env);
            p.start(SWARM_CLI, command);
            QVERIFY(p.waitForStarted());
        };
        QString output;

        // Run 1: Ctrl-C after a few requests; the answers in flight are stored.
        QProcess run1;
        start(run1);
        QVERIFY(waitUntil([&] { return teacher.requests().size() >= 4; }, 60));
        ::kill(pid_t(run1.processId()), SIGINT);
        QVERIFY(run1.waitForFinished(60000));
        output += run1.readAllStandardOutput() + run1.readAllStandardError();
        QCOMPARE(run1.exitStatus(), QProcess::NormalExit);
        QVERIFY2(run1.exitCode() == 130, qPrintable(output));
        QVERIFY2(output.contains("job d1: stopped"), qPrintable(output));
        const std::vector<std::string> answered1 =
            column(project, "SELECT prompt FROM distill_items WHERE answered_at != ''");
        QCOMPARE(int(answered1.size()), int(teacher.requests().size()));   // nothing sent was lost
        QVERIFY(column(project, "SELECT prompt FROM distill_items WHERE state = 'sending'").empty());

        // Run 2: SIGKILL mid-run: what was out is lost, everything stored stays.
        QProcess run2;
        start(run2);
        const size_t before = teacher.requests().size();
        QVERIFY(waitUntil([&] { return teacher.requests().size() >= before + 6; }, 60));
        ::kill(pid_t(run2.processId()), SIGKILL);
        QVERIFY(run2.waitForFinished(60000));
        output += run2.readAllStandardOutput() + run2.readAllStandardError();
        const std::vector<std::string> answered2 = column(project, "SELECT prompt FROM distill_items WHERE answered_at != ''");
        const std::vector<std::string> sending = column(project, "SELECT prompt FROM distill_items WHERE state = 'sending'");
        QVERIFY(int(sending.size()) <= 2);

        // Run 3: the same command finishes the job.
        QProcess run3;
        start(run3);
        QVERIFY(run3.waitForFinished(120000));
        const QString out3 = run3.readAllStandardOutput() + run3.readAllStandardError();
        output += out3;
        QVERIFY2(run3.exitCode() == 0, qPrintable(out3));
        QVERIFY2(out3.contains("dataset d1: 24 examples"), qPrintable(out3));
        if (!sending.empty()) QVERIFY2(out3.contains("were sent again"), qPrintable(out3));

        // No prompt with a stored answer was requested again; only the SIGKILLed requests were.
        for (const std::string& p : answered2) QCOMPARE(teacher.requestsFor(p), 1);
        int twice = 0;
        for (const std::string& p : all) {
            QVERIFY(teacher.requestsFor(p) >= 1);
            twice += teacher.requestsFor(p) > 1 ? 1 : 0;
        }
        QVERIFY(twice <= int(sending.size()));
        QCOMPARE(column(project, "SELECT COUNT(*) FROM distill_items WHERE state = 'accepted'"), std::vector<std::string>{"24"});
        QCOMPARE(column(project, "SELECT COUNT(*) FROM distill_runs"), std::vector<std::string>{"3"});

        // The key: sent to the teacher, stored nowhere, printed nowhere.
        for (const auto& req : teacher.requests()) QCOMPARE(QString::fromStdString(req.authorization), QString("Bearer sk-cli-secret-42"));
        QVERIFY(!output.contains("sk-cli-secret-42"));
        for (const char* suffix : {"", "-wal"}) QVERIFY(slurp(project + suffix).find("sk-cli-secret-42") == std::string::npos);
        QCOMPARE(column(project, "SELECT key_source FROM distill_jobs"), std::vector<std::string>{"env:SWARM_TEST_DISTILL_KEY"});

        const Result status = runSwarm({"distill", "status", "d1", "--project", project, "--json"});
        QCOMPARE(status.exitCode, 0);
        const json st = json::parse(status.out.toStdString());
        QCOMPARE(st["counts"]["accepted"].get<int>(), 24);
        QCOMPARE(st["status"].get<std::string>(), std::string("built"));
        QCOMPARE(st["runs"].size(), size_t(3));
        QCOMPARE(st["runs"][1]["stop_reason"].get<std::string>(), std::string(""));   // the killed run never ended
        const Result stats = runSwarm({"dataset", "stats", "d1", "--project", project});
        QVERIFY2(stats.exitCode == 0 && stats.out.contains("24 imported"), qPrintable(stats.out + stats.err));
        // Running it again has nothing to do.
        const Result again = runSwarm(command + QStringList{"--quiet"});
        QVERIFY2(again.exitCode == 0 && again.out.contains("built"), qPrintable(again.out + again.err));
        // A different definition under the same name is refused, naming the difference.
        QStringList other = command;
        other[other.indexOf("fake-teacher")] = "other-model";
        const Result refused = runSwarm(other);
        QCOMPARE(refused.exitCode, 1);
        QVERIFY2(refused.err.contains("teacher model 'other-model'"), qPrintable(refused.err));
    }

    void swarmServeTeacherThenCompare() {
        const std::string sdir = (dir_ + "/swarm").toStdString();
        swarmtest::writeSwarm(sdir, 16);
        QProcess serve;
        serve.start(SWARM_CLI, {"serve", QString::fromStdString(sdir + "/swarm.json"), "--port", "0"});
        QVERIFY(serve.waitForStarted());
        QVERIFY(serve.waitForReadyRead(60000));
        const QString line = QString::fromUtf8(serve.readLine());
        const int port = line.section("127.0.0.1:", 1).section(' ', 0, 0).toInt();
        QVERIFY2(port > 0, qPrintable(line));

        const QString project = dir_ + "/compare.swarm";
        QCOMPARE(runSwarm({"project", "create", project}).exitCode, 0);
        const QString data = dir_ + "/nl2sql.jsonl";
        swarm::samples::writeJsonl(data.toStdString(), swarm::samples::sqlSamples(30, 3));
        Result r = runSwarm({"dataset", "import", data, "--project", project, "--name", "sql", "--preset", "sql", "--split", "0.6,0,0.4"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runSwarm({"distill", "--project", project, "--prompts", "dataset:sql", "--name", "sql-teacher", "--teacher-url",
                      QString("http://127.0.0.1:%1").arg(port), "--teacher-model", "sql", "--max-tokens", "16", "--price-in", "2.5",
                      "--price-out", "10", "--quiet"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.out + r.err));
        QVERIFY2(r.out.contains("prompts: 30"), qPrintable(r.out));
        // The random specialist's SQL does not run: its answers are kept as rejected, with the reason.
        const Result rej = runSwarm({"distill", "rejected", "sql-teacher", "--project", project, "--limit", "3"});
        QCOMPARE(rej.exitCode, 0);
        QVERIFY2(rej.out.contains("prompt:"), qPrintable(rej.out));
        const std::vector<std::string> models = column(project, "SELECT DISTINCT teacher_model FROM distill_items WHERE answered_at != ''");
        QCOMPARE(models, std::vector<std::string>{"sql"});

        const QString report = dir_ + "/teacher-report.md";
        r = runSwarm({"distill", "compare", "sql-teacher", QString::fromStdString(sdir + "/sql"), "--project", project, "--dataset",
                      "sql", "--max-tokens", "4", "--threads", "1", "--report", report});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("teacher:sql (baseline)"), qPrintable(r.out));
        QVERIFY2(r.out.contains("API price"), qPrintable(r.out));
        QVERIFY(QFile::exists(report));
        QVERIFY(slurp(report).find("teacher:sql") != std::string::npos);

        ::kill(pid_t(serve.processId()), SIGTERM);
        QVERIFY(serve.waitForFinished(60000));
    }
};

QTEST_GUILESS_MAIN(TestDistillCli)
#include "test_distill_cli.moc"
