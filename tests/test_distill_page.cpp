// The Distill page (issue 16) under the offscreen platform, against a real teacher on 127.0.0.1
// (tests/distill_fault_server.h): a job started from the page's form runs on its own thread
// (the UI thread stays responsive) to its dataset, with the counts, the refused and failed
// prompts and their reasons shown, the key read from the environment variable the form names
// and never stored; Cancel mid-run then Resume sends only the prompts not answered yet; bad
// input of the form is refused with a clear line and creates nothing.
#include "distill_fault_server.h"
#include "ui_stall_probe.h"

#include "ui/distill_page.h"
#include "ui/job_runner.h"
#include "ui/record_table_model.h"

#include "app/project_schemas.h"
#include "core/project_store.h"
#include "datasets/dataset_store.h"
#include "distill/distill_store.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace swarm;
using namespace swarm::ui;
using distilltest::Answer;
using distilltest::Fault;
using distilltest::FaultServer;

namespace {

void writePrompts(const QString& path, const QStringList& prompts) {
    std::ofstream out(path.toStdString());
    for (const QString& p : prompts) out << nlohmann::json{{"prompt", p.toStdString()}}.dump() << "\n";
}

QStringList numbered(const QString& stem, int n) {
    QStringList out;
    for (int i = 0; i < n; ++i) out << QString("%1 %2").arg(stem).arg(i, 2, 10, QChar('0'));
    return out;
}

} // namespace

