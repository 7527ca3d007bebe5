// `swarm serve` and `swarm swarm check|run|eval` through the built binary: --help, one-line errors
// naming the field of a bad swarm definition, a routed run and an evaluation, and a real server
// process on a free loopback port that answers, then on SIGTERM finishes the streaming request in
// flight and exits 0. The torch-free `swarm-serve` binary: refusals (a non-loopback host without
// keys, contradictory options), config file errors naming the line, and SIGHUP reloads of the
// definition and the keys (a broken definition leaves the old swarm serving).
#include "cli_process.h"
#include "serve_test_util.h"
#include "swarm_test_util.h"

#include "serve/swarm_eval.h"

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <arpa/inet.h>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// A raw HTTP/1.1 exchange on 127.0.0.1:port; onFirstData runs once the first SSE event arrived.
std::string rawPost(int port, const std::string& path, const std::string& body, const std::function<void()>& onFirstData) {
    const int fd = servetest::connectLoopback(port);
    if (fd < 0) return "";
    const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (!servetest::sendAll(fd, req)) {
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

    // swarm-serve, the torch-free deployment binary: the same command, its refusals, a config file.
    void serveBinaryOptions() {
        auto run = [](const QStringList& args) {
            QProcess p;
            p.start(SWARM_SERVE_BIN, args);
            p.waitForFinished(120000);
            return Result{p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
                          QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
        };
        Result r = run({"--help"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("--api-key-file") && r.out.contains("--max-concurrent-per-key") && r.out.contains("SIGHUP"));
        r = run({"--version"});
        QVERIFY(r.out.startsWith("swarm-serve "));
        r = run({});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("swarm-serve: expected a SWARM.json"), qPrintable(r.err));
        const QString swarmJson = dir_ + "/swarm.json";
        // Beyond loopback without keys: refused before anything is loaded or bound.
        for (const char* host : {"0.0.0.0", "::", "192.0.2.1"}) {
            r = run({swarmJson, "--host", host, "--port", "0"});
            QVERIFY(r.exitCode != 0);
            QVERIFY2(r.err.contains(QString("refusing to serve ") + host + " without API keys") &&
                         r.err.contains("--insecure-no-auth"), qPrintable(r.err));
        }
        const QString keys = QString::fromStdString(servetest::writeKeyFile(dir_.toStdString()));
        r = run({swarmJson, "--insecure-no-auth", "--api-key-file", keys});
        QVERIFY(r.err.contains("contradict"));
        r = run({swarmJson, "--max-concurrent-per-key", "2"});
        QVERIFY(r.err.contains("--max-concurrent-per-key needs --api-key-file"));
        r = run({swarmJson, "--api-key-file", dir_ + "/nokeys"});
        QVERIFY2(r.err.contains("nokeys: cannot read the API key file"), qPrintable(r.err));
        r = run({swarmJson, "--deadline", "-1"});
        QVERIFY(r.err.contains("option --deadline must be between 0"));

        auto config = [&](const std::string& name, const std::string& text) {
            const QString path = dir_ + "/" + QString::fromStdString(name);
            std::ofstream(path.toStdString()) << text;
            return path;
        };
        r = run({"--config", config("bad1.conf", "# c\nport = 8080\ncolour = blue\n")});
        QVERIFY2(r.err.contains("bad1.conf:3: unknown setting 'colour'"), qPrintable(r.err));
        r = run({"--config", config("bad2.conf", "swarm = " + swarmJson.toStdString() + "\nport = 99999\n")});
        QVERIFY2(r.err.contains("bad2.conf: option --port must be between 0 and 65535"), qPrintable(r.err));
        r = run({"--config", config("bad3.conf", "port = 1\nport = 2\n")});
        QVERIFY2(r.err.contains("bad3.conf:2: 'port' is also set on line 1"), qPrintable(r.err));
        r = run({"--config", config("bad4.conf", "insecure-no-auth = maybe\n")});
        QVERIFY2(r.err.contains("bad4.conf:1: 'insecure-no-auth' takes true or false"), qPrintable(r.err));
        r = run({"--config", config("bad5.conf", "just words\n")});
        QVERIFY2(r.err.contains("bad5.conf:1: expected NAME = VALUE"), qPrintable(r.err));
        r = run({"--config", dir_ + "/none.conf"});
        QVERIFY2(r.err.contains("none.conf: cannot read the config file"), qPrintable(r.err));
        // The command line wins over the file: a bad port in the file is replaced.
        r = run({"--config", config("ok.conf", "swarm = " + swarmJson.toStdString() + "\nport = 99999\nhost = 0.0.0.0\n"),
                 "--port", "0", "--host", "127.0.0.1", "--help"});
        QCOMPARE(r.exitCode, 0);
    }

    // SIGHUP reloads the definition and the keys; a broken definition leaves the old swarm serving.
    void serveBinaryReloads() {
        const std::string dir = dir_.toStdString() + "/reload";
        std::filesystem::create_directories(dir);
        nlohmann::json def = swarmtest::writeSwarm(dir, 4);
        const std::string keys = servetest::writeKeyFile(dir);
        const std::string log = dir + "/requests.log";
        const QString conf = QString::fromStdString(dir + "/serve.conf");
        std::ofstream(conf.toStdString()) << "# swarm-serve test config\nswarm = " << dir << "/swarm.json\nport = 0\n"
                                           << "api-key-file = " << keys << "\nrequest-log = " << log << "\nworkers = 2\n";
        QProcess p;
        p.start(SWARM_SERVE_BIN, {"--config", conf});
        QVERIFY(p.waitForStarted());
        QString out;
        auto waitForOutput = [&](const QString& text) {
            for (int i = 0; i < 600 && !out.contains(text); ++i) {
                p.waitForReadyRead(100);
                out += QString::fromUtf8(p.readAllStandardOutput());
            }
            return out.contains(text);
        };
        QVERIFY2(waitForOutput("listening on http://127.0.0.1:"), qPrintable(out));
        QVERIFY2(out.contains("2 API keys"), qPrintable(out));
        const int port = out.section("127.0.0.1:", 1).section(' ', 0, 0).toInt();
        const std::string auth = std::string("Authorization: Bearer ") + servetest::kAliceKey + "\r\n";
        const std::string body = R"({"model": "sql", "prompt": "hi", "max_tokens": 2})";
        QCOMPARE(servetest::statusOf(servetest::rawPost(port, "/v1/completions", body, auth)), 200);
        QCOMPARE(servetest::statusOf(servetest::rawPost(port, "/v1/completions", body)), 401);

        def["name"] = "reloaded";
        std::ofstream(dir + "/swarm.json") << def.dump();
        std::ofstream(keys) << servetest::kBobKey << " bob\n";   // alice's key revoked
        ::kill(pid_t(p.processId()), SIGHUP);
        QVERIFY2(waitForOutput("SIGHUP: reloaded 'reloaded' (3 specialists, 1 loaded: sql, 1 API keys)"), qPrintable(out));
        auto health = [&] {
            return nlohmann::json::parse(servetest::bodyOf(
                servetest::rawExchange(port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        };
        QCOMPARE(health()["swarm"].get<std::string>(), std::string("reloaded"));
        QCOMPARE(health()["loaded"], nlohmann::json::array({"sql"}));
        QCOMPARE(servetest::statusOf(servetest::rawPost(port, "/v1/completions", body, auth)), 401);
        const std::string bob = std::string("Authorization: Bearer ") + servetest::kBobKey + "\r\n";
        QCOMPARE(servetest::statusOf(servetest::rawPost(port, "/v1/completions", body, bob)), 200);

        std::ofstream(dir + "/swarm.json") << R"({"router": {"model": "router"}, "specialists": {"sql": {"model": "sql", "top_p": 7}}})";
        ::kill(pid_t(p.processId()), SIGHUP);
        QVERIFY2(waitForOutput("SIGHUP: reload failed, still serving the previous swarm:"), qPrintable(out));
        QVERIFY2(out.contains("field 'specialists.sql.top_p'"), qPrintable(out));
        QCOMPARE(health()["swarm"].get<std::string>(), std::string("reloaded"));
        const std::string metrics = servetest::bodyOf(servetest::rawExchange(
            port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + bob + "\r\n"));
        QVERIFY2(metrics.find("swarm_reloads_total{result=\"ok\"} 1\n") != std::string::npos &&
                     metrics.find("swarm_reloads_total{result=\"failed\"} 1\n") != std::string::npos, metrics.c_str());

        ::kill(pid_t(p.processId()), SIGTERM);
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        // The request log: one JSON line per request (the 4 completions and the metrics scrape aside: 4).
        std::ifstream in(log);
        std::vector<nlohmann::json> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
        QCOMPARE(lines.size(), size_t(4));
        QCOMPARE(lines[0]["key"].get<std::string>(), std::string("alice"));
        QCOMPARE(lines[1]["status"].get<int>(), 401);
        QCOMPARE(lines[3]["key"].get<std::string>(), std::string("bob"));
    }
};

QTEST_GUILESS_MAIN(TestServeCli)
#include "test_serve_cli.moc"
