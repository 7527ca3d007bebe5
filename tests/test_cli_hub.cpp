// Repo ids through the built `swarm` binary, against the local fixture Hub on 127.0.0.1
// (HF_ENDPOINT, HF_HUB_CACHE): dataset preview and import of a dataset repo's Parquet file, a
// model repo exported (and pushed back with --push), offline refusals as one line.
#include "cli_process.h"
#include "core/hf_hub.h"
#include "hub_fixture_server.h"
#include "test_engine_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using swarm::test::HubFile;
using swarm::test::HubFixtureServer;
using swarm::test::HubRepo;

namespace {

const std::string kCommit = "3333333333333333333333333333333333333333";

std::string readFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

QString q(const std::string& s) { return QString::fromStdString(s); }

} // namespace

class TestCliHub : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<HubFixtureServer> server_;
    std::string path(const std::string& n) { return dir_.filePath(q(n)).toStdString(); }

private slots:
    void initTestCase() {
        server_ = std::make_unique<HubFixtureServer>();
        // A real (tiny, random) Eve model, so that export can load and re-check it.
        const std::string model = path("tiny-model");
        enginetest::saveModel(model, enginetest::smallConfig(), enginetest::randomWeights(enginetest::smallConfig(), 5),
                              swarm::DType::F32, true);
        HubRepo m;
        m.id = "org/tiny-eve";
        m.refs["main"] = kCommit;
        for (const auto& e : fs::directory_iterator(model)) {
            const std::string name = e.path().filename().string();
            m.trees[kCommit].push_back({name, readFile(e.path().string()), name == "model.safetensors"});
        }
        server_->addRepo(m);
        HubRepo d;
        d.type = "datasets";
        d.id = "org/chat";
        d.refs["main"] = kCommit;
        d.trees[kCommit] = {{"README.md", "# chat\n", false},
                            {"data/train-00000-of-00001.parquet",
                             readFile(std::string(SWARM_TEST_DATA_DIR) + "/parquet/chat_dict_snappy_v1.parquet"), true}};
        server_->addRepo(d);
        ::setenv("HF_ENDPOINT", server_->endpoint().c_str(), 1);
        ::setenv("HF_HUB_CACHE", path("hf-cache").c_str(), 1);
        ::unsetenv("HF_TOKEN");
        ::unsetenv("HF_HUB_OFFLINE");
    }

    void datasetRepoPreviewAndImport() {
        const QStringList mapping{"--prompt-template", "{messages[0].content}", "--response-template", "{messages[1].content}"};
        Result r = runSwarm(QStringList{"dataset", "preview", "org/chat", "--rows", "2"} + mapping);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("parquet") && r.out.contains("row 1") && r.out.contains("columns: id messages tags source"), qPrintable(r.out));
        QVERIFY2(r.err.contains("dataset org/chat: data/train-00000-of-00001.parquet at commit 333333333333, downloaded"), qPrintable(r.err));
        const std::string project = path("p.swarm");
        QCOMPARE(runSwarm({"project", "create", q(project)}).exitCode, 0);
        r = runSwarm(QStringList{"dataset", "import", "org/chat", "--project", q(project), "--name", "chat", "--split", "train"} + mapping);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("imported dataset 'chat'"), qPrintable(r.out));
        QVERIFY2(r.err.contains("from the Hugging Face cache"), qPrintable(r.err));   // the preview downloaded it
        r = runSwarm({"dataset", "import", "org/absent", "--project", q(project), "--name", "x", "--offline"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("dataset org/absent") && r.err.contains("offline mode is on") && r.err.trimmed().count('\n') == 0,
                 qPrintable(r.err));
        r = runSwarm({"dataset", "preview", path("p.swarm").c_str(), "--config", "x"});
        QVERIFY(r.exitCode != 0);
    }

    void modelRepoExportedAndPushed() {
        const std::string gguf = path("tiny.gguf");
        Result r = runSwarm({"export", "org/tiny-eve", "--format", "gguf", "--out", q(gguf), "--push", "me/tiny-gguf", "--token",
                             HubFixtureServer::kToken});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("pushed to me/tiny-gguf (new repo): commit"), qPrintable(r.out));
        bool ggufThere = false, card = false;
        for (const HubFile& f : server_->files("models", "me/tiny-gguf", "main")) {
            ggufThere = ggufThere || (f.path == "tiny.gguf" && f.content == readFile(gguf));
            card = card || (f.path == "README.md" && f.content.find("org/tiny-eve") != std::string::npos);
        }
        QVERIFY(ggufThere);
        QVERIFY(card);
        QVERIFY(!fs::exists(gguf + ".README.md"));
        // No token: refused before anything is exported.
        const std::string hf = path("tiny-hf");
        r = runSwarm({"export", "org/tiny-eve", "--format", "hf", "--out", q(hf), "--push", "me/tiny-hf"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("needs a write token"), qPrintable(r.err));
        QVERIFY(!fs::exists(hf));
        r = runSwarm({"export", "org/tiny-eve", "--format", "hf", "--out", q(hf), "--push", "me/tiny-hf", "--token", HubFixtureServer::kToken});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        std::set<std::string> pushed;
        for (const HubFile& f : server_->files("models", "me/tiny-hf", "main")) pushed.insert(f.path);
        for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md"})
            QVERIFY2(pushed.count(f), f);
        // Offline, the cached model still exports; an uncached one is refused in one line.
        ::setenv("HF_HUB_OFFLINE", "1", 1);
        r = runSwarm({"export", "org/tiny-eve", "--format", "gguf", "--out", q(path("again.gguf")), "--no-recheck"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runSwarm({"export", "org/not-cached", "--format", "gguf", "--out", q(path("x.gguf"))});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("model org/not-cached: not in the Hugging Face cache") && r.err.contains("offline mode is on"), qPrintable(r.err));
        ::unsetenv("HF_HUB_OFFLINE");
    }

    // A swarm definition names its models by repo id as well as by path.
    void swarmDefinitionByRepoId() {
        const std::string def = path("hub-swarm.json");
        {
            std::ofstream f(def);
            f << "{\"name\": \"hub\", \"router\": {\"model\": \"org/tiny-eve\"}, "
                 "\"specialists\": {\"sql\": {\"model\": \"org/tiny-eve\", \"max_tokens\": 4}}}";
        }
        Result r = runSwarm({"swarm", "run", q(def), "--input", "How many users?"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("sql"), qPrintable(r.out));
        {
            std::ofstream f(def);
            f << "{\"name\": \"hub\", \"router\": {\"model\": \"org/no-such-model\"}, "
                 "\"specialists\": {\"sql\": {\"model\": \"org/tiny-eve\"}}}";
        }
        r = runSwarm({"swarm", "run", q(def), "--input", "How many users?"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("org/no-such-model"), qPrintable(r.err));
    }

    void cleanupTestCase() { server_.reset(); }
};

QTEST_GUILESS_MAIN(TestCliHub)
#include "test_cli_hub.moc"