class TestDistillPage : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString projectPath_;
    std::unique_ptr<DistillPage> page_;

    template <class W>
    W* child(const char* name) {
        W* w = page_->findChild<W*>(name);
        if (!w) qFatal("no widget %s on the Distill page", name);
        return w;
    }
    // The job's definition and this run's options, as a user would type them.
    void fillForm(const QString& name, const QString& url, const QString& prompts) {
        child<QComboBox>("distillJobs")->setCurrentIndex(0);
        child<QComboBox>("distillPromptDataset")->setCurrentIndex(0);
        child<QLineEdit>("distillPromptFile")->setText(prompts);
        child<QLineEdit>("distillName")->setText(name);
        child<QLineEdit>("distillTeacherUrl")->setText(url);
        child<QLineEdit>("distillTeacherModel")->setText("fake-teacher");
        child<QComboBox>("distillTask")->setCurrentIndex(child<QComboBox>("distillTask")->findData("text"));
        child<QComboBox>("distillKeyKind")->setCurrentIndex(child<QComboBox>("distillKeyKind")->findData("env"));
        child<QLineEdit>("distillKeySource")->setText("DISTILL_PAGE_TEST_KEY");
        child<QDoubleSpinBox>("distillTimeout")->setValue(10);
        child<QSpinBox>("distillRetries")->setValue(1);
        child<QDoubleSpinBox>("distillMaxSpend")->setValue(0);
    }
    // Waits for the running job; returns (ok, message).
    std::pair<bool, QString> waitForJob(QSignalSpy& finished) {
        if (finished.isEmpty() && !finished.wait(120000)) return {false, "the job did not finish in 120 s"};
        return {finished.first().at(0).toBool(), finished.first().at(1).toString()};
    }
    distill::ItemCounts storedCounts(const std::string& job) {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        const distill::DistillStore ds(store);
        return ds.counts(ds.job(job).id);
    }
    QStringList tableColumn(int column) {
        QStringList out;
        auto* model = child<QTableView>("distillRejected")->model();
        for (int r = 0; r < model->rowCount(); ++r) out << model->index(r, column).data().toString();
        return out;
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        registerProjectSchemas();         // as the workbench main does
        qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
        qputenv("DISTILL_PAGE_TEST_KEY", "sk-page-test-0123456789");
        projectPath_ = tmp_.filePath("distill.swarm");
        ProjectStore::create(projectPath_.toStdString());
        page_ = std::make_unique<DistillPage>();
        page_->resize(1280, 800);
        page_->show();
        page_->setProject(projectPath_);
    }
    void cleanupTestCase() { page_.reset(); }

    void aJobRunsToItsDatasetWithReasonsShown() {
        FaultServer teacher;
        teacher.answer = [](const std::string& prompt) {
            Answer a;
            a.content = prompt == "refuse me" ? "I can't help with that." : "answer to: " + prompt;
            return a;
        };
        teacher.script = [](const std::string& prompt, int) { return prompt == "bad request" ? Fault::http(400) : Fault::answer(); };
        teacher.start();
        const QString prompts = tmp_.filePath("prompts.jsonl");
        writePrompts(prompts, numbered("question", 8) << "refuse me" << "bad request" << "question 01");
        fillForm("page-ds", QString::fromStdString(teacher.url()), prompts);
        child<QSpinBox>("distillConcurrency")->setValue(3);

        QSignalSpy finished(page_->job(), &JobRunner::finished);
        UiStallProbe probe;
        probe.start();
        QTest::mouseClick(child<QPushButton>("distillStart"), Qt::LeftButton);
        QVERIFY(page_->running());
        QVERIFY(!child<QPushButton>("distillStart")->isEnabled());
        QVERIFY(child<QPushButton>("distillCancel")->isEnabled());
        const auto [ok, message] = waitForJob(finished);
        probe.stop();
        QVERIFY2(ok, qPrintable(message));
        QVERIFY2(message.contains("dataset page-ds: 8 examples"), qPrintable(message));
        const qint64 worst = probe.worstMs();
        qInfo("longest event-loop stall during the run: %lld ms", (long long)worst);
        QVERIFY2(worst < 250, qPrintable(QString("the UI thread stalled for %1 ms").arg(worst)));

        // Every prompt accounted for, the same on the page and in the project.
        const distill::ItemCounts c = storedCounts("page-ds");
        QCOMPARE(c.total, int64_t(11));
        QCOMPARE(c.accepted, int64_t(8));
        QCOMPARE(c.rejected, int64_t(2));      // the refusal, the duplicate (never sent)
        QCOMPARE(c.failed, int64_t(1));        // HTTP 400
        QCOMPARE(page_->lastProgress().counts.accepted, int64_t(8));
        QVERIFY2(child<QLabel>("distillCounts")->text().contains("accepted 8, rejected 2, failed 1, pending 0"),
                 qPrintable(child<QLabel>("distillCounts")->text()));
        QCOMPARE(int(teacher.requests().size()), 10);

        // The dataset exists and trains like any other.
        {
            ProjectStore store = ProjectStore::open(projectPath_.toStdString());
            const auto d = DatasetStore(store).findDataset("page-ds");
            QVERIFY(d);
            QCOMPARE(d->rowsImported, int64_t(8));
            QCOMPARE(QString::fromStdString(distill::DistillStore(store).job("page-ds").status), QString("built"));
        }

        // The rejected and failed prompts with their answers and reasons.
        QCOMPARE(page_->rejectedModel()->rowCount(), 3);
        const QStringList reasons = tableColumn(2), promptsShown = tableColumn(3), answers = tableColumn(4);
        QVERIFY2(reasons.contains("refusal") && reasons.contains("duplicate_prompt"), qPrintable(reasons.join(", ")));
        const int refusal = reasons.indexOf("refusal");
        QCOMPARE(promptsShown[refusal], QString("refuse me"));
        QCOMPARE(answers[refusal], QString("I can't help with that."));
        const int failed = tableColumn(1).indexOf("failed");
        QVERIFY(failed >= 0);
        QCOMPARE(promptsShown[failed], QString("bad request"));
        QVERIFY2(!reasons[failed].isEmpty(), "a failed prompt shows no reason");

        // The key went to the teacher from the variable named, and is nowhere in the project.
        for (const auto& r : teacher.requests()) QCOMPARE(QString::fromStdString(r.authorization), QString("Bearer sk-page-test-0123456789"));
        QFile project(projectPath_);
        QVERIFY(project.open(QIODevice::ReadOnly));
        QVERIFY(!project.readAll().contains("sk-page-test"));
        // The stored job is listed; choosing it shows its definition.
        auto* jobs = child<QComboBox>("distillJobs");
        QVERIFY(jobs->findData("page-ds") > 0);
    }

    // A dataset of the project as the prompts (the one the first job built), its first 3 records.
    void aProjectDatasetGivesThePrompts() {
        FaultServer teacher;
        teacher.start();
        fillForm("from-dataset", QString::fromStdString(teacher.url()), QString());
        page_->reloadDatasets();
        auto* source = child<QComboBox>("distillPromptDataset");
        QVERIFY(source->findData("page-ds") > 0);
        source->setCurrentIndex(source->findData("page-ds"));
        QVERIFY(!child<QLineEdit>("distillPromptFile")->isEnabled());
        child<QSpinBox>("distillLimit")->setValue(3);
        QSignalSpy finished(page_->job(), &JobRunner::finished);
        QVERIFY(page_->start());
        const auto [ok, message] = waitForJob(finished);
        QVERIFY2(ok, qPrintable(message));
        QCOMPARE(storedCounts("from-dataset").total, int64_t(3));
        QCOMPARE(int(teacher.requests().size()), 3);
        for (const auto& r : teacher.requests()) QVERIFY2(QString::fromStdString(r.prompt).startsWith("question "), r.prompt.c_str());
        // Choosing the stored job shows its definition again.
        child<QSpinBox>("distillLimit")->setValue(0);
        source->setCurrentIndex(0);
        auto* jobs = child<QComboBox>("distillJobs");
        jobs->setCurrentIndex(0);
        jobs->setCurrentIndex(jobs->findData("from-dataset"));
        QCOMPARE(source->currentData().toString(), QString("page-ds"));
        QCOMPARE(child<QSpinBox>("distillLimit")->value(), 3);
        source->setCurrentIndex(0);
        child<QSpinBox>("distillLimit")->setValue(0);
    }

    void cancelThenResumeSendsNoPromptTwice() {
        FaultServer teacher;
        teacher.script = [](const std::string&, int) { return Fault::of(Fault::Kind::Slow, 150); };
        teacher.start();
        const QString prompts = tmp_.filePath("slow.jsonl");
        const QStringList all = numbered("slow prompt", 16);
        writePrompts(prompts, all);
        fillForm("slow-ds", QString::fromStdString(teacher.url()), prompts);
        child<QSpinBox>("distillConcurrency")->setValue(2);

        QSignalSpy finished(page_->job(), &JobRunner::finished);
        QVERIFY(page_->start());
        QTRY_VERIFY_WITH_TIMEOUT(teacher.requests().size() >= 4, 30000);
        QTest::mouseClick(child<QPushButton>("distillCancel"), Qt::LeftButton);
        auto [ok, message] = waitForJob(finished);
        QVERIFY2(ok, qPrintable(message));
        const distill::ItemCounts stopped = storedCounts("slow-ds");
        QVERIFY2(stopped.accepted >= 4 && stopped.pending > 0, qPrintable(message));
        QCOMPARE(stopped.accepted + stopped.pending, int64_t(16));
        QVERIFY2(message.contains("resume to go on"), qPrintable(message));
        QCOMPARE(int64_t(teacher.requests().size()), stopped.accepted);   // the requests out were answered and stored

        // Resume the stored job from the jobs list.
        auto* jobs = child<QComboBox>("distillJobs");
        jobs->setCurrentIndex(jobs->findData("slow-ds"));
        QCOMPARE(child<QLineEdit>("distillName")->text(), QString("slow-ds"));
        QVERIFY(child<QPushButton>("distillResume")->isEnabled());
        finished.clear();
        QTest::mouseClick(child<QPushButton>("distillResume"), Qt::LeftButton);
        QVERIFY(page_->running());
        std::tie(ok, message) = waitForJob(finished);
        QVERIFY2(ok, qPrintable(message));
        QVERIFY2(message.contains("dataset slow-ds: 16 examples"), qPrintable(message));
        QCOMPARE(storedCounts("slow-ds").accepted, int64_t(16));
        QCOMPARE(int(teacher.requests().size()), 16);
        for (const QString& p : all) QCOMPARE(teacher.requestsFor(p.toStdString()), 1);
    }

    void badInputIsRefusedAndCreatesNothing() {
        FaultServer teacher;
        teacher.start();
        const QString prompts = tmp_.filePath("bad.jsonl");
        writePrompts(prompts, numbered("bad input", 3));
        QSignalSpy finished(page_->job(), &JobRunner::finished);
        auto failsWith = [&](const QString& want) -> QString {
            finished.clear();
            if (!page_->start()) return "the job did not start";
            const auto [ok, message] = waitForJob(finished);
            if (ok) return "the job succeeded: " + message;
            if (!message.contains(want)) return "'" + message + "' does not say '" + want + "'";
            if (!page_->resultText().contains(want)) return "the page shows '" + page_->resultText() + "'";
            return {};
        };

        // A key pasted where the variable's name goes: refused before anything runs, and cleared.
        fillForm("bad-ds", QString::fromStdString(teacher.url()), prompts);
        child<QLineEdit>("distillKeySource")->setText("sk-pasted key");
        QVERIFY(!page_->start());
        QVERIFY(child<QLineEdit>("distillKeySource")->text().isEmpty());
        QVERIFY2(page_->resultText().contains("NAME of an environment variable"), qPrintable(page_->resultText()));

        fillForm("", QString::fromStdString(teacher.url()), prompts);
        QString why = failsWith("the dataset name is empty");
        QVERIFY2(why.isEmpty(), qPrintable(why));

        fillForm("bad-ds", QString::fromStdString(teacher.url()), prompts);
        child<QComboBox>("distillKeyKind")->setCurrentIndex(child<QComboBox>("distillKeyKind")->findData("file"));
        child<QLineEdit>("distillKeySource")->setText(tmp_.filePath("no-such-key"));
        why = failsWith("no-such-key");
        QVERIFY2(why.isEmpty(), qPrintable(why));

        fillForm("bad-ds", QString::fromStdString(teacher.url()), prompts);
        child<QDoubleSpinBox>("distillMaxSpend")->setValue(1.5);
        why = failsWith("a spend cap needs the job's prices");
        QVERIFY2(why.isEmpty(), qPrintable(why));

        fillForm("bad-ds", QString::fromStdString(teacher.url()), tmp_.filePath("missing.jsonl"));
        why = failsWith("missing.jsonl");
        QVERIFY2(why.isEmpty(), qPrintable(why));
        {
            ProjectStore store = ProjectStore::open(projectPath_.toStdString());
            QVERIFY(!distill::DistillStore(store).find("bad-ds"));
        }
        QCOMPARE(int(teacher.requests().size()), 0);

        // Another definition under a stored job's name is refused, naming what differs.
        fillForm("page-ds", QString::fromStdString(teacher.url()), tmp_.filePath("prompts.jsonl"));
        child<QLineEdit>("distillTeacherModel")->setText("another-teacher");
        why = failsWith("distillation job 'page-ds' exists with other settings: teacher URL");
        QVERIFY2(why.isEmpty(), qPrintable(why));
        QCOMPARE(int(teacher.requests().size()), 0);
    }
};

QTEST_MAIN(TestDistillPage)
#include "test_distill_page.moc"
