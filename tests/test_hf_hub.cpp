// The Hugging Face Hub client and cache against a local fixture server on 127.0.0.1
// (tests/hub_fixture_server.h, HF_ENDPOINT-style endpoint): downloads into the standard cache
// layout, resume after a cut connection, checksum mismatches refused, 401/403/404 messages,
// offline mode, a pre-populated cache in the Python tools' layout used without the network,
// dataset repos (split files and the Parquet conversion) and pushes through the commit API.
#include "core/hf_cache.h"
#include "core/hf_hub.h"
#include "core/hf_upload.h"
#include "datasets/dataset_import.h"
#include "datasets/hub_dataset.h"
#include "hub_fixture_server.h"
#include "test_util.h"
#include "training/run_folder.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace swarm;
using swarm::test::errorOf;
using swarm::test::HubFile;
using swarm::test::HubFixtureServer;
using swarm::test::HubRepo;
using nlohmann::json;

namespace {

const std::string kCommit = "1111111111111111111111111111111111111111";
const std::string kCommit2 = "2222222222222222222222222222222222222222";

std::string readFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string bytes(size_t n, uint32_t seed) {
    std::string s(n, '\0');
    uint32_t x = seed * 2654435761u + 1;
    for (char& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = char(x & 0xFF);
    }
    return s;
}

const std::string kConfig = R"({"n_layer": 2, "n_embd": 64, "n_head": 4, "head_dim": 16, "vocab_size": 50304})";
const std::string kWeights = bytes(200 * 1024, 7);
const std::string kTokenizer = R"({"model": {"type": "BPE"}})";

HubRepo modelRepo(const std::string& id) {
    HubRepo r;
    r.id = id;
    r.refs["main"] = kCommit;
    r.trees[kCommit] = {{"config.json", kConfig, false},
                        {"model.safetensors", kWeights, true},
                        {"tokenizer.json", kTokenizer, false},
                        {"README.md", "# a model card\n", false},
                        {"pytorch_model.bin", bytes(1000, 3), true}};
    return r;
}

hub::HubOptions optionsFor(const HubFixtureServer& s, const std::string& cache) {
    hub::HubOptions o;
    o.endpoint = s.endpoint();
    o.cacheRoot = cache;
    return o;
}

std::vector<std::string> filesUnder(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        out.push_back(it->path().lexically_relative(dir).generic_string());
    std::sort(out.begin(), out.end());
    return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

} // namespace

class TestHfHub : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    int caches_ = 0;
    std::string freshCache() { return dir_.filePath(QString("cache-%1").arg(++caches_)).toStdString(); }

private slots:
    void repoIds() {
        QVERIFY(hub::looksLikeRepoId("anthonym21/Eve-2-MoE-IT-272M"));
        QVERIFY(hub::looksLikeRepoId("b-mc2/sql-create-context@main"));
        QVERIFY(hub::looksLikeRepoId("org/name@refs/convert/parquet"));
        QVERIFY(!hub::looksLikeRepoId("data/train.jsonl"));   // a path
        QVERIFY(!hub::looksLikeRepoId("runs/sql/final"));      // two slashes
        QVERIFY(!hub::looksLikeRepoId("sql-run@step-50"));     // a run's model name
        QVERIFY(!hub::looksLikeRepoId("./x"));
        QVERIFY(!hub::looksLikeRepoId("org/na--me"));
        QVERIFY(!hub::looksLikeRepoId("org/name@"));
        const hub::RepoId r = hub::parseRepoId("org/name@v1.0", hub::RepoType::Model);
        QCOMPARE(QString::fromStdString(r.id), QString("org/name"));
        QCOMPARE(QString::fromStdString(r.revision), QString("v1.0"));
        QVERIFY(contains(errorOf([] { hub::parseRepoId("org/name@../x", hub::RepoType::Model); }), "not a valid revision"));
        QCOMPARE(QString::fromStdString(hub::RepoCache("/c", r).folderName()), QString("models--org--name"));
        QCOMPARE(QString::fromStdString(hub::RepoCache("/c", hub::parseRepoId("a/b", hub::RepoType::Dataset)).folderName()),
                 QString("datasets--a--b"));
    }

