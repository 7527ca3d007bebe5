// The Swarm page under the offscreen platform, with small random models: the editor round-trips a
// definition (file, widgets, project), refuses invalid input with a message naming the row or
// field, and the routed playground routes as Swarm::route does and streams exactly the text
// Swarm::dispatch answers, with the route shown before the answer and the UI thread free.
#include "swarm_test_util.h"
#include "ui_stall_probe.h"

#include "ui/main_window.h"
#include "ui/specialist_table_model.h"
#include "ui/swarm_page.h"
#include "ui/theme.h"

#include "core/error.h"
#include "serve/swarm_store.h"
#include "app/project_schemas.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

using namespace swarm;
using namespace swarm::ui;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The message definition() throws, or "" when the editor holds a valid swarm.
std::string definitionError(const SwarmPage& page) {
    try {
        page.definition();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

int rowOf(QAbstractItemModel* model, const QString& label, int from = 0) {
    for (int r = from; r < model->rowCount(); ++r)
        if (model->index(r, SpecialistTableModel::Label).data().toString() == label) return r;
    return -1;
}

} // namespace

class TestSwarmPage : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_;
    std::unique_ptr<SwarmPage> page_;

    template <class T>
    T* child(const char* name) const {
        T* w = page_->findChild<T*>(name);
        if (!w) qFatal("no widget %s on the Swarm page", name);
        return w;
    }
    QString swarmJson() const { return QString::fromStdString(dir_ + "/swarm.json"); }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        registerProjectSchemas();         // as the workbench main does
        qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
        QCoreApplication::setOrganizationName("swarm-workbench-test");
        applyTheme("light");
        dir_ = tmp_.path().toStdString();
        swarmtest::writeSwarm(dir_, 6);
        page_ = std::make_unique<SwarmPage>();
        page_->resize(1130, 760);
        page_->show();
    }

    void editorRoundTripsADefinition() {
        QVERIFY2(page_->openJson(swarmJson()), qPrintable(page_->editorMessage()));
        const SwarmDefinition loaded = SwarmDefinition::load(dir_ + "/swarm.json");
        QCOMPARE(page_->definition().toJson().dump(), loaded.toJson().dump());
        QCOMPARE(child<QLineEdit>("swarmName")->text(), QString("test-swarm"));
        QCOMPARE(child<QLineEdit>("swarmRouterPrompt")->text(), QString("Route: {input}\\nLabel:"));   // newline shown as \n
        QCOMPARE(child<QTableView>("swarmSpecialists")->model()->rowCount(), 3);
        QVERIFY(child<QCheckBox>("swarmFallbackEnabled")->isChecked());

        // Every field, edited through its widget, lands in its place in the definition.
        QAbstractItemModel* table = child<QTableView>("swarmSpecialists")->model();
        child<QLineEdit>("swarmName")->setText("edited");
        child<QLineEdit>("swarmRouterPrompt")->setText("Classify: {input}\\nLabel:");
        child<QLineEdit>("swarmExtraLabels")->setText(" chitchat, other ,");
        child<QLineEdit>("swarmLabelPrefix")->setText("\\t");
        child<QDoubleSpinBox>("swarmMinConfidence")->setValue(0.25);
        child<QSpinBox>("swarmMemoryBudget")->setValue(64);
        child<QLineEdit>("swarmFallbackPrompt")->setText("Answer: {input}");
        const int sql = rowOf(table, "sql");
        QVERIFY(table->setData(table->index(sql, SpecialistTableModel::MaxTokens), 5));
        QVERIFY(table->setData(table->index(sql, SpecialistTableModel::Temperature), 0.5));
        QVERIFY(!table->setData(table->index(sql, SpecialistTableModel::Temperature), -1.0));   // refused
        QVERIFY(!table->setData(table->index(sql, SpecialistTableModel::MaxTokens), 0));
        QVERIFY(table->setData(table->index(rowOf(table, "pii"), SpecialistTableModel::Prompt), "Mask: {input}\\n\\\\Assistant:"));
        auto* view = child<QTableView>("swarmSpecialists");
        view->setCurrentIndex(table->index(rowOf(table, "intent"), 0));
        QTest::mouseClick(child<QPushButton>("swarmRemoveSpecialist"), Qt::LeftButton);
        // Add opens the new row's label for typing.
        QTest::mouseClick(child<QPushButton>("swarmAddSpecialist"), Qt::LeftButton);
        const int added = rowOf(table, "specialist");
        QVERIFY(added >= 0);
        auto* labelEditor = view->viewport()->findChild<QLineEdit*>();
        QVERIFY(labelEditor);
        QCOMPARE(labelEditor->text(), QString("specialist"));
        labelEditor->setText("summary");
        QTest::keyClick(labelEditor, Qt::Key_Return);   // the delegate commits on the next event loop turn
        QTRY_COMPARE(table->index(added, SpecialistTableModel::Label).data().toString(), QString("summary"));
        QVERIFY(table->setData(table->index(added, SpecialistTableModel::Model), QString::fromStdString(dir_ + "/general")));

        json expected = json::parse(std::ifstream(dir_ + "/swarm.json"));
        expected["name"] = "edited";
        expected["router"]["prompt"] = "Classify: {input}\nLabel:";
        expected["router"]["labels"] = {"chitchat", "other"};
        expected["router"]["label_prefix"] = "\t";
        expected["router"]["min_confidence"] = 0.25;
        expected["memory_budget_mb"] = 64;
        expected["fallback"]["prompt"] = "Answer: {input}";
        expected["specialists"]["sql"]["max_tokens"] = 5;
        expected["specialists"]["sql"]["temperature"] = 0.5;
        expected["specialists"]["pii"]["prompt"] = "Mask: {input}\n\\Assistant:";
        expected["specialists"].erase("intent");
        expected["specialists"]["summary"] = {{"model", "general"}};   // the defaults a file gives
        const SwarmDefinition edited = page_->definition();
        QCOMPARE(edited.toJson().dump(), SwarmDefinition::fromJson(expected, dir_).toJson().dump());

        // Saved as JSON next to the models: relative paths, and it loads back the same.
        const QString saved = tmp_.filePath("saved.json");
        QVERIFY2(page_->saveJson(saved), qPrintable(page_->editorMessage()));
        const json file = json::parse(std::ifstream(saved.toStdString()));
        QCOMPARE(file["router"]["model"].get<std::string>(), std::string("router"));
        QCOMPARE(file["specialists"]["summary"]["model"].get<std::string>(), std::string("general"));
        QCOMPARE(SwarmDefinition::load(saved.toStdString()).toJson().dump(), edited.toJson().dump());

        // The project: saved, listed, loaded back into the editor, deleted.
        const std::string project = dir_ + "/project.swarm";
        ProjectStore::create(project);
        page_->setProject(QString::fromStdString(project));
        QVERIFY(page_->savedSwarms().isEmpty());
        QVERIFY2(page_->saveToProject(), qPrintable(page_->editorMessage()));
        QCOMPARE(page_->savedSwarms(), QStringList{"edited"});
        {
            ProjectStore store = ProjectStore::open(project);
            QCOMPARE(loadSwarm(store, "edited").toJson().dump(), edited.toJson().dump());
        }
        QVERIFY(page_->openJson(swarmJson()));
        QCOMPARE(child<QLineEdit>("swarmName")->text(), QString("test-swarm"));
        QVERIFY2(page_->loadFromProject("edited"), qPrintable(page_->editorMessage()));
        QCOMPARE(page_->definition().toJson().dump(), edited.toJson().dump());
        QVERIFY(!page_->loadFromProject("nope"));
        QVERIFY2(page_->editorMessage().contains("no swarm 'nope'"), qPrintable(page_->editorMessage()));
        QVERIFY(page_->deleteFromProject("edited"));
        QVERIFY(page_->savedSwarms().isEmpty());
        ProjectStore store = ProjectStore::open(project);
        QVERIFY(listSwarms(store).empty());
    }

    void invalidInputIsRefusedWithAMessage() {
        QVERIFY(page_->openJson(swarmJson()));
        QAbstractItemModel* table = child<QTableView>("swarmSpecialists")->model();
        const int pii = rowOf(table, "pii");
        QVERIFY(table->setData(table->index(pii, SpecialistTableModel::Label), "sql"));
        const std::string duplicate = definitionError(*page_);
        // The later of the two rows is the one named (the renamed row comes before the original "sql").
        const int sql = std::max(pii, rowOf(table, "sql", pii + 1));
        QVERIFY2(duplicate.find("row " + std::to_string(sql + 1) + ": the label 'sql' is used twice") != std::string::npos, duplicate.c_str());

        // Neither sent nor saved, and the page says why.
        child<QPlainTextEdit>("swarmRequest")->setPlainText("anything");
        QVERIFY(!page_->send());
        QVERIFY(!page_->busy());
        QVERIFY2(page_->editorMessage().contains("is used twice"), qPrintable(page_->editorMessage()));
        QVERIFY(child<QLabel>("swarmEditorMessage")->text().contains("is used twice"));
        QVERIFY(child<QLabel>("swarmRunStatus")->text().startsWith("Fix the swarm first"));
        const QString notSaved = tmp_.filePath("not-saved.json");
        QVERIFY(!page_->saveJson(notSaved));
        QVERIFY(!QFileInfo::exists(notSaved));

        QVERIFY(table->setData(table->index(pii, SpecialistTableModel::Label), " "));
        QVERIFY(definitionError(*page_).find("row " + std::to_string(pii + 1) + ": the label is empty") != std::string::npos);
        QVERIFY(table->setData(table->index(pii, SpecialistTableModel::Label), "fallback"));
        QVERIFY2(definitionError(*page_).find("field 'specialists.fallback': 'fallback' is reserved") != std::string::npos,
                 definitionError(*page_).c_str());
        QVERIFY(table->setData(table->index(pii, SpecialistTableModel::Label), "pii"));
        QCOMPARE(definitionError(*page_), std::string());
        QVERIFY(table->setData(table->index(pii, SpecialistTableModel::Model), ""));
        QVERIFY(definitionError(*page_).find("('pii'): choose its model") != std::string::npos);
        QVERIFY(table->setData(table->index(pii, SpecialistTableModel::Model), QString::fromStdString(dir_ + "/pii")));
        child<QLineEdit>("swarmRouterPrompt")->setText("{question}");
        QVERIFY2(definitionError(*page_).find("field 'router.prompt': unknown placeholder {question}") != std::string::npos,
                 definitionError(*page_).c_str());
        child<QLineEdit>("swarmRouterPrompt")->setText("{input}");
        child<QLineEdit>("swarmExtraLabels")->setText("other");
        child<QCheckBox>("swarmFallbackEnabled")->setChecked(false);
        QVERIFY(definitionError(*page_).find("field 'fallback': missing") != std::string::npos);
        child<QLineEdit>("swarmExtraLabels")->clear();
        QCOMPARE(definitionError(*page_), std::string());
        child<QLineEdit>("swarmName")->setText("  ");
        QVERIFY(definitionError(*page_).find("needs a name") != std::string::npos);

        // A file with an invalid field is refused naming it, and the editor keeps what it had.
        child<QLineEdit>("swarmName")->setText("kept");
        const std::string bad = dir_ + "/bad.json";
        std::ofstream(bad) << json{{"router", {{"model", "router"}}}, {"specialists", {{"a", {{"model", "sql"}, {"top_p", 2}}}}}}.dump();
        QVERIFY(!page_->openJson(QString::fromStdString(bad)));
        QVERIFY2(page_->editorMessage().contains("field 'specialists.a.top_p': must be in (0, 1]"), qPrintable(page_->editorMessage()));
        QCOMPARE(child<QLineEdit>("swarmName")->text(), QString("kept"));
        std::ofstream(dir_ + "/truncated.json") << "{\"router\": ";
        QVERIFY(!page_->openJson(QString::fromStdString(dir_ + "/truncated.json")));
        QVERIFY(page_->editorMessage().contains("not valid JSON"));

        // A valid definition whose router is missing fails in the page when sent, not in a crash.
        QVERIFY(page_->openJson(swarmJson()));
        const QString missing = QString::fromStdString(dir_ + "/missing-router");
        child<QLineEdit>("swarmRouterModel")->setText(missing);
        QSignalSpy finished(page_.get(), &SwarmPage::requestFinished);
        QVERIFY(page_->send());
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.first().at(0).toBool(), false);
        QVERIFY2(finished.first().at(1).toString().contains(missing), qPrintable(finished.first().at(1).toString()));
        QVERIFY(child<QLabel>("swarmRunStatus")->text().startsWith("Failed: "));
        QVERIFY(!page_->busy());
        QVERIFY(child<QPushButton>("swarmSend")->isEnabled());
    }

    void routedPlaygroundRoutesAndStreams() {
        QVERIFY(page_->openJson(swarmJson()));
        const QString input = "List the customers in Paris";
        child<QPlainTextEdit>("swarmRequest")->setPlainText(input);
        child<QSpinBox>("swarmMaxTokens")->setValue(6);
        int piecesAtRoute = -1;
        QObject scope;   // ends the connection with this function
        connect(page_.get(), &SwarmPage::routed, &scope, [&] { piecesAtRoute = page_->streamedPieces(); });
        QSignalSpy routed(page_.get(), &SwarmPage::routed);
        QSignalSpy finished(page_.get(), &SwarmPage::requestFinished);

        // The UI thread stays free while the swarm loads, routes and generates.
        UiStallProbe probe;
        probe.start();
        QTest::mouseClick(child<QPushButton>("swarmSend"), Qt::LeftButton);
        QVERIFY(page_->busy());
        QVERIFY(!child<QPushButton>("swarmSend")->isEnabled());
        QVERIFY(finished.wait(120000));
        probe.stop();
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
        const qint64 worst = probe.worstMs();
        qInfo("longest event-loop stall while loading and answering: %lld ms", (long long)worst);
        QVERIFY2(worst < 250, qPrintable(QString("the UI thread stalled for %1 ms").arg(worst)));

        // The same swarm, outside the page.
        Swarm reference(SwarmDefinition::load(dir_ + "/swarm.json"));
        const RouteResult expectedRoute = reference.route(input.toStdString());
        DispatchRequest request;
        request.input = input.toStdString();
        request.maxTokens = 6;
        const DispatchResult expected = reference.dispatch(request);
        QVERIFY(expected.completionTokens >= 1);

        // The route, shown before any of the answer.
        QCOMPARE(routed.count(), 1);
        QCOMPARE(piecesAtRoute, 0);
        QCOMPARE(routed.first().at(0).toString(), QString::fromStdString(expectedRoute.label));
        QVERIFY(std::abs(routed.first().at(1).toDouble() - expectedRoute.confidence) < 1e-9);
        const DispatchResult& shown = page_->lastResult();
        QVERIFY(shown.routed);
        QCOMPARE(shown.route.label, expectedRoute.label);
        QCOMPARE(shown.specialist, expected.specialist);
        QVERIFY(shown.routerMs > 0 && shown.specialistMs > 0);
        QVERIFY(child<QLabel>("swarmRoute")->text().contains(QString::fromStdString(expectedRoute.label)));
        QAbstractItemModel* probabilities = child<QTableView>("swarmProbabilities")->model();
        QCOMPARE(probabilities->rowCount(), int(expectedRoute.probabilities.size()));
        for (int row = 0; row < probabilities->rowCount(); ++row) {
            const auto& [label, p] = expectedRoute.probabilities[size_t(row)];
            QCOMPARE(probabilities->index(row, 0).data().toString(), QString::fromStdString(label));
            QVERIFY(std::abs(probabilities->index(row, 0).data(Qt::UserRole).toDouble() - p) < 1e-9);
            QVERIFY(std::abs(probabilities->index(row, 1).data(Qt::UserRole).toDouble() - p) < 1e-9);
            QCOMPARE(probabilities->index(row, 0).data(Qt::FontRole).value<QFont>().bold(), label == expectedRoute.label);
        }
        QVERIFY(child<QLabel>("swarmSpecialist")->text().contains(QString::fromStdString(expected.specialist)));
        QVERIFY(child<QLabel>("swarmTimings")->text().contains(QString("%1 generated").arg(expected.completionTokens)));

        // The streamed text is exactly the dispatched answer, a piece per token.
        QCOMPARE(page_->answer(), QString::fromStdString(expected.answer));
        QCOMPARE(shown.answer, expected.answer);
        QCOMPARE(shown.completionTokens, expected.completionTokens);
        QCOMPARE(page_->streamedPieces(), expected.completionTokens);
        QCOMPARE(child<QPlainTextEdit>("swarmAnswer")->toPlainText().isEmpty(), expected.answer.empty());

        // Unchanged definition: the loaded swarm is reused (no "Loading" step).
        QVERIFY(page_->swarmLoaded());
        finished.clear();
        QVERIFY(page_->send());
        QVERIFY(child<QLabel>("swarmRunStatus")->text().startsWith("Routing"));
        QVERIFY(finished.wait(60000));
        QCOMPARE(page_->answer(), QString::fromStdString(expected.answer));

        // Edited: reloaded, and the edit applies (the answering specialist's max tokens).
        QAbstractItemModel* table = child<QTableView>("swarmSpecialists")->model();
        const int row = rowOf(table, QString::fromStdString(expected.specialist));
        QVERIFY(row >= 0);
        QVERIFY(table->setData(table->index(row, SpecialistTableModel::MaxTokens), 2));
        finished.clear();
        QVERIFY(page_->send());
        QVERIFY(child<QLabel>("swarmRunStatus")->text().startsWith("Loading the router"));
        QVERIFY(finished.wait(60000));
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
        QVERIFY(page_->lastResult().completionTokens >= 1 && page_->lastResult().completionTokens <= 2);
        QCOMPARE(page_->answer(), QString::fromStdString(page_->lastResult().answer));

        // Stop while the (edited again, so reloading) router loads: nothing is generated.
        QVERIFY(table->setData(table->index(row, SpecialistTableModel::MaxTokens), 3));
        finished.clear();
        QVERIFY(page_->send());
        QTest::mouseClick(child<QPushButton>("swarmStop"), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        QVERIFY(finished.first().at(0).toBool());
        QVERIFY2(finished.first().at(1).toString().contains("Stopped"), qPrintable(finished.first().at(1).toString()));
        QVERIFY(page_->answer().isEmpty());
        QVERIFY(!page_->lastResult().routed);
        QVERIFY(page_->swarmLoaded());   // what loaded stays for the next request
    }

    void destroyingThePageWhileARequestRunsStopsIt() {
        auto page = std::make_unique<SwarmPage>();
        QVERIFY2(page->openJson(swarmJson()), qPrintable(page->editorMessage()));
        page->setRequestText("List the customers in Paris");
        QVERIFY(page->send());
        QVERIFY(page->busy());
        QElapsedTimer clock;
        clock.start();
        page.reset();   // cancels the request and joins its thread
        QVERIFY2(clock.elapsed() < 30000, qPrintable(QString("destroying took %1 ms").arg(clock.elapsed())));
    }

    void mainWindowShowsTheSwarmPage() {
        MainWindow window;   // registers every module's schema before the project is made
        const std::string project = dir_ + "/window.swarm";
        {
            ProjectStore store = ProjectStore::create(project);
            saveSwarm(store, SwarmDefinition::load(dir_ + "/swarm.json"));
        }
        QCOMPARE(window.pageNames(), (QStringList{"datasets", "train", "evaluate", "playground", "swarm", "export", "distill"}));
        QVERIFY(window.showPage("swarm"));
        QVERIFY(window.swarmPage() && window.swarmPage()->isVisibleTo(&window));
        QCOMPARE(window.findChild<SwarmPage*>("swarmPage"), window.swarmPage());
        int shortcuts = 0;
        for (QAction* a : window.findChildren<QAction*>()) {
            if (a->text() == "Swarm") shortcuts += a->shortcut() == QKeySequence("Ctrl+5");
            if (a->text() == "Export") shortcuts += a->shortcut() == QKeySequence("Ctrl+6");
        }
        QCOMPARE(shortcuts, 2);
        QVERIFY(window.openProject(QString::fromStdString(project)));
        QCOMPARE(window.swarmPage()->savedSwarms(), QStringList{"test-swarm"});
        // The untouched editor shows the project's first swarm at once.
        QCOMPARE(window.swarmPage()->definition().toJson().dump(), SwarmDefinition::load(dir_ + "/swarm.json").toJson().dump());
        QVERIFY(window.swarmPage()->loadFromProject("test-swarm"));
        QCOMPARE(window.swarmPage()->definition().toJson().dump(), SwarmDefinition::load(dir_ + "/swarm.json").toJson().dump());
    }

    void cleanupTestCase() { page_.reset(); }
};

QTEST_MAIN(TestSwarmPage)
#include "test_swarm_page.moc"
