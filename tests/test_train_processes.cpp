// The Train page's "processes" setting (issue 14) under the offscreen platform: a run on 2
// processes (this one rank 0, the other `swarm train --join`) of a tiny model shows as one run,
// with every step on the charts, and finishes with its metrics and a manifest that says 2 ranks;
// Cancel stops both ranks with a checkpoint and leaves no child process; a swarm program that is
// not there is one clear line and creates no run. Skipped when LibTorch has no Gloo.
#include "gui_test_util.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"

#include "app/project_schemas.h"
#include "core/project_store.h"
#include "core/tokenizer.h"
#include "datasets/dataset_import.h"
#include "datasets/sample_generators.h"
#include "model/model_io.h"
#include "training/distributed.h"

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

#include <unistd.h>

#include <fstream>

using namespace swarm;
using namespace swarm::ui;

namespace {

// The processes whose parent is this one (the ranks this test's runs started, if still there).
int childProcesses() {
    int n = 0;
    const QString me = QString::number(::getpid());
    for (const QString& pid : QDir("/proc").entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QFile stat("/proc/" + pid + "/stat");
        if (!stat.open(QIODevice::ReadOnly)) continue;
        const QString text = QString::fromUtf8(stat.readAll());
        const QStringList after = text.mid(text.lastIndexOf(')') + 2).split(' ');   // state ppid ...
        if (after.size() > 1 && after[1] == me) ++n;
    }
    return n;
}

} // namespace

class TestTrainProcesses : public QObject {
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
    void fillForm(const QString& name, int maxSteps, int processes) {
        child<QComboBox>("trainPreset")->setCurrentText("quick-test");
        child<QLineEdit>("runName")->setText(name);
        child<QSpinBox>("maxSteps")->setValue(maxSteps);
        child<QSpinBox>("microBatch")->setValue(2);
        child<QSpinBox>("trainProcesses")->setValue(processes);
    }

private slots:
    void initTestCase() {
        if (!glooCompiledIn()) QSKIP("this build has no Gloo backend: install libgloo-dev and rebuild");
        registerProjectSchemas();
        qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
        QCoreApplication::setOrganizationName("swarm-workbench-test");
        QSettings().setValue("paths/runs", tmp_.filePath("runs"));

        project_ = tmp_.filePath("p.swarm");
        base_ = tmp_.filePath("base");
        {
            ProjectStore store = ProjectStore::create(project_.toStdString());
            const std::string samplesPath = tmp_.filePath("nl2sql.jsonl").toStdString();
            samples::writeJsonl(samplesPath, samples::sqlSamples(40));
            ImportOptions o;
            o.name = "nl2sql";
            o.sourcePath = samplesPath;
            o.maxLen = 96;
            o.split = SplitSpec::parse("0.9,0.1,0");
            importDataset(store, Gpt2Tokenizer::bundled(), o);
        }
        EveModel m(ModelConfig::preset("tiny"));
        m->initWeights(1);
        saveEveModel(base_.toStdString(), m, DType::F32, nullptr);

        page_ = std::make_unique<TrainPage>();
        page_->resize(1280, 800);
        page_->show();
        page_->setProject(project_);
        page_->setBaseModel(base_);
        page_->controller()->setSwarmCli(SWARM_CLI);
    }
    void cleanup() {
        const QStringList closed = dialogs_.takeClosed();
        QVERIFY2(closed.isEmpty(), qPrintable("a message box opened: " + closed.join("; ")));
    }
    void cleanupTestCase() { page_.reset(); }

    void twoProcessesShowAsOneRun() {
        QVERIFY(child<QSpinBox>("trainProcesses")->maximum() >= 1);
        child<QSpinBox>("trainProcesses")->setMaximum(2);   // a 1-core machine still tests 2 ranks
        fillForm("two-ranks", 4, 2);
        QSignalSpy finished(page_->controller(), &TrainingController::finished);
        QSignalSpy failed(page_->controller(), &TrainingController::failed);
        QSignalSpy steps(page_->controller(), &TrainingController::step);
        QTest::mouseClick(child<QPushButton>("startTraining"), Qt::LeftButton);
        QVERIFY(page_->running());
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 300000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
        const RunResult r = finished.first().at(0).value<RunResult>();
        QCOMPARE(int(r.status), int(RunResult::Finished));
        QCOMPARE(r.steps, int64_t(4));
        QCOMPARE(steps.count(), 4);
        QCOMPARE(page_->plottedTrainPoints(), 4);
        QVERIFY(r.trainLoss > 0);
        const QString runDir = QDir(tmp_.filePath("runs")).filePath("two-ranks");
        QFile manifest(runDir + "/run.json");
        QVERIFY(manifest.open(QIODevice::ReadOnly));
        const nlohmann::json j = nlohmann::json::parse(manifest.readAll().toStdString());
        QCOMPARE(j.value("ranks", 0), 2);
        QCOMPARE(j.value("status", ""), std::string("finished"));
        QVERIFY(QFile::exists(runDir + "/final/model.safetensors"));
        auto* runs = page_->findChild<QTableView*>("runsTable");
        QCOMPARE(runs->model()->rowCount(), 1);
        QCOMPARE(runs->model()->index(0, 1).data().toString(), QString("finished"));
        QCOMPARE(childProcesses(), 0);
    }

    void cancelStopsEveryRank() {
        fillForm("cancelled", 400, 2);
        QSignalSpy finished(page_->controller(), &TrainingController::finished);
        QSignalSpy failed(page_->controller(), &TrainingController::failed);
        QSignalSpy steps(page_->controller(), &TrainingController::step);
        page_->start();
        QVERIFY(page_->running());
        QTRY_VERIFY_WITH_TIMEOUT(steps.count() >= 2 || !failed.isEmpty(), 300000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
        QCOMPARE(childProcesses(), 1);          // rank 1, running
        page_->cancelRun();
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 120000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
        const RunResult r = finished.first().at(0).value<RunResult>();
        QCOMPARE(int(r.status), int(RunResult::Cancelled));
        QVERIFY(r.steps < 400);
        QCOMPARE(childProcesses(), 0);
    }

    void aMissingSwarmProgramIsOneClearLine() {
        TrainingController controller;
        controller.setSwarmCli(tmp_.filePath("no-such/swarm"));
        controller.setProcesses(2);
        QSignalSpy failed(&controller, &TrainingController::failed);
        const QString runDir = tmp_.filePath("runs/no-cli");
        QVERIFY(controller.startNew(project_, runDir, "no-cli", base_, TrainConfig::preset("quick-test"), 1));
        QVERIFY(failed.wait(60000));
        const QString message = failed.first().at(0).toString();
        QVERIFY2(message.contains("training on 2 processes needs the swarm command-line program") &&
                     message.contains(tmp_.filePath("no-such/swarm")),
                 qPrintable(message));
        QVERIFY(!QDir(runDir).exists());
        QCOMPARE(childProcesses(), 0);
    }
};

QTEST_MAIN(TestTrainProcesses)
#include "test_train_processes.moc"
