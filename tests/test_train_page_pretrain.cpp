// The Train page's objective choice (issue 20) under the offscreen platform: "Pre-train on a
// corpus" swaps the dataset picker for the corpus picker and the context, takes the `pretrain`
// preset, and starts a run on the corpus (run.json: objective and corpus; the charts fed; the
// validation perplexity recorded); a cancelled pre-training run resumes from the page to the end.
// A project without datasets can still pre-train; without corpora it cannot.
#include "gui_test_util.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"

#include "app/project_schemas.h"
#include "core/project_store.h"
#include "core/tokenizer.h"
#include "datasets/corpus_import.h"
#include "model/model_io.h"
#include "test_util.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

using namespace swarm;
using namespace swarm::ui;

class TestTrainPagePretrain : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString project_, base_;
    std::unique_ptr<TrainPage> page_;
    guitest::ModalDialogCloser dialogs_;   // a modal box (the page's error) would hold the event loop

    template <class W>
    W* child(const char* name) {
        W* w = page_->findChild<W*>(name);
        if (!w) qFatal("no widget %s on the Train page", name);
        return w;
    }
    void choosePretraining(const QString& name, int maxSteps) {
        auto* objective = child<QComboBox>("trainObjective");
        objective->setCurrentIndex(objective->findData("pretrain"));
        child<QLineEdit>("runName")->setText(name);
        child<QSpinBox>("maxSteps")->setValue(maxSteps);
        child<QSpinBox>("globalBatch")->setValue(4);
        child<QSpinBox>("microBatch")->setValue(2);
        child<QSpinBox>("trainContext")->setValue(64);
    }
    nlohmann::json manifestOf(const QString& name) {
        QFile f(QDir(tmp_.filePath("runs")).filePath(name) + "/run.json");
        if (!f.open(QIODevice::ReadOnly)) return {};
        return nlohmann::json::parse(f.readAll().toStdString());
    }