    void cacheRootFromEnvironment() {
        ::setenv("HF_HUB_CACHE", "/x/hub-cache", 1);
        ::setenv("HF_HOME", "/y/hf-home", 1);
        QCOMPARE(QString::fromStdString(hub::defaultCacheRoot()), QString("/x/hub-cache"));
        ::unsetenv("HF_HUB_CACHE");
        QCOMPARE(QString::fromStdString(hub::defaultCacheRoot()), QString("/y/hf-home/hub"));
        ::unsetenv("HF_HOME");
        ::setenv("XDG_CACHE_HOME", "/z/xdg", 1);
        QCOMPARE(QString::fromStdString(hub::defaultCacheRoot()), QString("/z/xdg/huggingface/hub"));
        ::unsetenv("XDG_CACHE_HOME");
        ::setenv("HOME", "/home/u", 1);
        QCOMPARE(QString::fromStdString(hub::defaultCacheRoot()), QString("/home/u/.cache/huggingface/hub"));
        ::setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
        ::setenv("HF_HUB_OFFLINE", "1", 1);
        ::setenv("HF_TOKEN", "hf_env", 1);
        hub::HubOptions o = hub::hubOptionsFromEnvironment();
        QCOMPARE(QString::fromStdString(o.endpoint), QString("http://127.0.0.1:9"));
        QVERIFY(o.offline);
        QCOMPARE(QString::fromStdString(o.token), QString("hf_env"));
        hub::setProcessHubOverrides("hf_cli", false);
        QCOMPARE(QString::fromStdString(hub::hubOptionsFromEnvironment().token), QString("hf_cli"));
        hub::setProcessHubOverrides("", false);
        for (const char* v : {"HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN"}) ::unsetenv(v);
        QVERIFY(!hub::hubOptionsFromEnvironment().offline);
    }

    // A fresh download: only the model's files, in the Python layout, each checked; then the
    // same id again is served by the cache without a single request.
    void downloadIntoTheCacheLayout() {
        HubFixtureServer server;
        server.addRepo(modelRepo("org/tiny"));
        const std::string cache = freshCache();
        hub::HubOptions o = optionsFor(server, cache);
        std::vector<hub::DownloadProgress> seen;
        o.progress = [&](const hub::DownloadProgress& p) { seen.push_back(p); };
        const hub::Snapshot s = hub::resolveModel(hub::parseRepoId("org/tiny", hub::RepoType::Model), o);
        QVERIFY(!s.fromCache);
        QCOMPARE(QString::fromStdString(s.commit), QString::fromStdString(kCommit));
        QCOMPARE(QString::fromStdString(s.dir), QString::fromStdString(cache + "/models--org--tiny/snapshots/" + kCommit));
        const std::string repo = cache + "/models--org--tiny";
        QCOMPARE(QString::fromStdString(readFile(repo + "/refs/main")), QString::fromStdString(kCommit));
        const std::string weightsEtag = sha256Hex(kWeights), configEtag = test::gitBlobSha1(kConfig);
        std::vector<std::string> expected{"blobs", "blobs/" + test::gitBlobSha1(kTokenizer), "blobs/" + configEtag, "blobs/" + weightsEtag,
                                           "refs", "refs/main", "snapshots", "snapshots/" + kCommit,
                                           "snapshots/" + kCommit + "/config.json", "snapshots/" + kCommit + "/model.safetensors",
                                           "snapshots/" + kCommit + "/tokenizer.json"};
        std::sort(expected.begin(), expected.end());
        QCOMPARE(filesUnder(repo), expected);
        QCOMPARE(QString::fromStdString(fs::read_symlink(s.dir + "/model.safetensors").string()),
                 QString::fromStdString("../../blobs/" + weightsEtag));
        QVERIFY(readFile(s.dir + "/model.safetensors") == kWeights);
        QVERIFY(readFile(s.dir + "/config.json") == kConfig);
        QVERIFY(!seen.empty() && seen.back().finished);
        const int before = server.requests();
        const hub::Snapshot again = hub::resolveModel(hub::parseRepoId("org/tiny", hub::RepoType::Model), o);
        QVERIFY(again.fromCache);
        QCOMPARE(server.requests(), before);
        // run_folder::locateModel takes the id wherever a model folder is accepted.
        ::setenv("HF_HUB_CACHE", cache.c_str(), 1);
        ::setenv("HF_HUB_OFFLINE", "1", 1);
        const run_folder::ModelLocation m = run_folder::locateModel("org/tiny", run_folder::WithoutFinal::Refuse);
        QCOMPARE(QString::fromStdString(m.modelPath), QString::fromStdString(s.dir));
        QCOMPARE(QString::fromStdString(m.name), QString("org/tiny"));
        QCOMPARE(m.kind, run_folder::ModelLocation::Kind::HfFolder);
        ::unsetenv("HF_HUB_CACHE");
        ::unsetenv("HF_HUB_OFFLINE");
        QCOMPARE(server.requests(), before);
    }

