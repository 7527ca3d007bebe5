// The official OpenAI client library (npm `openai`, pinned in tests/openai/package.json) driving
// the swarm-serve binary with API keys on: the model list, a completion, a routed completion,
// chat, both streamed, errors (unknown model, bad fields, a stream refused) and a wrong key, as
// the client reports them. Every answer is compared with what the swarm gives for the same
// request in this process (greedy decoding: the same text). Skipped, saying so, when node is
// not installed; tests/openai/node_modules comes from `npm ci` (installer/install-node-deps.sh).
#include "serve_test_util.h"
#include "swarm_test_util.h"

#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>

using namespace swarm;
using nlohmann::json;

class TestServeOpenai : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_;
    QString node_;

    std::string expected(const std::string& input, const std::string& label) {
        Swarm swarm(SwarmDefinition::load(dir_ + "/swarm.json"));
        DispatchRequest d;
        d.input = input;
        d.label = label;
        d.maxTokens = 8;
        return swarm.dispatch(d).answer;
    }

private slots:
    void initTestCase() {
        node_ = QStandardPaths::findExecutable("node");
        if (node_.isEmpty())
            QSKIP("node is not installed: the OpenAI client test needs Node.js (installer/install-node-deps.sh installs it)");
        QVERIFY2(QFile::exists(SWARM_OPENAI_TEST_DIR "/node_modules/openai/package.json"),
                 "tests/openai/node_modules/openai is missing: run `npm ci` in tests/openai "
                 "(installer/run-tests.sh does it through installer/install-node-deps.sh)");
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        swarmtest::writeSwarm(dir_, 16);
    }

    void officialClient() {
        const std::string keys = servetest::writeKeyFile(dir_);
        QProcess server;
        server.start(SWARM_SERVE_BIN, {QString::fromStdString(dir_ + "/swarm.json"), "--port", "0", "--api-key-file",
                                       QString::fromStdString(keys), "--request-log", "off"});
        QVERIFY(server.waitForStarted());
        QVERIFY(server.waitForReadyRead(60000));
        const QString line = QString::fromUtf8(server.readLine());
        QVERIFY2(line.contains("listening on http://127.0.0.1:") && line.contains("2 API keys"), qPrintable(line));
        const int port = line.section("127.0.0.1:", 1).section(' ', 0, 0).toInt();

        const std::string plainInput = "How many orders shipped last week?", chatInput = "Mask the name Alice Jones";
        const std::string routedInput = "Which customers live in Paris?";
        const json spec{{"base_url", "http://127.0.0.1:" + std::to_string(port) + "/v1"},
                        {"api_key", servetest::kAliceKey},
                        {"max_tokens", 8},
                        {"completion", {{"model", "sql"}, {"prompt", plainInput}}},
                        {"routed", {{"prompt", routedInput}}},
                        {"chat", {{"model", "pii"}, {"user", chatInput}}}};
        QProcess client;
        client.start(node_, {SWARM_OPENAI_TEST_DIR "/openai_client.mjs", QString::fromStdString(spec.dump())});
        QVERIFY(client.waitForStarted());
        const bool finished = client.waitForFinished(240000);
        if (!finished) client.kill();
        const QString err = QString::fromUtf8(client.readAllStandardError());
        QVERIFY2(finished && client.exitCode() == 0, qPrintable("the node client failed: " + err));
        const json out = json::parse(client.readAllStandardOutput().toStdString());

        ::kill(pid_t(server.processId()), SIGTERM);
        QVERIFY(server.waitForFinished(60000));
        QCOMPARE(server.exitCode(), 0);

        QCOMPARE(out["models"], json::array({"swarm", "intent", "pii", "sql", "fallback"}));
        const std::string sqlAnswer = expected(plainInput, "sql"), piiAnswer = expected(chatInput, "pii");
        QCOMPARE(out["completion"]["text"].get<std::string>(), sqlAnswer);
        QVERIFY(out["completion"]["id"].get<std::string>().rfind("cmpl-", 0) == 0);
        QVERIFY(!out["completion"]["request_id"].get<std::string>().empty());
        QVERIFY(out["completion"]["completion_tokens"].get<int>() <= 8);
        {
            Swarm swarm(SwarmDefinition::load(dir_ + "/swarm.json"));
            const std::string label = swarm.route(routedInput).label;
            QCOMPARE(out["routed"]["label"].get<std::string>(), label);
            QCOMPARE(out["routed"]["specialist"].get<std::string>(), label);
            QCOMPARE(out["routed"]["text"].get<std::string>(), expected(routedInput, label));
        }
        QCOMPARE(out["chat"]["content"].get<std::string>(), piiAnswer);
        QCOMPARE(out["chat"]["role"].get<std::string>(), std::string("assistant"));
        QCOMPARE(out["stream_completion"]["text"].get<std::string>(), sqlAnswer);
        QVERIFY(out["stream_completion"]["finish_reason"].is_string());
        QVERIFY(out["stream_completion"]["chunks"].get<int>() >= 2);
        QCOMPARE(out["stream_chat"]["content"].get<std::string>(), piiAnswer);
        QCOMPARE(out["stream_chat"]["first_role"].get<std::string>(), std::string("assistant"));

        const json& e = out["errors"];
        auto check = [&](const char* name, const char* cls, int status, const char* inMessage) {
            const json& x = e[name];
            QVERIFY2(x["class"] == cls && x["status"] == status && x["is_api_error"] == true, x.dump().c_str());
            QVERIFY2(x["message"].get<std::string>().find(inMessage) != std::string::npos, x.dump().c_str());
        };
        check("unknown_model", "NotFoundError", 404, "unknown model 'gpt-4o'");
        check("bad_max_tokens", "BadRequestError", 400, "'max_tokens'");
        check("bad_messages", "BadRequestError", 400, "'messages'");
        check("stream_unknown_model", "NotFoundError", 404, "unknown model 'nope'");
        check("wrong_key", "AuthenticationError", 401, "invalid API key");
        check("wrong_key_models", "AuthenticationError", 401, "invalid API key");
        QCOMPARE(e["wrong_key"]["type"].get<std::string>(), std::string("authentication_error"));
    }
};

QTEST_GUILESS_MAIN(TestServeOpenai)
#include "test_serve_openai.moc"
