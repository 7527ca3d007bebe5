// The workbench's real widgets under the offscreen platform: import the bundled SQL sample,
// train the tiny model a few steps from the Train page, watch the charts gain points, and keep
// the UI thread responsive throughout (longest event-loop stall measured).
//
// A failure fails fast: each function checks what it needs from the earlier ones before waiting
// on a job, waits only on jobs that started, and a modal dialog (a page's error box) is closed
// and fails the function instead of blocking the event loop for good.
#include "gui_test_util.h"
#include "ui_stall_probe.h"

#include "ui/datasets_page.h"
#include "ui/evaluate_page.h"
#include "ui/export_page.h"
#include "ui/playground_page.h"
#include "ui/dataset_table_model.h"
#include "ui/job_runner.h"
#include "ui/main_window.h"
#include "ui/theme.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"

#include "model/model_io.h"
#include "app/project_schemas.h"

#include <QComboBox>
#include <QDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QTextBrowser>
#include <QtTest>
#include <qcustomplot.h>

#include <utility>

using namespace swarm;
using namespace swarm::ui;
using guitest::ModalDialogCloser;

class TestGui : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::unique_ptr<MainWindow> window_;
    std::unique_ptr<ModalDialogCloser> dialogs_;

private slots:
    void initTestCase() {
        dialogs_ = std::make_unique<ModalDialogCloser>();
        registerProjectSchemas();         // as the workbench main does
        qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
        QCoreApplication::setOrganizationName("swarm-workbench-test");
        QSettings().setValue("paths/runs", tmp_.filePath("runs"));
        applyTheme("light");
        window_ = std::make_unique<MainWindow>();
        window_->resize(1280, 800);
        window_->show();
        QVERIFY(window_->openProject(tmp_.filePath("gui.swarm")));
    }

    void cleanup() {
        const QStringList closed = dialogs_->takeClosed();
        QVERIFY2(closed.isEmpty(), qPrintable("a modal dialog opened: " + closed.join("; ")));
    }

    // Destroying the window while a job still runs (after a failure) cancels and joins it.
    void cleanupTestCase() {
        window_.reset();
        dialogs_.reset();
    }

    void importBundledSqlSample() {
        auto* page = window_->findChild<DatasetsPage*>("datasetsPage");
        QVERIFY(page);
        ImportOptions o;
        o.name = "nl2sql";
        o.sourcePath = SWARM_SAMPLE_DIR "/nl2sql.jsonl";
        o.maxLen = 256;
        QSignalSpy done(window_->jobs(), &JobRunner::finished);
        QVERIFY(page->startImport(o));
        QVERIFY(done.wait(120000));
        QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));

        auto* table = window_->findChild<QTableView*>("datasetTable");
        QVERIFY(table);
        QCOMPARE(table->model()->rowCount(), 10000);
        // Scrolling to the end reads only the pages in view.
        table->scrollToBottom();
        QApplication::processEvents();
        QVERIFY(page->tableModel()->pagesRead() <= 4);
        table->selectRow(3);
        auto* mask = window_->findChild<QTextBrowser*>("maskPreview");
        QVERIFY(mask->toHtml().contains("trained"));
        auto* histogram = window_->findChild<QCustomPlot*>("lengthHistogram");
        QVERIFY(histogram->plottableCount() == 1);
        auto* summary = window_->findChild<QTextBrowser*>("reportSummary");
        QVERIFY(summary->toPlainText().contains("10000"));
    }

    void trainFromTheTrainPageWithoutStalls() {
        // A tiny base model.
        const QString base = tmp_.filePath("tiny");
        {
            EveModel m(ModelConfig::preset("tiny"));
            m->initWeights(1);
            saveEveModel(base.toStdString(), m, DType::F32, nullptr);
        }
        QVERIFY(window_->showPage("train"));
        auto* page = window_->findChild<TrainPage*>("trainPage");
        page->setBaseModel(base);
        window_->findChild<QComboBox*>("trainPreset")->setCurrentText("quick-test");
        window_->findChild<QSpinBox*>("maxSteps")->setValue(6);
        window_->findChild<QSpinBox*>("microBatch")->setValue(4);
        auto* start = window_->findChild<QPushButton*>("startTraining");
        QVERIFY(start->isEnabled());

        UiStallProbe probe;
        QSignalSpy finished(page->controller(), &TrainingController::finished);
        QSignalSpy failed(page->controller(), &TrainingController::failed);
        QSignalSpy steps(page->controller(), &TrainingController::step);
        QEventLoop untilTheRunEnds;   // finished or failed: a failed run must not wait out the timeout
        connect(page->controller(), &TrainingController::finished, &untilTheRunEnds, &QEventLoop::quit);
        connect(page->controller(), &TrainingController::failed, &untilTheRunEnds, &QEventLoop::quit);
        QTimer::singleShot(300000, &untilTheRunEnds, &QEventLoop::quit);
        probe.start();
        QTest::mouseClick(start, Qt::LeftButton);
        QVERIFY(page->running());
        untilTheRunEnds.exec();
        probe.stop();
        QVERIFY2(finished.count() + failed.count() > 0, "the run did not end within 5 minutes");
        QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.first().at(0).toString()));
        const RunResult r = finished.first().at(0).value<RunResult>();
        QCOMPARE(r.status, RunResult::Finished);
        // The model is sound even if the UI stalled: the later functions test it either way.
        finalModel_ = QString::fromStdString(r.finalModelDir);
        QCOMPARE(steps.count(), 6);
        QCOMPARE(page->plottedTrainPoints(), 6);
        const qint64 worst = probe.worstMs();
        qInfo("longest event-loop stall during training: %lld ms", (long long)worst);
        QVERIFY2(worst < 100, qPrintable(QString("the UI thread stalled for %1 ms").arg(worst)));
        auto* runs = window_->findChild<QTableView*>("runsTable");
        QVERIFY(runs);
        QCOMPARE(runs->model()->rowCount(), 1);
        QCOMPARE(runs->model()->index(0, 1).data().toString(), QString("finished"));
        // A reopened run shows its full history from the project.
        runs->selectRow(0);
        QCOMPARE(page->plottedTrainPoints(), 6);
        QVERIFY(window_->grab().save(tmp_.filePath("train.png")));
    }

    void playgroundStreamsTokensWithExperts() {
        QVERIFY(!finalModel_.isEmpty());
        QVERIFY(window_->showPage("playground"));
        auto* page = window_->findChild<PlaygroundPage*>("playgroundPage");
        PlaygroundPane* pane = page->pane(0);
        pane->setModelPath(finalModel_);
        window_->findChild<QPlainTextEdit*>("playgroundPrompt")->setPlainText("How many singers do we have?");
        window_->findChild<QSpinBox*>("playgroundMaxTokens")->setValue(8);
        QSignalSpy done(pane, &PlaygroundPane::finished);
        QTest::mouseClick(window_->findChild<QPushButton*>("playgroundGenerate"), Qt::LeftButton);
        QVERIFY(pane->busy());
        QVERIFY(done.wait(120000));
        QVERIFY2(pane->generatedTokens() >= 1 && pane->generatedTokens() <= 8, qPrintable(done.first().at(0).toString()));
        auto* experts = window_->findChild<QCustomPlot*>("playgroundAExperts");
        auto* map = qobject_cast<QCPColorMap*>(experts->plottable(0));
        QCOMPARE(map->data()->keySize(), pane->generatedTokens());     // one column per token
        QCOMPARE(map->data()->valueSize(), 4);                          // one row per layer of tiny
    }

    void exportPageWritesAndRechecksGguf() {
        QVERIFY2(!finalModel_.isEmpty(), "no trained model to export");
        QVERIFY(window_->showPage("export"));
        auto* page = window_->findChild<ExportPage*>("exportPage");
        page->setSource(finalModel_);
        window_->findChild<QComboBox*>("exportFormat")->setCurrentIndex(0);   // GGUF
        window_->findChild<QComboBox*>("exportDType")->setCurrentIndex(0);    // Q8_0
        const QString out = tmp_.filePath("tiny-q8_0.gguf");
        page->setOutput(out);
        QSignalSpy done(window_->jobs(), &JobRunner::finished);
        QTest::mouseClick(window_->findChild<QPushButton*>("exportButton"), Qt::LeftButton);
        QVERIFY(window_->jobs()->running());
        QVERIFY(done.wait(300000));
        QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));
        QVERIFY(QFileInfo(out).size() > 1000000);
        QVERIFY2(page->resultText().contains("top-1 agreement"), qPrintable(page->resultText()));
        exported_ = out;
    }

    void evaluatePageComparesModels() {
        QVERIFY2(!finalModel_.isEmpty() && !exported_.isEmpty(), "no trained and exported models to compare");
        QVERIFY(window_->showPage("evaluate"));
        auto* page = window_->findChild<EvaluatePage*>("evaluatePage");
        page->reloadDatasets();
        page->addModel(finalModel_);
        page->addModel(exported_);
        window_->findChild<QSpinBox*>("evalLimit")->setValue(3);
        window_->findChild<QSpinBox*>("evalMaxTokens")->setValue(12);
        QSignalSpy done(page, &EvaluatePage::evaluated);
        QTest::mouseClick(window_->findChild<QPushButton*>("evalRun"), Qt::LeftButton);
        QVERIFY(window_->jobs()->running());
        QVERIFY(done.wait(300000));
        QCOMPARE(page->comparedModels(), 2);
        QAbstractItemModel* metrics = window_->findChild<QTableView*>("evalMetrics")->model();
        QCOMPARE(metrics->rowCount(), 2);
        QVERIFY(metrics->index(0, 0).data().toString().endsWith("(baseline)"));
        QAbstractItemModel* examples = window_->findChild<QTableView*>("evalExamples")->model();
        QCOMPARE(examples->rowCount(), 3);
        QCOMPARE(examples->columnCount(), 4);                            // prompt, reference, 2 models
        QVERIFY(window_->findChild<QPushButton*>("evalReport")->isEnabled());
    }

private:
    QString finalModel_;
    QString exported_;
};

QTEST_MAIN(TestGui)
#include "test_gui.moc"