    // A cut connection keeps the partial blob; the next run resumes it with a Range request.
    void resumeAfterACutConnection() {
        HubFixtureServer server;
        server.addRepo(modelRepo("org/tiny"));
        server.cutOnce(kWeights, 80 * 1024);
        const std::string cache = freshCache();
        const hub::HubOptions o = optionsFor(server, cache);
        const hub::RepoId id = hub::parseRepoId("org/tiny", hub::RepoType::Model);
        const std::string e = errorOf([&] { hub::resolveModel(id, o); });
        QVERIFY2(contains(e, "model org/tiny: model.safetensors: the download stopped at") && contains(e, "resume"), e.c_str());
        const std::string blobs = cache + "/models--org--tiny/blobs/";
        const std::string partial = blobs + sha256Hex(kWeights) + ".incomplete";
        QVERIFY(fs::exists(partial));
        QVERIFY(fs::file_size(partial) >= 80 * 1024 - 4096 && fs::file_size(partial) <= 80 * 1024);
        QVERIFY(!fs::exists(blobs + sha256Hex(kWeights)));
        QVERIFY(!fs::exists(cache + "/models--org--tiny/snapshots/" + kCommit + "/model.safetensors"));
        const uint64_t had = fs::file_size(partial);
        const hub::Snapshot s = hub::resolveModel(id, o);
        QVERIFY(readFile(s.dir + "/model.safetensors") == kWeights);
        QVERIFY(!fs::exists(partial));
        const std::vector<std::string> ranges = server.rangeRequests();
        QCOMPARE(int(ranges.size()), 1);
        QCOMPARE(QString::fromStdString(ranges[0]), QString::fromStdString("bytes=" + std::to_string(had) + "-"));
    }

    void checksumMismatchRefused() {
        HubFixtureServer server;
        server.addRepo(modelRepo("org/tiny"));
        server.corrupt(kWeights);
        const std::string cache = freshCache();
        const std::string e = errorOf([&] { hub::resolveModel(hub::parseRepoId("org/tiny", hub::RepoType::Model), optionsFor(server, cache)); });
        QVERIFY2(contains(e, "model org/tiny: model.safetensors: the download does not match the Hub's checksum (sha256 expected " +
                                 sha256Hex(kWeights)) &&
                     contains(e, "nothing was kept"),
                 e.c_str());
        for (const std::string& f : filesUnder(cache + "/models--org--tiny"))
            QVERIFY2(!contains(f, sha256Hex(kWeights)) && !contains(f, "model.safetensors"), f.c_str());
    }

