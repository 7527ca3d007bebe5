// Models by Hugging Face repo id in the GUI (issue 15), under the offscreen platform, against a
// local stand-in for the Hub on 127.0.0.1 (tests/hub_fixture_server.h, HF_ENDPOINT) and a cache
// of this test's own (HF_HUB_CACHE): the Train page trains from "org/name", downloaded on the
// training thread with its progress shown, then found in the cache with no request; the
// pre-flight looks into the cache only; the Export page exports a repo id its library
// downloads, the progress reaching its job; offline and not cached, or an unknown repo, is one
// line naming the repo; the Evaluate page adds and compares a repo id; the import dialog takes a
// dataset repo id (a split, another split, offline).
#include "hub_fixture_server.h"

#include "ui/evaluate_page.h"
#include "ui/export_page.h"
#include "ui/hub_models.h"
#include "ui/import_dialog.h"
#include "ui/job_runner.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"

#include "app/project_schemas.h"
#include "core/project_store.h"
#include "core/tokenizer.h"
#include "datasets/dataset_import.h"
#include "datasets/sample_generators.h"
#include "model/model_io.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QInputDialog>
#include <QListWidget>
#include <QTableView>
#include <QTimer>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace swarm;
using namespace swarm::ui;
using swarm::test::HubFixtureServer;
using swarm::test::HubRepo;

namespace {

const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string readAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

class TestHubPickers : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString project_;
    std::unique_ptr<HubFixtureServer> server_;

    void addModelRepo(const std::string& id, const std::string& folder) {
        HubRepo m;
        m.id = id;
        m.refs["main"] = kCommit;
        for (const auto& e : std::filesystem::directory_iterator(folder)) {
            const std::string name = e.path().filename().string();
            m.trees[kCommit].push_back({name, readAll(e.path().string()), name == "model.safetensors"});
        }
        server_->addRepo(m);
    }

private slots:
    void initTestCase() {
        registerProjectSchemas();
        qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
        QCoreApplication::setOrganizationName("swarm-workbench-test");
        QSettings().setValue("paths/runs", tmp_.filePath("runs"));
        installHubProgress();
        server_ = std::make_unique<HubFixtureServer>();
        const std::string base = tmp_.filePath("tiny").toStdString();
        EveModel m(ModelConfig::preset("tiny"));
        m->initWeights(1);
        saveEveModel(base, m, DType::F32, nullptr);
        addModelRepo("org/tiny-eve", base);
        addModelRepo("org/tiny-eve-2", base);
        HubRepo d;
        d.type = "datasets";
        d.id = "org/sql-data";
        d.refs["main"] = kCommit;
        auto jsonl = [](size_t n, uint64_t seed) {
            std::string out;
            for (const auto& row : samples::sqlSamples(n, seed)) out += row.dump() + "\n";
            return out;
        };
        d.trees[kCommit] = {{"README.md", "# sql\n", false}, {"data/train.jsonl", jsonl(12, 1), true}, {"data/test.jsonl", jsonl(5, 9), false}};
        server_->addRepo(d);
        ::setenv("HF_ENDPOINT", server_->endpoint().c_str(), 1);
        ::setenv("HF_HUB_CACHE", tmp_.filePath("hf-cache").toUtf8().constData(), 1);
        ::unsetenv("HF_TOKEN");
        ::unsetenv("HF_HUB_OFFLINE");

        project_ = tmp_.filePath("p.swarm");
        ProjectStore store = ProjectStore::create(project_.toStdString());
        const std::string samplesPath = tmp_.filePath("nl2sql.jsonl").toStdString();
        samples::writeJsonl(samplesPath, samples::sqlSamples(24));
        ImportOptions o;
        o.name = "nl2sql";
        o.sourcePath = samplesPath;
        o.maxLen = 96;
        importDataset(store, Gpt2Tokenizer::bundled(), o);
    }

