#include "ui/evaluate_page.h"

#include "ui/app_settings.h"
#include "ui/job_runner.h"

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
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QMetaObject>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

namespace swarm::ui {

EvaluatePage::EvaluatePage(JobRunner* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
    setObjectName("evaluatePage");
    eval::registerEvaluationSchema();
    models_ = new QListWidget;
    models_->setObjectName("evalModels");
    models_->setToolTip(tr("The first model is the baseline the others' deltas are against."));
    runs_ = new QComboBox;
    runs_->setObjectName("evalRuns");
    auto* addRun = new QPushButton(tr("Add run"));
    auto* addFolder = new QPushButton(tr("Add folder\u2026"));
    auto* addFile = new QPushButton(tr("Add GGUF\u2026"));
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
    addRow->addWidget(remove);
    auto* form = new QFormLayout;
    form->addRow(tr("Dataset"), dataset_);
    form->addRow(tr("Split"), split_);
    form->addRow(tr("Examples"), limit_);
    form->addRow(tr("Max new tokens"), maxTokens_);
    auto* left = new QWidget;
    left->setMaximumWidth(380);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->addWidget(new QLabel(tr("<b>Models</b>")));
    leftLayout->addLayout(runRow);
    leftLayout->addLayout(addRow);
    leftLayout->addWidget(models_, 1);
    leftLayout->addLayout(form);
    leftLayout->addWidget(runButton_);
    leftLayout->addWidget(reportButton_);

    metrics_ = new QTableWidget;
    metrics_->setObjectName("evalMetrics");
    metrics_->verticalHeader()->hide();
    metrics_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    filter_ = new QComboBox;
    filter_->setObjectName("evalFilter");
    filter_->addItem(tr("All examples"));
    filter_->addItem(tr("Only where the models disagree"));
    filter_->addItem(tr("Only failures of the baseline"));
    filter_->addItem(tr("Only failures of the last model"));
    examples_ = new QTableWidget;
    examples_->setObjectName("evalExamples");
    examples_->verticalHeader()->hide();
    examples_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    examples_->setWordWrap(true);
    auto* lower = new QWidget;
    auto* lowerLayout = new QVBoxLayout(lower);
    lowerLayout->setContentsMargins(0, 0, 0, 0);
    lowerLayout->addWidget(filter_);
    lowerLayout->addWidget(examples_, 1);
    auto* right = new QSplitter(Qt::Vertical);
    right->addWidget(metrics_);
    right->addWidget(lower);
    right->setSizes({200, 500});
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(left);
    layout->addWidget(right, 1);

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
    connect(remove, &QPushButton::clicked, this, [this] { delete models_->currentItem(); });
    connect(runButton_, &QPushButton::clicked, this, &EvaluatePage::startEvaluation);
    connect(filter_, &QComboBox::currentIndexChanged, this, &EvaluatePage::showExamples);
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
                job.report(f, QString("model %1/%2: %3/%4 examples, ETA %5 s").arg(m + 1).arg(n).arg(p.done).arg(p.total)
                                  .arg(p.etaSeconds < 0 ? QString("?") : QString::number(int(p.etaSeconds))));
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
    metrics_->clear();
    metrics_->setRowCount(0);
    examples_->clear();
    examples_->setRowCount(0);
    reportButton_->setEnabled(comparison_ != nullptr);
    if (!comparison_) return;
    const eval::Comparison& c = *comparison_;
    QStringList headers{tr("Model")};
    for (const std::string& m : c.metricNames) headers << QString::fromStdString(m);
    headers << tr("prefill tok/s") << tr("decode tok/s") << tr("peak MiB") << tr("cost / M tokens");
    metrics_->setColumnCount(headers.size());
    metrics_->setHorizontalHeaderLabels(headers);
    metrics_->setRowCount(int(c.models.size()));
    for (int r = 0; r < int(c.models.size()); ++r) {
        const eval::ModelColumn& m = c.models[size_t(r)];
        metrics_->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(m.run.modelName) + (size_t(r) == c.baseline ? tr(" (baseline)") : "")));
        int col = 1;
        for (const std::string& name : c.metricNames) {
            auto v = m.values.find(name);
            QString cell = v == m.values.end() ? "-" : QString::number(v->second, 'f', 4);
            auto d = m.deltas.find(name);
            if (d != m.deltas.end()) cell += QString(" (%1%2)").arg(d->second >= 0 ? "+" : "").arg(d->second, 0, 'f', 4);
            auto* item = new QTableWidgetItem(cell);
            if (d != m.deltas.end() && d->second != 0) item->setForeground(d->second > 0 ? QColor(30, 132, 73) : QColor(192, 57, 43));
            metrics_->setItem(r, col++, item);
        }
        metrics_->setItem(r, col++, new QTableWidgetItem(QString::number(m.prefillTokS, 'f', 0)));
        metrics_->setItem(r, col++, new QTableWidgetItem(QString::number(m.decodeTokS, 'f', 1)));
        metrics_->setItem(r, col++, new QTableWidgetItem(QString::number(m.peakRssMiB, 'f', 0)));
        metrics_->setItem(r, col++, new QTableWidgetItem(QString::number(m.costPerMTokDecode, 'g', 3)));
    }
    metrics_->resizeColumnsToContents();
    showExamples();
}

void EvaluatePage::showExamples() {
    examples_->clear();
    examples_->setRowCount(0);
    if (!comparison_) return;
    const eval::Comparison& c = *comparison_;
    eval::ExampleFilter f;
    f.onlyDisagreements = filter_->currentIndex() == 1;
    if (filter_->currentIndex() == 2) f.failuresOf = int(c.baseline);
    if (filter_->currentIndex() == 3) f.failuresOf = int(c.models.size()) - 1;
    std::vector<size_t> rows = eval::filterExamples(c, f);
    QStringList headers{tr("Prompt"), tr("Reference")};
    for (const eval::ModelColumn& m : c.models) headers << QString::fromStdString(m.run.modelName);
    examples_->setColumnCount(headers.size());
    examples_->setHorizontalHeaderLabels(headers);
    const int shown = int(std::min<size_t>(rows.size(), 500));
    examples_->setRowCount(shown);
    for (int r = 0; r < shown; ++r) {
        const eval::ComparedExample& e = c.examples[rows[size_t(r)]];
        examples_->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(e.prompt).right(300)));
        examples_->setItem(r, 1, new QTableWidgetItem(QString::fromStdString(e.reference)));
        for (size_t m = 0; m < e.outputs.size(); ++m)
            examples_->setItem(r, int(2 + m), new QTableWidgetItem(QString::fromStdString(e.outputs[m])));
    }
    examples_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
}

} // namespace swarm::ui