    void httpErrorsNameTheRepo() {
        HubFixtureServer server;
        HubRepo gated = modelRepo("org/gated");
        gated.gated = true;
        server.addRepo(gated);
        server.addRepo(modelRepo("org/tiny"));
        hub::HubOptions o = optionsFor(server, freshCache());
        std::string e = errorOf([&] { hub::resolveModel(hub::parseRepoId("org/missing", hub::RepoType::Model), o); });
        QVERIFY2(contains(e, "model org/missing: not found on 127.0.0.1") && contains(e, "(401)") && contains(e, "HF_TOKEN"), e.c_str());
        e = errorOf([&] { hub::resolveModel(hub::parseRepoId("org/gated", hub::RepoType::Model), o); });
        QVERIFY2(contains(e, "model org/gated: the repo is gated (401)") && contains(e, "HF_TOKEN"), e.c_str());
        o.token = HubFixtureServer::kToken;
        e = errorOf([&] { hub::resolveModel(hub::parseRepoId("org/missing", hub::RepoType::Model), o); });
        QVERIFY2(contains(e, "model org/missing: no such model repo on 127.0.0.1") && contains(e, "(404)"), e.c_str());
        e = errorOf([&] { hub::resolveModel(hub::parseRepoId("org/tiny@nope", hub::RepoType::Model), o); });
        QVERIFY2(contains(e, "no revision 'nope'"), e.c_str());
        e = errorOf([&] { hub::fetchFile(hub::parseRepoId("org/tiny", hub::RepoType::Model), kCommit, "absent.json", o); });
        QVERIFY2(contains(e, "model org/tiny: absent.json: no such file in the repo") && contains(e, "(404)"), e.c_str());
        const hub::Snapshot s = hub::resolveModel(hub::parseRepoId("org/gated", hub::RepoType::Model), o);   // with the token
        QVERIFY(readFile(s.dir + "/config.json") == kConfig);
        // Nothing listens: the network is "down".
        hub::HubOptions down = o;
        down.endpoint = "http://127.0.0.1:9";
        e = errorOf([&] { hub::resolveModel(hub::parseRepoId("org/other", hub::RepoType::Model), down); });
        QVERIFY2(contains(e, "model org/other: cannot reach 127.0.0.1:9") && contains(e, "HF_HUB_OFFLINE"), e.c_str());
    }

    void offlineModeNeverAsks() {
        HubFixtureServer server;
        server.addRepo(modelRepo("org/tiny"));
        const std::string cache = freshCache();
        hub::HubOptions o = optionsFor(server, cache);
        o.offline = true;
        const std::string e = errorOf([&] { hub::resolveModel(hub::parseRepoId("org/tiny", hub::RepoType::Model), o); });
        QVERIFY2(contains(e, "model org/tiny: not in the Hugging Face cache") && contains(e, "offline mode is on"), e.c_str());
        QCOMPARE(server.requests(), 0);
        o.offline = false;
        hub::resolveModel(hub::parseRepoId("org/tiny", hub::RepoType::Model), o);
        const int after = server.requests();
        o.offline = true;
        QVERIFY(hub::resolveModel(hub::parseRepoId("org/tiny", hub::RepoType::Model), o).fromCache);
        QVERIFY(hub::resolveModel(hub::parseRepoId("org/tiny@" + kCommit, hub::RepoType::Model), o).fromCache);
        QCOMPARE(server.requests(), after);
    }