private slots:
    void initTestCase() {
        if (!QFile::exists("/usr/share/common-licenses/BSD")) QSKIP("needs /usr/share/common-licenses (base-files)");
        registerProjectSchemas();
        qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
        QCoreApplication::setOrganizationName("swarm-workbench-test");
        QSettings().setValue("paths/runs", tmp_.filePath("runs"));

        project_ = tmp_.filePath("p.swarm");
        base_ = tmp_.filePath("base");
        ProjectStore::create(project_.toStdString());
        EveModel m(test::smallConfig(64, 64, 128));
        m->initWeights(1);
        saveEveModel(base_.toStdString(), m, DType::F32, nullptr);

        page_ = std::make_unique<TrainPage>();
        page_->resize(1280, 800);
        page_->show();
        page_->setProject(project_);
        page_->setBaseModel(base_);
    }
    void cleanup() {
        const QStringList closed = dialogs_.takeClosed();
        QVERIFY2(closed.isEmpty(), qPrintable("a message box opened: " + closed.join("; ")));
    }
    void cleanupTestCase() { page_.reset(); }

    // No dataset and no corpus: neither objective can start. A corpus appears: pre-training can.
    void objectiveSwitchesTheForm() {
        auto* start = child<QPushButton>("startTraining");
        auto* objective = child<QComboBox>("trainObjective");
        QCOMPARE(objective->currentData().toString(), QString("finetune"));
        QVERIFY(child<QComboBox>("trainDataset")->isVisible());
        QVERIFY(!child<QComboBox>("trainCorpus")->isVisible());
        QVERIFY(!start->isEnabled());
        objective->setCurrentIndex(objective->findData("pretrain"));
        QVERIFY(!child<QComboBox>("trainDataset")->isVisible());
        QVERIFY(child<QComboBox>("trainCorpus")->isVisible());
        QVERIFY(child<QSpinBox>("trainContext")->isVisible());
        QCOMPARE(child<QComboBox>("trainPreset")->currentText(), QString("pretrain"));
        QCOMPARE(child<QSpinBox>("globalBatch")->value(), 128);
        QCOMPARE(child<QSpinBox>("trainContext")->value(), 2048);
        QVERIFY(!start->isEnabled());                      // no corpus yet

        {
            ProjectStore store = ProjectStore::open(project_.toStdString());
            CorpusImportOptions o;
            o.name = "licenses";
            o.inputs = {"/usr/share/common-licenses"};
            importCorpus(store, Gpt2Tokenizer::bundled(), o);
        }
        page_->reloadDatasets();
        QCOMPARE(child<QComboBox>("trainCorpus")->currentText(), QString("licenses"));
        QVERIFY(start->isEnabled());
        objective->setCurrentIndex(objective->findData("finetune"));
        QCOMPARE(child<QComboBox>("trainPreset")->currentText(), QString("specialist"));
        QVERIFY(!start->isEnabled());                      // still no dataset
    }

    void pretrainFromThePage() {
        choosePretraining("pre", 3);
        QSignalSpy finished(page_->controller(), &TrainingController::finished);
        QSignalSpy failed(page_->controller(), &TrainingController::failed);
        QSignalSpy validations(page_->controller(), &TrainingController::validation);
        QTest::mouseClick(child<QPushButton>("startTraining"), Qt::LeftButton);
        QVERIFY(page_->running());
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 300000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
        const RunResult r = finished.first().at(0).value<RunResult>();
        QCOMPARE(int(r.status), int(RunResult::Finished));
        QCOMPARE(r.steps, int64_t(3));
        QCOMPARE(page_->plottedTrainPoints(), 3);
        QVERIFY(validations.count() >= 2);                 // step 0 and the end
        const ValidationMetrics last = validations.last().at(0).value<ValidationMetrics>();
        QVERIFY(last.tokens > 0);
        QVERIFY(std::abs(last.perplexity - std::exp(last.loss)) < 1e-6 * last.perplexity);
        const nlohmann::json j = manifestOf("pre");
        QCOMPARE(j.value("objective", ""), std::string("pretrain"));
        QCOMPARE(j["corpus"].value("name", ""), std::string("licenses"));
        QCOMPARE(j["corpus"].value("context", 0), 64);
        QCOMPARE(j["config"].value("warmup_steps", 0), 200);       // the pretrain preset's
        QVERIFY(j.value("validation_perplexity", 0.0) > 0);
        auto* runs = page_->findChild<QTableView*>("runsTable");
        QCOMPARE(runs->model()->rowCount(), 1);
        QCOMPARE(runs->model()->index(0, 1).data().toString(), QString("finished"));
        int ppl = -1;
        for (int c = 0; c < runs->model()->columnCount(); ++c)
            if (runs->model()->headerData(c, Qt::Horizontal).toString() == "Val ppl") ppl = c;
        QVERIFY(ppl >= 0);
        QCOMPARE(runs->model()->index(0, ppl).data().toString(), QString::number(j.value("validation_perplexity", 0.0), 'f', 2));
    }

    void cancelledPretrainingResumes() {
        choosePretraining("pre-cancelled", 30);
        QSignalSpy finished(page_->controller(), &TrainingController::finished);
        QSignalSpy failed(page_->controller(), &TrainingController::failed);
        QSignalSpy steps(page_->controller(), &TrainingController::step);
        QTest::mouseClick(child<QPushButton>("startTraining"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!steps.isEmpty() || !failed.isEmpty(), 300000);
        QTest::mouseClick(child<QPushButton>("cancelTraining"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 300000);
        QVERIFY(failed.isEmpty());
        QCOMPARE(int(finished.first().at(0).value<RunResult>().status), int(RunResult::Cancelled));

        auto* runs = page_->findChild<QTableView*>("runsTable");
        runs->selectRow(0);                                 // newest first
        QCOMPARE(manifestOf("pre-cancelled").value("status", ""), std::string("cancelled"));
        finished.clear();
        QTest::mouseClick(child<QPushButton>("resumeTraining"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 300000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
        const RunResult r = finished.first().at(0).value<RunResult>();
        QCOMPARE(int(r.status), int(RunResult::Finished));
        QCOMPARE(r.steps, int64_t(30));
        QCOMPARE(manifestOf("pre-cancelled").value("objective", ""), std::string("pretrain"));
    }
};

QTEST_MAIN(TestTrainPagePretrain)
#include "test_train_page_pretrain.moc"
