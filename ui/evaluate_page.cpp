#include "ui/evaluate_page.h"

#include "ui/app_settings.h"
#include "ui/hub_models.h"
#include "ui/job_runner.h"
#include "ui/record_table_model.h"

#include "core/format.h"
#include "core/project_store.h"
#include "eval/compare.h"
#include "eval/harness.h"
#include "training/run_store.h"

#include "core/error.h"
#include "datasets/dataset_store.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace swarm::ui {

EvaluatePage::EvaluatePage(JobRunner* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
    setObjectName("evaluatePage");
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(buildModelPicker());
    layout->addWidget(buildResults(), 1);
}

// The models to compare (runs, folders, GGUF files), the dataset split and the run buttons.
QWidget* EvaluatePage::buildModelPicker() {
    models_ = new QListWidget;
    models_->setObjectName("evalModels");
    models_->setToolTip(tr("The first model is the baseline the others' deltas are against."));
    runs_ = new QComboBox;
    runs_->setObjectName("evalRuns");
    auto* addRun = new QPushButton(tr("Add run"));
    auto* addFolder = new QPushButton(tr("Add folder\u2026"));
    auto* addFile = new QPushButton(tr("Add GGUF\u2026"));
    auto* addRepo = new QPushButton(tr("Add Hub repo\u2026"));
    addRepo->setObjectName("evalAddRepo");
    addRepo->setToolTip(tr("A Hugging Face model repo org/name[@revision]: the standard cache, downloaded when missing."));
    auto* remove = new QPushButton(tr("Remove"));
    dataset_ = new QComboBox;
    dataset_->setObjectName("evalDataset");
    split_ = new QComboBox;
    split_->addItems({"test", "validation", "train"});
    limit_ = new QSpinBox;
    limit_->setObjectName("evalLimit");
    limit_->setRange(0, 1000000);
    limit_->setValue(100);
    limit_->setSpecialValueText(tr("all"));
    maxTokens_ = new QSpinBox;
    maxTokens_->setObjectName("evalMaxTokens");
    maxTokens_->setRange(1, 2048);
    maxTokens_->setValue(128);
    runButton_ = new QPushButton(tr("Evaluate"));
    runButton_->setObjectName("evalRun");
    reportButton_ = new QPushButton(tr("Export report\u2026"));
    reportButton_->setObjectName("evalReport");
    reportButton_->setEnabled(false);

    auto* runRow = new QHBoxLayout;
    runRow->addWidget(runs_, 1);
    runRow->addWidget(addRun);
    auto* addRow = new QHBoxLayout;
    addRow->addWidget(addFolder);
    addRow->addWidget(addFile);
    addRow->addWidget(addRepo);
    addRow->addWidget(remove);
    auto* form = new QFormLayout;
    form->addRow(tr("Dataset"), dataset_);
    form->addRow(tr("Split"), split_);
    form->addRow(tr("Examples"), limit_);
    form->addRow(tr("Max new tokens"), maxTokens_);
    auto* left = new QWidget;
    left->setMaximumWidth(380);
    auto* layout = new QVBoxLayout(left);
    layout->addWidget(new QLabel(tr("<b>Models</b>")));
    layout->addLayout(runRow);
    layout->addLayout(addRow);
    layout->addWidget(models_, 1);
    layout->addLayout(form);
    layout->addWidget(runButton_);
    layout->addWidget(reportButton_);

    connect(addRun, &QPushButton::clicked, this, [this] {
        if (!runs_->currentData().toString().isEmpty()) addModel(runs_->currentData().toString());
    });
    connect(addFolder, &QPushButton::clicked, this, [this] {
        QString d = QFileDialog::getExistingDirectory(this, tr("Model folder"), AppSettings::load().modelsFolder);
        if (!d.isEmpty()) addModel(d);
    });
    connect(addFile, &QPushButton::clicked, this, [this] {
        QString f = QFileDialog::getOpenFileName(this, tr("GGUF file"), AppSettings::load().exportFolder, tr("GGUF (*.gguf)"));
        if (!f.isEmpty()) addModel(f);
    });
    connect(addRepo, &QPushButton::clicked, this, [this] {
        const QString id = QInputDialog::getText(this, tr("Hugging Face model"), tr("Repo id (org/name or org/name@revision)")).trimmed();
        if (id.isEmpty()) return;
        if (!isHubModelId(id.toStdString())) {
            QMessageBox::warning(this, tr("Hugging Face model"), tr("'%1' is not a repo id of the form org/name[@revision].").arg(id));
            return;
        }
        addModel(id);
    });
    connect(remove, &QPushButton::clicked, this, [this] { delete models_->currentItem(); });
    connect(runButton_, &QPushButton::clicked, this, &EvaluatePage::startEvaluation);
    connect(reportButton_, &QPushButton::clicked, this, [this] {
        if (!comparison_) return;
        QString path = QFileDialog::getSaveFileName(this, tr("Report"), AppSettings::load().exportFolder + "/report.html",
                                                    tr("HTML (*.html);;Markdown (*.md);;CSV (*.csv)"));
        if (path.isEmpty()) return;
        try {
            eval::writeReport(*comparison_, path.toStdString());
            emit status(tr("Report written to %1").arg(path));
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Report"), QString::fromUtf8(e.what()));
        }
    });
    return left;
}