    // A cache as huggingface_hub writes it (refs, blobs named by ETag, relative snapshot links,
    // a sharded model): used as it is, no server at all.
    void pythonLayoutCacheReused() {
        const std::string cache = freshCache();
        const std::string repo = cache + "/models--anthonym21--Eve-2-MoE-IT-272M";
        fs::create_directories(repo + "/refs");
        fs::create_directories(repo + "/blobs");
        fs::create_directories(repo + "/snapshots/" + kCommit2);
        std::ofstream(repo + "/refs/main") << kCommit2;   // no newline, as Python writes it
        const std::string index = R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})";
        const std::vector<std::pair<std::string, std::string>> files = {
            {"config.json", kConfig}, {"model.safetensors.index.json", index},
            {"model-00001-of-00002.safetensors", "shard one"}, {"model-00002-of-00002.safetensors", "shard two"}};
        for (const auto& [name, content] : files) {
            const std::string etag = sha256Hex(content);
            std::ofstream(repo + "/blobs/" + etag, std::ios::binary) << content;
            fs::create_symlink("../../blobs/" + etag, repo + "/snapshots/" + kCommit2 + "/" + name);
        }
        hub::HubOptions o;
        o.endpoint = "http://127.0.0.1:9";   // nothing there: any request would fail
        o.cacheRoot = cache;
        const hub::Snapshot s = hub::resolveModel(hub::parseRepoId("anthonym21/Eve-2-MoE-IT-272M", hub::RepoType::Model), o);
        QVERIFY(s.fromCache);
        QCOMPARE(QString::fromStdString(s.dir), QString::fromStdString(repo + "/snapshots/" + kCommit2));
        // A shard missing: the cache is incomplete, and offline says which file.
        fs::remove(repo + "/snapshots/" + kCommit2 + "/model-00002-of-00002.safetensors");
        o.offline = true;
        const std::string e = errorOf([&] { hub::resolveModel(hub::parseRepoId("anthonym21/Eve-2-MoE-IT-272M", hub::RepoType::Model), o); });
        QVERIFY2(contains(e, "lacks model-00002-of-00002.safetensors"), e.c_str());
    }

    // Dataset repos: split files by name, a file by --file, and the Hub's Parquet conversion.
    void datasetRepos() {
        HubFixtureServer server;
        const std::string parquet = readFile(std::string(SWARM_TEST_DATA_DIR) + "/parquet/chat_dict_snappy_v1.parquet");
        const std::string jsonl = readFile(std::string(SWARM_TEST_DATA_DIR) + "/parquet/chat.jsonl");
        HubRepo named;
        named.type = "datasets";
        named.id = "org/chat";
        named.refs["main"] = kCommit;
        named.trees[kCommit] = {{"README.md", "---\nlicense: mit\n---\n", false},
                                {"data/train-00000-of-00001.parquet", parquet, true},
                                {"data/test-00000-of-00001.jsonl", jsonl, true}};
        server.addRepo(named);
        HubRepo converted;   // its own file is a format the conversion exists for
        converted.type = "datasets";
        converted.id = "org/converted";
        converted.refs["main"] = kCommit;
        converted.refs["refs/convert/parquet"] = kCommit2;
        converted.trees[kCommit] = {{"README.md", "# x\n", false}, {"raw/dump.xml", "<x/>", false}};
        converted.trees[kCommit2] = {{"default/train/0000.parquet", parquet, true}, {"default/test/0000.parquet", parquet, true}};
        server.addRepo(converted);
        const std::string cache = freshCache();
        const hub::HubOptions o = optionsFor(server, cache);

        HubDatasetFile f = resolveHubDataset({"org/chat", "", "train", ""}, o);
        QCOMPARE(QString::fromStdString(f.repoPath), QString("data/train-00000-of-00001.parquet"));
        QVERIFY(readFile(f.localPath) == parquet);
        f = resolveHubDataset({"org/chat", "", "test", ""}, o);
        QCOMPARE(QString::fromStdString(f.repoPath), QString("data/test-00000-of-00001.jsonl"));
        f = resolveHubDataset({"org/chat", "", "train", "data/test-00000-of-00001.jsonl"}, o);
        QCOMPARE(QString::fromStdString(f.repoPath), QString("data/test-00000-of-00001.jsonl"));
        const std::string noSplit = errorOf([&] { resolveHubDataset({"org/chat", "", "validation", ""}, o); });
        QVERIFY2(contains(noSplit, "no data file of the repo is for split 'validation', and the Hub has no Parquet conversion"), noSplit.c_str());

        f = resolveHubDataset({"org/converted", "", "train", ""}, o);
        QVERIFY(f.parquetConversion);
        QCOMPARE(QString::fromStdString(f.repoPath), QString("default/train/0000.parquet"));
        QCOMPARE(QString::fromStdString(readFile(cache + "/datasets--org--converted/refs/refs/convert/parquet")), QString::fromStdString(kCommit2));

        // Offline, both come from the cache.
        hub::HubOptions off = o;
        off.offline = true;
        const int before = server.requests();
        QCOMPARE(QString::fromStdString(resolveHubDataset({"org/chat", "", "train", ""}, off).repoPath),
                 QString("data/train-00000-of-00001.parquet"));
        QVERIFY(resolveHubDataset({"org/converted", "", "train", ""}, off).parquetConversion);
        QCOMPARE(server.requests(), before);

        QCOMPARE(splitFiles({"a/train-1.parquet", "a/train-2.parquet", "b/valid.csv", "README.md"}, "", "dev"),
                 (std::vector<std::string>{"b/valid.csv"}));
        QCOMPARE(splitFiles({"sql_create_context_v4.json", "README.md", ".gitattributes"}, "", "train"),
                 (std::vector<std::string>{"sql_create_context_v4.json"}));
        QVERIFY(contains(errorOf([&] {
                             HubFixtureServer s2;
                             HubRepo sharded = named;
                             sharded.trees[kCommit].push_back({"data/train-00001-of-00002.parquet", parquet, true});
                             s2.addRepo(sharded);
                             resolveHubDataset({"org/chat", "", "train", ""}, optionsFor(s2, freshCache()));
                         }),
                         "spread over 2 files"));
    }

    // Push: create the repo, preupload, LFS batch (basic and multipart, verify), NDJSON commit;
    // then the pushed files download back byte for byte. A second push of the same content skips
    // the LFS uploads.
    void pushThroughTheCommitApi() {
        HubFixtureServer server;
        const std::string src = dir_.filePath("push").toStdString();
        fs::create_directories(src);
        const std::string bigWeights = bytes(150 * 1024, 11);
        const std::vector<std::pair<std::string, std::string>> files = {
            {"config.json", kConfig}, {"model.safetensors", bigWeights}, {"tokenizer.json", bytes(5000, 5)}, {"README.md", "# card\n"}};
        std::vector<hub::UploadFile> uploads;
        for (const auto& [name, content] : files) {
            std::ofstream(src + "/" + name, std::ios::binary) << content;
            uploads.push_back({src + "/" + name, name});
        }
        hub::HubOptions o = optionsFor(server, freshCache());
        const hub::RepoId repo = hub::parseRepoId("me/sql-specialist", hub::RepoType::Model);
        QVERIFY(contains(errorOf([&] { hub::pushFiles(repo, uploads, "x", "", o); }), "needs a write token"));
        o.token = HubFixtureServer::kToken;
        const hub::PushResult r = hub::pushFiles(repo, uploads, "Upload sql specialist", "exported by swarm", o);
        QVERIFY(r.createdRepo);
        QVERIFY(hub::isCommitHash(r.commit));
        QCOMPARE(r.inlineFiles, (std::vector<std::string>{"config.json", "README.md"}));
        QCOMPARE(r.lfsUploaded, (std::vector<std::string>{"model.safetensors", "tokenizer.json"}));
        QCOMPARE(server.lfsPartsReceived(), 5);   // 150 KiB in 32 KiB parts
        const hub::Snapshot s = hub::resolveModel(repo, o);
        QCOMPARE(QString::fromStdString(s.commit), QString::fromStdString(r.commit));
        for (const auto& [name, content] : files)
            if (name != "README.md") QVERIFY2(readFile(s.dir + "/" + name) == content, name.c_str());
        bool card = false;
        for (const HubFile& f : server.files("models", "me/sql-specialist", "main")) card = card || (f.path == "README.md" && f.content == "# card\n");
        QVERIFY(card);
        const hub::PushResult again = hub::pushFiles(repo, uploads, "Update", "", o);
        QVERIFY(!again.createdRepo);
        QCOMPARE(again.lfsAlreadyThere, (std::vector<std::string>{"model.safetensors", "tokenizer.json"}));
        QVERIFY(again.commit != r.commit);
        o.offline = true;
        QVERIFY(contains(errorOf([&] { hub::pushFiles(repo, uploads, "x", "", o); }), "offline mode is on"));
    }
};

QTEST_GUILESS_MAIN(TestHfHub)
#include "test_hf_hub.moc"