    void theTrainPageTrainsFromARepoId() {
        QVERIFY(isHubModelId("org/tiny-eve"));
        QVERIFY(!isHubModelId(tmp_.filePath("tiny").toStdString()));
        QCOMPARE(QString::fromStdString(cachedPickedModel("org/tiny-eve")), QString());   // not downloaded yet

        TrainPage page;
        page.setProject(project_);
        page.setBaseModel("org/tiny-eve");
        page.findChild<QComboBox*>("trainPreset")->setCurrentText("quick-test");
        page.findChild<QLineEdit*>("runName")->setText("from-hub");
        page.findChild<QSpinBox*>("maxSteps")->setValue(2);
        QVERIFY2(page.findChild<QLabel*>("preflight")->text().contains("not in the Hugging Face cache yet"),
                 qPrintable(page.findChild<QLabel*>("preflight")->text()));
        QSignalSpy preparing(page.controller(), &TrainingController::preparing);
        QSignalSpy finished(page.controller(), &TrainingController::finished);
        QSignalSpy failed(page.controller(), &TrainingController::failed);
        page.start();
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 300000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
        QCOMPARE(int(finished.first().at(0).value<RunResult>().status), int(RunResult::Finished));
        QStringList texts;
        for (const auto& args : preparing) texts << args.at(0).toString();
        QVERIFY2(texts.join("\n").contains("downloading org/tiny-eve: "), qPrintable(texts.join("\n")));

        // In the cache now: the pre-flight reads it there, and a second run asks nothing of the Hub.
        const QString cached = QString::fromStdString(cachedPickedModel("org/tiny-eve"));
        QVERIFY(cached.endsWith(QString("models--org--tiny-eve/snapshots/") + kCommit));
        QVERIFY(QFile::exists(cached + "/model.safetensors"));
        page.setBaseModel("");   // the pre-flight again
        page.setBaseModel("org/tiny-eve");
        QVERIFY2(!page.findChild<QLabel*>("preflight")->text().contains("not in the Hugging Face cache"),
                 qPrintable(page.findChild<QLabel*>("preflight")->text()));
        ::setenv("HF_HUB_OFFLINE", "1", 1);   // proof that the cache alone serves it
        page.findChild<QLineEdit*>("runName")->setText("from-cache");
        finished.clear();
        page.start();
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 300000);
        ::unsetenv("HF_HUB_OFFLINE");
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
    }

    void theExportPageExportsARepoId() {
        JobRunner jobs;
        ExportPage page(&jobs);
        page.setProject(project_);
        page.setSource("org/tiny-eve-2");
        page.setOutput(tmp_.filePath("tiny-eve-2.gguf"));
        QSignalSpy progress(&jobs, &JobRunner::progress);
        QSignalSpy finished(&jobs, &JobRunner::finished);
        QVERIFY(page.startExport());
        QVERIFY(finished.wait(300000));
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
        QVERIFY(QFile::exists(tmp_.filePath("tiny-eve-2.gguf")));
        QStringList texts;
        for (const auto& args : progress) texts << args.at(1).toString();
        QVERIFY2(texts.join("\n").contains("downloading org/tiny-eve-2: "), qPrintable(texts.join("\n")));
    }

    // Add Hub repo puts the id in the list; the evaluation resolves it (from the cache here).
    void theEvaluatePageComparesARepoId() {
        JobRunner jobs;
        EvaluatePage page(&jobs);
        page.setProject(project_);
        page.reloadDatasets();
        QTimer::singleShot(300, [] {
            auto* dialog = qobject_cast<QInputDialog*>(QApplication::activeModalWidget());
            if (!dialog) return;
            dialog->setTextValue("org/tiny-eve");
            dialog->accept();
        });
        QTest::mouseClick(page.findChild<QPushButton*>("evalAddRepo"), Qt::LeftButton);
        auto* models = page.findChild<QListWidget*>("evalModels");
        QCOMPARE(models->count(), 1);
        QCOMPARE(models->item(0)->text(), QString("org/tiny-eve"));
        page.addModel(tmp_.filePath("tiny"));
        page.findChild<QSpinBox*>("evalLimit")->setValue(2);
        page.findChild<QSpinBox*>("evalMaxTokens")->setValue(4);
        QSignalSpy done(&page, &EvaluatePage::evaluated);
        QSignalSpy finished(&jobs, &JobRunner::finished);
        QVERIFY(page.startEvaluation());
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), 300000);
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
        QTRY_VERIFY_WITH_TIMEOUT(!done.isEmpty(), 10000);
        QCOMPARE(page.comparedModels(), 2);
        QAbstractItemModel* metrics = page.findChild<QTableView*>("evalMetrics")->model();
        QVERIFY2(metrics->index(0, 0).data().toString().contains("org/tiny-eve"), qPrintable(metrics->index(0, 0).data().toString()));
    }

    void theImportDialogTakesADatasetRepo() {
        const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        ImportDialog dialog(&tok, {});
        dialog.show();
        QSignalSpy fetched(dialog.fetchJob(), &JobRunner::finished);
        dialog.findChild<QLineEdit*>("importPath")->setText("org/sql-data");
        QVERIFY(fetched.wait(60000));
        QVERIFY2(fetched.first().at(0).toBool(), qPrintable(fetched.first().at(1).toString()));
        auto* accept = dialog.findChild<QPushButton*>("importAccept");
        QTRY_VERIFY_WITH_TIMEOUT(accept->isEnabled(), 10000);
        ImportOptions o = dialog.options();
        QVERIFY2(QString::fromStdString(o.sourcePath).endsWith(QString("datasets--org--sql-data/snapshots/") + kCommit + "/data/train.jsonl"),
                 o.sourcePath.c_str());
        QCOMPARE(QString::fromStdString(o.name), QString("sql-data"));
        {
            ProjectStore store = ProjectStore::open(project_.toStdString());
            const ImportResult r = importDataset(store, tok, o);
            QCOMPARE(r.counts.rowsRead, int64_t(12));
            QVERIFY(r.counts.rowsImported > 0);
        }

        // Another split is another file of the repo.
        fetched.clear();
        dialog.findChild<QComboBox*>("importHubSplit")->setCurrentText("test");
        QVERIFY(fetched.wait(60000));
        QVERIFY2(fetched.first().at(0).toBool(), qPrintable(fetched.first().at(1).toString()));
        QTRY_VERIFY_WITH_TIMEOUT(QString::fromStdString(dialog.options().sourcePath).endsWith("/data/test.jsonl"), 10000);

        // Offline and not in the cache: one line naming the repo, nothing to import.
        ::setenv("HF_HUB_OFFLINE", "1", 1);
        fetched.clear();
        dialog.findChild<QLineEdit*>("importPath")->setText("org/not-there");
        QVERIFY(fetched.wait(60000));
        ::unsetenv("HF_HUB_OFFLINE");
        QVERIFY(!fetched.first().at(0).toBool());
        const QString detected = dialog.findChild<QLabel*>("importDetected")->text();
        QVERIFY2(detected.contains("org/not-there") && detected.contains("offline mode is on"), qPrintable(detected));
        QVERIFY(!accept->isEnabled());
        QVERIFY(dialog.options().sourcePath.empty());
    }

    void offlineOrUnknownIsOneLineNamingTheRepo() {
        ::setenv("HF_HUB_OFFLINE", "1", 1);
        TrainingController controller;
        QSignalSpy failed(&controller, &TrainingController::failed);
        QVERIFY(controller.startNew(project_, tmp_.filePath("runs/offline"), "offline", "org/not-cached",
                                    TrainConfig::preset("quick-test"), 1));
        QVERIFY(failed.wait(60000));
        QString message = failed.first().at(0).toString();
        QVERIFY2(message.contains("org/not-cached") && message.contains("offline mode is on"), qPrintable(message));
        QVERIFY(!message.contains('\n'));
        QVERIFY(!QDir(tmp_.filePath("runs/offline")).exists());
        ::unsetenv("HF_HUB_OFFLINE");

        failed.clear();
        QVERIFY(controller.startNew(project_, tmp_.filePath("runs/unknown"), "unknown", "org/no-such-model",
                                    TrainConfig::preset("quick-test"), 1));
        QVERIFY(failed.wait(60000));
        message = failed.first().at(0).toString();
        QVERIFY2(message.contains("org/no-such-model"), qPrintable(message));
        QVERIFY(!QDir(tmp_.filePath("runs/unknown")).exists());
    }
};

QTEST_MAIN(TestHubPickers)
#include "test_hub_pickers.moc"