// The metrics table over the side-by-side outputs with their filter.
QWidget* EvaluatePage::buildResults() {
    metrics_ = new RecordTableModel<eval::ModelColumn>({}, this);
    auto* metricsView = new QTableView;
    metricsView->setObjectName("evalMetrics");
    metricsView->setModel(metrics_);
    metricsView->verticalHeader()->hide();
    metricsView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    filter_ = new QComboBox;
    filter_->setObjectName("evalFilter");
    filter_->addItem(tr("All examples"));
    filter_->addItem(tr("Only where the models disagree"));
    filter_->addItem(tr("Only failures of the baseline"));
    filter_->addItem(tr("Only failures of the last model"));
    examples_ = new RecordTableModel<eval::ComparedExample>({}, this);
    auto* examplesView = new QTableView;
    examplesView->setObjectName("evalExamples");
    examplesView->setModel(examples_);
    examplesView->verticalHeader()->hide();
    examplesView->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    examplesView->setWordWrap(true);
    auto* lower = new QWidget;
    auto* lowerLayout = new QVBoxLayout(lower);
    lowerLayout->setContentsMargins(0, 0, 0, 0);
    lowerLayout->addWidget(filter_);
    lowerLayout->addWidget(examplesView, 1);
    auto* right = new QSplitter(Qt::Vertical);
    right->addWidget(metricsView);
    right->addWidget(lower);
    right->setSizes({200, 500});
    connect(filter_, &QComboBox::currentIndexChanged, this, &EvaluatePage::showExamples);
    return right;
}

EvaluatePage::~EvaluatePage() = default;

void EvaluatePage::setProject(const QString& path) {
    projectPath_ = path;
    comparison_.reset();
    reloadDatasets();
    showComparison();
}

void EvaluatePage::reloadDatasets() {
    dataset_->clear();
    runs_->clear();
    if (projectPath_.isEmpty()) return;
    try {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        for (const DatasetInfo& d : DatasetStore(store).datasets()) dataset_->addItem(QString::fromStdString(d.name));
        for (const RunRecord& r : RunStore(store).runs())
            runs_->addItem(QString("%1 (%2)").arg(QString::fromStdString(r.name), QString::fromStdString(r.status)),
                           QString::fromStdString(r.runDir));
    } catch (const std::exception& e) {
        emit status(QString::fromUtf8(e.what()));
    }
}

void EvaluatePage::addModel(const QString& path) {
    if (models_->findItems(path, Qt::MatchExactly).isEmpty()) models_->addItem(path);
}

int EvaluatePage::comparedModels() const { return comparison_ ? int(comparison_->models.size()) : 0; }

bool EvaluatePage::startEvaluation() {
    if (jobs_->running() || projectPath_.isEmpty() || models_->count() == 0 || dataset_->currentIndex() < 0) return false;
    std::vector<std::string> models;
    for (int i = 0; i < models_->count(); ++i) models.push_back(models_->item(i)->text().toStdString());
    const AppSettings app = AppSettings::load();
    eval::EvalSettings settings;
    settings.split = split_->currentText().toStdString();
    settings.limit = limit_->value();
    settings.maxNewTokens = maxTokens_->value();
    settings.threads = app.threads;
    eval::CostSettings cost{app.powerWatts, app.pricePerKwh};
    const std::string project = projectPath_.toStdString(), dataset = dataset_->currentText().toStdString();
    auto result = std::make_shared<eval::Comparison>();
    auto conn = std::make_shared<QMetaObject::Connection>();
    *conn = connect(jobs_, &JobRunner::finished, this, [this, conn, result](bool ok, const QString& message) {
        disconnect(*conn);
        if (ok) comparison_ = result;
        showComparison();
        emit status(message);
        if (!ok) QMessageBox::warning(this, tr("Evaluate"), message);
        emit evaluated();
    });
    return jobs_->start(tr("Evaluating %1 model(s)").arg(models.size()), [=](JobRunner& job) {
        ProjectStore store = ProjectStore::open(project);
        std::vector<int64_t> runIds;
        for (size_t m = 0; m < models.size(); ++m) {
            eval::EvalCallbacks cb;
            cb.cancel = job.cancelFlag();
            cb.progress = [&job, m, n = models.size()](const eval::EvalProgress& p) {
                const double f = (double(m) + (p.total > 0 ? double(p.done) / double(p.total) : 0.0)) / double(n);
                job.report(f, QString("model %1/%2: %3/%4 examples, ETA %5").arg(m + 1).arg(n).arg(p.done).arg(p.total)
                                  .arg(QString::fromStdString(formatDuration(p.etaSeconds))));
            };
            eval::EvalRunInfo run = eval::evaluate(store, models[m], dataset, settings, cb);
            if (run.status == "cancelled") throw Error("evaluation cancelled; finished examples are kept for the next run");
            runIds.push_back(run.id);
        }
        *result = eval::compareRuns(store, runIds, 0, cost);
        return QString("Evaluated %1 model(s) on %2").arg(models.size()).arg(QString::fromStdString(dataset));
    });
}

