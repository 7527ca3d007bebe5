// The workbench's real widgets under the offscreen platform: import the bundled SQL sample,
// train the tiny model a few steps from the Train page, watch the charts gain points, and keep
// the UI thread responsive throughout (longest event-loop stall measured).
#include "ui/datasets_page.h"
#include "ui/dataset_table_model.h"
#include "ui/job_runner.h"
#include "ui/main_window.h"
#include "ui/theme.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"

#include "core/model_io.h"

#include <QComboBox>
#include <QElapsedTimer>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>
#include <qcustomplot.h>

using namespace swarm;
using namespace swarm::ui;

class TestGui : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::unique_ptr<MainWindow> window_;

private slots:
    void initTestCase() {
        qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
        QCoreApplication::setOrganizationName("swarm-workbench-test");
        QSettings().setValue("paths/runs", tmp_.filePath("runs"));
        applyTheme("light");
        window_ = std::make_unique<MainWindow>();
        window_->resize(1280, 800);
        window_->show();
        QVERIFY(window_->openProject(tmp_.filePath("gui.swarm")));
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

        // Measure the UI thread: a 5 ms timer that records the longest gap between its ticks.
        QElapsedTimer clock;
        qint64 last = 0, worst = 0;
        QTimer probe;
        probe.setInterval(5);
        connect(&probe, &QTimer::timeout, [&] {
            const qint64 now = clock.elapsed();
            worst = std::max(worst, now - last);
            last = now;
        });
        QSignalSpy finished(page->controller(), &TrainingController::finished);
        QSignalSpy steps(page->controller(), &TrainingController::step);
        clock.start();
        probe.start();
        QTest::mouseClick(start, Qt::LeftButton);
        QVERIFY(finished.wait(300000));
        probe.stop();
        const RunResult r = finished.first().at(0).value<RunResult>();
        QCOMPARE(r.status, RunResult::Finished);
        QCOMPARE(steps.count(), 6);
        QCOMPARE(page->plottedTrainPoints(), 6);
        qInfo("longest event-loop stall during training: %lld ms", (long long)worst);
        QVERIFY2(worst < 100, qPrintable(QString("the UI thread stalled for %1 ms").arg(worst)));
        auto* runs = window_->findChild<QTableWidget*>("runsTable");
        QCOMPARE(runs->rowCount(), 1);
        QCOMPARE(runs->item(0, 1)->text(), QString("finished"));
        // A reopened run shows its full history from the project.
        runs->selectRow(0);
        QCOMPARE(page->plottedTrainPoints(), 6);
        QVERIFY(window_->grab().save(tmp_.filePath("train.png")));
    }
};

QTEST_MAIN(TestGui)
#include "test_gui.moc"
