// The run folder's layout (training/run_folder.h): names, manifests, complete checkpoints, and
// what a path given as a model resolves to, with the errors a user sees for the wrong ones.
#include "training/run_folder.h"
#include "test_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>

namespace fs = std::filesystem;
using namespace swarm;
using swarm::test::errorOf;
using swarm::test::writeFile;

class TestRunFolder : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir(const char* name) const { return tmp_.filePath(name).toStdString(); }

    void makeModelFolder(const std::string& d) {
        fs::create_directories(d);
        writeFile(d + "/config.json", "{}");
    }
    void makeCheckpoint(const std::string& run, int64_t step, bool complete = true) {
        const std::string d = run + "/checkpoints/" + run_folder::checkpointDirName(step);
        makeModelFolder(d);
        if (complete) writeFile(d + "/" + run_folder::kCheckpointStateFile, "{}");
    }
    void makeRun(const std::string& run, const std::string& status = "running") {
        fs::create_directories(run);
        writeFile(run_folder::manifestPath(run), "{\"format\": \"swarm-run\", \"status\": \"" + status + "\"}");
    }

private slots:
    void checkpointNames() {
        QCOMPARE(run_folder::checkpointDirName(50), std::string("step-00000050"));
        int64_t step = 0;
        QVERIFY(run_folder::parseCheckpointDirName("step-00000050", step) && step == 50);
        QVERIFY(run_folder::parseCheckpointDirName("step-7", step) && step == 7);
        for (const char* bad : {"step-", "step-x1", "step-1a", ".tmp-step-00000002-99", "steps-1", "step-1234567890123456789"})
            QVERIFY2(!run_folder::parseCheckpointDirName(bad, step), bad);
        QCOMPARE(run_folder::modelName("sql"), std::string("sql"));
        QCOMPARE(run_folder::modelName("sql", 50), std::string("sql@step-50"));
    }

    void manifests() {
        const std::string run = dir("manifest-run");
        makeRun(run, "finished");
        QCOMPARE(run_folder::readManifest(run).value("status", ""), std::string("finished"));
        writeFile(run_folder::manifestPath(run), "{\"status\": \"finished\"}");        // no format
        QVERIFY(errorOf([&] { run_folder::readManifest(run); }).find("not a Swarm Workbench run manifest") != std::string::npos);
        writeFile(run_folder::manifestPath(run), "{truncated");
        QVERIFY(errorOf([&] { run_folder::readManifest(run); }).find("run.json") != std::string::npos);
        const std::string e = errorOf([&] { run_folder::readManifest(dir("no-run-here")); });
        QVERIFY2(e.find("no run manifest") != std::string::npos, e.c_str());
        run_folder::writeManifest(run, {{"format", "swarm-run"}, {"status", "paused"}});
        QCOMPARE(run_folder::readManifest(run).value("status", ""), std::string("paused"));
    }

    void onlyCompleteCheckpointsCount() {
        const std::string run = dir("ck-run");
        makeRun(run);
        makeCheckpoint(run, 10);
        makeCheckpoint(run, 5);
        makeCheckpoint(run, 20, /*complete=*/false);
        fs::create_directories(run + "/checkpoints/.tmp-step-00000030-123");
        const auto cks = run_folder::listCheckpoints(run);
        QCOMPARE(int(cks.size()), 2);
        QCOMPARE(cks[0].step, int64_t(5));
        QCOMPARE(cks[1].step, int64_t(10));
        QVERIFY(run_folder::listCheckpoints(dir("nothing")).empty());
    }

    void locateEveryKindOfModel() {
        using run_folder::ModelLocation;
        using run_folder::WithoutFinal;
        const std::string run = dir("sql-run");
        makeRun(run);
        makeCheckpoint(run, 4);
        makeCheckpoint(run, 8);
        // A run without final/: the newest complete checkpoint where that is asked for, an error
        // naming it otherwise.
        ModelLocation m = run_folder::locateModel(run, WithoutFinal::UseLatestCheckpoint);
        QCOMPARE(int(m.kind), int(ModelLocation::Kind::Checkpoint));
        QCOMPARE(m.name, std::string("sql-run@step-8"));
        QCOMPARE(m.step, int64_t(8));
        std::string e = errorOf([&] { run_folder::locateModel(run, WithoutFinal::Refuse); });
        QVERIFY2(e.find("no final model yet (status 'running')") != std::string::npos && e.find("step-00000008") != std::string::npos, e.c_str());
        makeModelFolder(run + "/final");
        for (const std::string& p : {run, run + "/", run + "/final"}) {
            m = run_folder::locateModel(p, WithoutFinal::Refuse);
            QCOMPARE(int(m.kind), int(ModelLocation::Kind::RunFinal));
            QCOMPARE(m.name, std::string("sql-run"));
            QCOMPARE(m.runDir, fs::absolute(run).lexically_normal().string());
            QCOMPARE(m.modelPath, m.runDir + "/final");
        }
        // The folder, the folder without the zero padding, and the checkpoint's name.
        for (const std::string& p : {run + "/checkpoints/step-00000004", run + "/checkpoints/step-4", run + "@step-4"}) {
            m = run_folder::locateModel(p, WithoutFinal::Refuse);
            QCOMPARE(int(m.kind), int(ModelLocation::Kind::Checkpoint));
            QCOMPARE(m.name, std::string("sql-run@step-4"));
            QCOMPARE(m.runDir, fs::absolute(run).lexically_normal().string());
            QCOMPARE(m.modelPath, m.runDir + "/checkpoints/step-00000004");
        }
        e = errorOf([&] { run_folder::locateModel(run + "@step-5", WithoutFinal::Refuse); });
        QVERIFY2(e.find("has no checkpoint at step 5 (its checkpoints: steps 4, 8)") != std::string::npos, e.c_str());

        const std::string hf = dir("plain-model");
        makeModelFolder(hf);
        m = run_folder::locateModel(hf, WithoutFinal::Refuse);
        QCOMPARE(int(m.kind), int(ModelLocation::Kind::HfFolder));
        QCOMPARE(m.name, std::string("plain-model"));
        QVERIFY(m.runDir.empty());
        writeFile(dir("m.gguf"), "GGUF");
        m = run_folder::locateModel(dir("m.gguf"), WithoutFinal::Refuse);
        QCOMPARE(int(m.kind), int(ModelLocation::Kind::Gguf));
        QCOMPARE(std::string(run_folder::kindName(m.kind)), std::string("gguf"));
    }

    void wrongPathsSayWhatTheyLack() {
        using run_folder::WithoutFinal;
        auto err = [](const std::string& p) { return errorOf([&] { run_folder::locateModel(p, WithoutFinal::UseLatestCheckpoint); }); };
        QVERIFY(err("").find("no model given") != std::string::npos);
        QVERIFY(err(dir("missing")).find("no such model") != std::string::npos);
        writeFile(dir("notes.txt"), "x");
        QVERIFY(err(dir("notes.txt")).find("a file must be a .gguf") != std::string::npos);
        fs::create_directories(dir("empty-folder"));
        QVERIFY(err(dir("empty-folder")).find("not a model folder (no config.json)") != std::string::npos);
        const std::string fresh = dir("fresh-run");
        makeRun(fresh);
        QVERIFY2(err(fresh).find("no final model yet (status 'running') and no checkpoint") != std::string::npos, err(fresh).c_str());
    }
};

QTEST_GUILESS_MAIN(TestRunFolder)
#include "test_run_folder.moc"