void EvaluatePage::showComparison() {
    reportButton_->setEnabled(comparison_ != nullptr);
    if (!comparison_) {
        metrics_->setColumnsAndRecords({}, {});
        showExamples();
        return;
    }
    const eval::Comparison& c = *comparison_;
    using Column = RecordTableModel<eval::ModelColumn>::Column;
    const int64_t baselineRun = c.models.empty() ? 0 : c.models[c.baseline].run.id;
    std::vector<Column> columns{textColumn<eval::ModelColumn>(tr("Model"), [baselineRun](const eval::ModelColumn& m) {
        return QString::fromStdString(m.run.modelName) + (m.run.id == baselineRun ? tr(" (baseline)") : "");
    })};
    for (const std::string& name : c.metricNames)
        columns.push_back({QString::fromStdString(name), [name](const eval::ModelColumn& m, int role) -> QVariant {
                               const auto v = m.values.find(name);
                               const auto d = m.deltas.find(name);
                               const bool changed = d != m.deltas.end() && d->second != 0;
                               if (role == Qt::ForegroundRole && changed) return d->second > 0 ? QColor(30, 132, 73) : QColor(192, 57, 43);
                               if (role != Qt::DisplayRole) return {};
                               QString cell = v == m.values.end() ? "-" : QString::number(v->second, 'f', 4);
                               if (d != m.deltas.end()) cell += QString(" (%1%2)").arg(d->second >= 0 ? "+" : "").arg(d->second, 0, 'f', 4);
                               return cell;
                           }});
    columns.push_back(textColumn<eval::ModelColumn>(tr("prefill tok/s"), [](const eval::ModelColumn& m) { return QString::number(m.prefillTokS, 'f', 0); }));
    columns.push_back(textColumn<eval::ModelColumn>(tr("decode tok/s"), [](const eval::ModelColumn& m) { return QString::number(m.decodeTokS, 'f', 1); }));
    columns.push_back(textColumn<eval::ModelColumn>(tr("peak MiB"), [](const eval::ModelColumn& m) { return QString::number(m.peakRssMiB, 'f', 0); }));
    columns.push_back(textColumn<eval::ModelColumn>(tr("cost / M tokens"),
                                                    [](const eval::ModelColumn& m) { return QString::number(m.costPerMTokDecode, 'g', 3); }));
    metrics_->setColumnsAndRecords(std::move(columns), c.models);
    showExamples();
}

void EvaluatePage::showExamples() {
    if (!comparison_) {
        examples_->setColumnsAndRecords({}, {});
        return;
    }
    const eval::Comparison& c = *comparison_;
    eval::ExampleFilter f;
    f.onlyDisagreements = filter_->currentIndex() == 1;
    if (filter_->currentIndex() == 2) f.failuresOf = int(c.baseline);
    if (filter_->currentIndex() == 3) f.failuresOf = int(c.models.size()) - 1;
    std::vector<eval::ComparedExample> shown;
    for (size_t row : eval::filterExamples(c, f)) {
        if (shown.size() == 500) break;
        shown.push_back(c.examples[row]);
    }
    using Example = eval::ComparedExample;
    std::vector<RecordTableModel<Example>::Column> columns{
        textColumn<Example>(tr("Prompt"), [](const Example& e) { return QString::fromStdString(e.prompt).right(300); }),
        textColumn<Example>(tr("Reference"), [](const Example& e) { return QString::fromStdString(e.reference); })};
    for (size_t m = 0; m < c.models.size(); ++m)
        columns.push_back(textColumn<Example>(QString::fromStdString(c.models[m].run.modelName), [m](const Example& e) {
            return m < e.outputs.size() ? QString::fromStdString(e.outputs[m]) : QString();
        }));
    examples_->setColumnsAndRecords(std::move(columns), std::move(shown));
}

} // namespace swarm::ui
