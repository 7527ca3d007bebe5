// `swarm serve` and `swarm swarm check|run|eval` through the built binary: --help, one-line errors
// naming the field of a bad swarm definition, a routed run and an evaluation, and a real server process on a free loopback port that answers, then on SIGTERM
// finishes the streaming request in flight and exits 0.
#include "cli_process.h"
#include "swarm_test_util.h"

#include "serve/swarm_eval.h"

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <arpa/inet.h>
#include <cmath>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// A raw HTTP/1.1 exchange on 127.0.0.1:port; onFirstData runs once the first SSE event arrived.
std::string rawPost(int port, const std::string& path, const std::string& body, const std::function<void()>& onFirstData) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return "";
    }
    const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::send(fd, req.data(), req.size(), 0) != ssize_t(req.size())) {
        ::close(fd);
        return "";
    }
    std::string got;
    bool fired = false;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
        got.append(buf, size_t(n));
        if (!fired && got.find("data: ") != std::string::npos) {
            fired = true;
            onFirstData();
        }
    }
    ::close(fd);
    return got;
}

} // namespace

class TestServeCli : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString dir_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path();
        swarmtest::writeSwarm(dir_.toStdString(), 100);
    }

    void helpAndErrors() {
        Result r = runSwarm({"serve", "--help"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("--max-queue"));
        r = runSwarm({"serve"});
        QVERIFY(r.exitCode != 0);
        QVERIFY(r.err.contains("expected a SWARM.json"));
        std::ofstream(dir_.toStdString() + "/bad.json") << R"({"router": {"model": "router"}, "specialists": {"a": {"model": "x", "top_p": 3}}})";
        r = runSwarm({"serve", dir_ + "/bad.json", "--port", "0"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("field 'specialists.a.top_p'"), qPrintable(r.err));
        QCOMPARE(r.err.trimmed().count('\n'), 0);
        r = runSwarm({"serve", dir_ + "/swarm.json", "--port", "99999"});
        QVERIFY(r.exitCode != 0);
        QVERIFY(r.err.contains("--port"));
        for (const char* option : {"--idle-timeout", "--workers"}) {
            r = runSwarm({"serve", dir_ + "/swarm.json", "--port", "0", option, "0"});
            QVERIFY(r.exitCode != 0);
            QVERIFY2(r.err.contains(QString("option ") + option + " must be between 1"), qPrintable(r.err));
        }
    }

    void swarmCommand() {
        Result r = runSwarm({"swarm", "check", dir_ + "/swarm.json"});
        QCOMPARE(r.exitCode, 0);
        const nlohmann::json def = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(def["specialists"].size(), size_t(3));
        QVERIFY(QString::fromStdString(def["router"]["model"].get<std::string>()).startsWith(dir_));

        r = runSwarm({"swarm", "run", dir_ + "/swarm.json", "--input", "How many users?", "--max-tokens", "3", "--json"});
        QCOMPARE(r.exitCode, 0);
        const nlohmann::json run = nlohmann::json::parse(r.out.toStdString());
        QVERIFY(run["routed"].get<bool>());
        const std::string label = run["label"].get<std::string>();
        QVERIFY(label == "sql" || label == "intent" || label == "pii");
        QCOMPARE(run["specialist"].get<std::string>(), label);
        QVERIFY(run["completion_tokens"].get<int>() <= 3);
        double sum = 0;
        for (const auto& [l, p] : run["probabilities"].items()) sum += p.get<double>();
        QVERIFY(std::abs(sum - 1.0) < 1e-9);

        r = runSwarm({"swarm", "run", dir_ + "/swarm.json", "--input", "hi", "--label", "pii", "--max-tokens", "2", "--stream"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("specialist: pii"), qPrintable(r.out));
        // Routed and streamed: the route is announced (on stderr) before the answer.
        r = runSwarm({"swarm", "run", dir_ + "/swarm.json", "--input", "How many users?", "--max-tokens", "2", "--stream"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.err.contains("route: " + QString::fromStdString(label) + " (confidence"), qPrintable(r.err));
        QVERIFY2(r.out.contains("specialist: " + QString::fromStdString(label)), qPrintable(r.out));
        r = runSwarm({"swarm", "run", dir_ + "/swarm.json", "--input", "hi", "--label", "chess"});
        QVERIFY(r.exitCode != 0);
        QVERIFY(r.err.contains("'chess' is not a specialist"));

        {
            std::ofstream out(dir_.toStdString() + "/mixed.jsonl");
            out << R"({"task": "sql", "input": "CREATE TABLE t (a INTEGER);\nCount rows", "reference": "SELECT COUNT(*) FROM t"})" "\n"
                << R"({"task": "pii", "input": "Call Ann", "reference": "Call [NAME]"})" "\n"
                << R"({"task": "intent", "input": "refund", "reference": "refund"})" "\n";
        }
        const QString report = dir_ + "/report.md";
        r = runSwarm({"swarm", "eval", dir_ + "/swarm.json", "--data", dir_ + "/mixed.jsonl", "--max-tokens", "3",
                      "--preset", "intent=router", "--report", report});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("routing accuracy"));
        QVERIFY(r.out.contains("| sql | 1 |"));
        QVERIFY(QFile::exists(report));
        r = runSwarm({"swarm", "eval", dir_ + "/swarm.json", "--data", dir_ + "/mixed.jsonl", "--max-tokens", "2", "--json"});
        QCOMPARE(r.exitCode, 0);
        const nlohmann::json alone = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(alone["n"].get<int>(), 3);
        r = runSwarm({"swarm", "eval", dir_ + "/swarm.json", "--data", dir_ + "/mixed.jsonl", "--max-tokens", "2", "--json",
                      "--concurrency", "3"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const nlohmann::json together = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(together["confusion"], alone["confusion"]);
        QCOMPARE(together["tasks"].size(), alone["tasks"].size());
        r = runSwarm({"swarm", "eval", dir_ + "/swarm.json", "--data", dir_ + "/mixed.jsonl", "--concurrency", "0"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("--concurrency"), qPrintable(r.err));
        // Numbers are checked, naming the option (a bare std::stod used to answer "stod").
        r = runSwarm({"swarm", "eval", dir_ + "/swarm.json", "--data", dir_ + "/mixed.jsonl", "--watts", "lots"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("option --watts needs a number, got 'lots'"), qPrintable(r.err));
        r = runSwarm({"swarm", "eval", dir_ + "/swarm.json", "--data", dir_ + "/mixed.jsonl", "--price-kwh", "-2"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("option --price-kwh must be between 0 and 1e+06, got -2"), qPrintable(r.err));
    }

    // `swarm swarm mix`: a mixed dataset from the project's datasets, one split, tasks in turn.
    void mixesFromTheProject() {
        const QString project = dir_ + "/mix.swarm";
        QCOMPARE(runSwarm({"project", "create", project}).exitCode, 0);
        for (const char* name : {"alpha", "beta"}) {
            const QString file = dir_ + "/" + name + ".jsonl";
            std::ofstream out(file.toStdString());
            for (int i = 0; i < 40; ++i)
                out << nlohmann::json{{"q", std::string(name) + " question " + std::to_string(i)}, {"a", "answer " + std::to_string(i)}}.dump() << "\n";
            out.close();
            Result r = runSwarm({"dataset", "import", file, "--project", project, "--name", name, "--prompt-template", "{q}",
                                 "--response-field", "a", "--split", "0.5,0,0.5", "--quiet"});
            QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        }
        const QString mixed = dir_ + "/mixed-test.jsonl";
        Result r = runSwarm({"swarm", "mix", "--project", project, "--tasks", "a=alpha,b=beta", "--per-task", "3", "--out", mixed});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("wrote 6 test examples") && r.out.contains("a 3 (alpha)"), qPrintable(r.out));
        const std::vector<swarm::SwarmEvalExample> rows = swarm::loadMixedDataset(mixed.toStdString());
        QCOMPARE(rows.size(), size_t(6));
        // The first three test examples of each dataset, in source order, the tasks in turn.
        r = runSwarm({"dataset", "export", "alpha", "--project", project, "--split", "test"});
        QCOMPARE(r.exitCode, 0);
        std::vector<std::string> alphaTest;
        for (const QString& line : r.out.split('\n', Qt::SkipEmptyParts))
            alphaTest.push_back(nlohmann::json::parse(line.toStdString())["prompt"].get<std::string>());
        QVERIFY(alphaTest.size() >= 3);
        for (size_t i = 0; i < rows.size(); ++i) {
            QCOMPARE(rows[i].task, std::string(i % 2 ? "b" : "a"));
            QVERIFY(rows[i].input.find(i % 2 ? "beta question" : "alpha question") == 0);
            QVERIFY(rows[i].reference.find("answer ") == 0);
        }
        QCOMPARE(rows[0].input, alphaTest[0]);
        QCOMPARE(rows[2].input, alphaTest[1]);
        QCOMPARE(rows[4].input, alphaTest[2]);
        // All of the train split when --per-task is not given.
        r = runSwarm({"swarm", "mix", "--project", project, "--tasks", "a=alpha", "--split", "train", "--out", mixed});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const size_t trainRows = swarm::loadMixedDataset(mixed.toStdString()).size();
        QVERIFY(trainRows > 3 && trainRows < 40);
        // Errors name what is wrong; the file written before is left as it was.
        r = runSwarm({"swarm", "mix", "--project", project, "--tasks", "a=nope", "--out", mixed});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("nope"), qPrintable(r.err));
        QCOMPARE(swarm::loadMixedDataset(mixed.toStdString()).size(), trainRows);
        r = runSwarm({"swarm", "mix", "--project", project, "--tasks", "a", "--out", mixed});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("--tasks: expected TASK=DATASET, got 'a'"), qPrintable(r.err));
        r = runSwarm({"swarm", "mix", "--project", project, "--tasks", "a=alpha", "--split", "validation", "--out", mixed});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("no validation examples"), qPrintable(r.err));
        r = runSwarm({"swarm", "mix", "--project", project, "--tasks", "a=alpha", "--split", "dev2", "--out", mixed});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("--split"), qPrintable(r.err));
    }

    void savedInAProject() {
        const QString project = dir_ + "/p.swarm";
        QCOMPARE(runSwarm({"project", "create", project}).exitCode, 0);
        Result r = runSwarm({"swarm", "save", dir_ + "/swarm.json", "--project", project});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("saved swarm 'test-swarm'"));
        r = runSwarm({"swarm", "list", "--project", project});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.trimmed(), QString("test-swarm"));
        r = runSwarm({"swarm", "run", "test-swarm", "--project", project, "--input", "hi", "--label", "sql",
                      "--max-tokens", "2", "--json"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(QString::fromStdString(nlohmann::json::parse(r.out.toStdString())["specialist"].get<std::string>()),
                 QString("sql"));
        r = runSwarm({"swarm", "run", "nope", "--project", project, "--input", "hi"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("no swarm 'nope' (saved: test-swarm)"), qPrintable(r.err));
        // Other commands still open the project.
        r = runSwarm({"project", "info", project});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    }

    void servesAndStopsGracefully() {
        QProcess p;
        p.start(SWARM_CLI, {"serve", dir_ + "/swarm.json", "--port", "0"});
        QVERIFY(p.waitForStarted());
        QVERIFY(p.waitForReadyRead(60000));
        const QString line = QString::fromUtf8(p.readLine());
        QVERIFY2(line.contains("listening on http://127.0.0.1:"), qPrintable(line));
        const int port = line.section("127.0.0.1:", 1).section(' ', 0, 0).toInt();
        QVERIFY(port > 0);

        const std::string plain = rawPost(port, "/v1/completions", R"({"model": "sql", "prompt": "hi", "max_tokens": 2})", [] {});
        QVERIFY2(plain.rfind("HTTP/1.1 200", 0) == 0, plain.c_str());

        // SIGTERM while a streamed answer is being written: it still completes.
        const std::string streamed =
            rawPost(port, "/v1/completions", R"({"model": "swarm", "prompt": "hello there", "max_tokens": 100, "stream": true})",
                    [&] { ::kill(pid_t(p.processId()), SIGTERM); });
        QVERIFY2(streamed.rfind("HTTP/1.1 200", 0) == 0, streamed.c_str());
        QVERIFY2(streamed.find("data: [DONE]") != std::string::npos, streamed.c_str());
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 0);
        const QString out = QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY2(out.contains("SIGTERM: finishing requests in flight"), qPrintable(out));
        QVERIFY2(out.contains("stopped after 2 requests"), qPrintable(out));
    }
};

QTEST_GUILESS_MAIN(TestServeCli)
#include "test_serve_cli.moc"
