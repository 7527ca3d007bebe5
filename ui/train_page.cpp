#include "ui/train_page.h"

#include "datasets/corpus_store.h"
#include "training/batch_source.h"

#include "ui/app_settings.h"
#include "ui/hub_models.h"
#include "ui/record_table_model.h"
#include "ui/theme.h"
#include "ui/training_controller.h"

#include "core/error.h"
#include "core/hf_folder.h"
#include "training/memory_estimate.h"
#include "core/format.h"
#include "datasets/dataset_store.h"
#include "training/run_folder.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QThread>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace swarm::ui {

namespace {

QCustomPlot* makePlot(const QString& name, const QString& x, const QString& y) {
    auto* p = new QCustomPlot;
    p->setObjectName(name);
    styleChart(p, x, y);
    return p;
}

QCPGraph* addLine(QCustomPlot* plot, const QString& name, int colour, bool scatter = false) {
    QCPGraph* g = plot->addGraph();
    g->setName(name);
    g->setPen(QPen(seriesColor(colour), 1.6));
    if (scatter) g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    return g;
}

// A built-in preset, or the user's preset of that name; throws swarm::Error when neither loads.
TrainConfig presetConfig(const std::string& name) {
    const std::vector<std::string> builtin = TrainConfig::builtinPresetNames();
    if (std::find(builtin.begin(), builtin.end(), name) != builtin.end()) return TrainConfig::preset(name);
    return loadUserPreset(defaultUserPresetFolder(), name);
}

} // namespace

TrainPage::TrainPage(QWidget* parent) : QWidget(parent), controller_(new TrainingController(this)) {
    setObjectName("trainPage");
    const AppSettings settings = AppSettings::load();
    auto* right = new QWidget;
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->addWidget(buildCharts(), 3);
    rightLayout->addWidget(buildRunsTabs(), 1);
    auto* split = new QSplitter;
    split->addWidget(buildRunForm(settings));
    split->addWidget(right);
    split->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);

    for (const std::string& name : TrainConfig::builtinPresetNames()) preset_->addItem(QString::fromStdString(name));
    for (const std::string& name : listUserPresets(defaultUserPresetFolder())) preset_->addItem(QString::fromStdString(name));
    preset_->setCurrentText("specialist");
    setFormConfig(TrainConfig::preset("specialist"));
    connect(preset_, &QComboBox::currentIndexChanged, this, &TrainPage::presetChosen);
    for (QSpinBox* s : {microBatch_, globalBatch_}) connect(s, &QSpinBox::valueChanged, this, &TrainPage::updatePreflight);
    connect(baseModel_, &QLineEdit::textChanged, this, &TrainPage::updatePreflight);
    connect(dataset_, &QComboBox::currentIndexChanged, this, &TrainPage::updatePreflight);
    connect(objective_, &QComboBox::currentIndexChanged, this, &TrainPage::objectiveChosen);
    connect(corpus_, &QComboBox::currentIndexChanged, this, &TrainPage::updatePreflight);
    connect(context_, &QSpinBox::valueChanged, this, &TrainPage::updatePreflight);
    connect(precision_, &QComboBox::currentIndexChanged, this, &TrainPage::updatePreflight);
    connect(startButton_, &QPushButton::clicked, this, &TrainPage::start);
    connect(pauseButton_, &QPushButton::clicked, this, &TrainPage::pauseRun);
    connect(cancelButton_, &QPushButton::clicked, this, &TrainPage::cancelRun);
    connect(resumeButton_, &QPushButton::clicked, this, &TrainPage::resumeSelected);
    connectController();
    setProject({});
}

TrainPage::~TrainPage() {
    controller_->cancel();
    controller_->waitForFinished();
}

// The fields of a run, each with what it means for the run as its tooltip.
QFormLayout* TrainPage::buildRunFields(const AppSettings& settings) {
    runName_ = new QLineEdit;
    runName_->setObjectName("runName");
    runName_->setToolTip(tr("The run's name in the project; its folder is created under the runs folder (Settings)."));
    objective_ = new QComboBox;
    objective_->setObjectName("trainObjective");
    objective_->addItem(tr("Fine-tune on a dataset"), "finetune");
    objective_->addItem(tr("Pre-train on a corpus"), "pretrain");
    objective_->setToolTip(tr("Fine-tune: a dataset's examples, loss on the responses. Pre-train: raw text of a corpus "
                              "(Datasets, swarm corpus import) packed into windows of the context, every token a target; "
                              "validation perplexity on its held-out documents."));
    corpus_ = new QComboBox;
    corpus_->setObjectName("trainCorpus");
    corpus_->setToolTip(tr("The project's text corpus: its training documents are trained on, its held-out ones measured."));
    context_ = new QSpinBox;
    context_->setObjectName("trainContext");
    context_->setRange(0, 1 << 20);
    context_->setSpecialValueText(tr("the model's"));
    context_->setToolTip(tr("Pre-training: tokens per packed window (at most the model's context)."));
    dataset_ = new QComboBox;
    dataset_->setObjectName("trainDataset");
    dataset_->setToolTip(tr("The imported dataset: its train split is trained on, its validation split measured."));
    baseModel_ = new QLineEdit;
    baseModel_->setObjectName("baseModel");
    baseModel_->setToolTip(tr("A Hugging Face model folder (config.json + model.safetensors), or a Hub repo id "
                              "org/name[@revision] (e.g. anthonym21/Eve-2-MoE-IT-272M): the standard cache, downloaded when missing."));
    auto* browseBase = new QPushButton(tr("\u2026"));
    browseBase->setMaximumWidth(32);
    connect(browseBase, &QPushButton::clicked, this, [this] {
        QString dir = QFileDialog::getExistingDirectory(this, tr("Base model folder"), baseModel_->text());
        if (!dir.isEmpty()) baseModel_->setText(dir);
    });
    auto* baseRow = new QHBoxLayout;
    baseRow->addWidget(baseModel_, 1);
    baseRow->addWidget(browseBase);
    preset_ = new QComboBox;
    preset_->setObjectName("trainPreset");
    preset_->setToolTip(tr("specialist: the published recipe (2 epochs, batch 128, peak 5e-5, cosine). "
                           "quick-test: minutes on a laptop CPU."));
    epochs_ = new QSpinBox;
    epochs_->setRange(1, 100);
    epochs_->setToolTip(tr("Passes over the training split. The published specialists used at most 2: more over-fits."));
    lr_ = new QDoubleSpinBox;
    lr_->setDecimals(6);
    lr_->setRange(1e-6, 0.5);
    lr_->setSingleStep(1e-5);
    lr_->setToolTip(tr("Peak learning rate, reached after the warm-up, then cosine decay to 10% of it."));
    globalBatch_ = new QSpinBox;
    globalBatch_->setRange(1, 65536);
    globalBatch_->setObjectName("globalBatch");
    globalBatch_->setToolTip(tr("Sequences per optimiser step (the recipe: 128)."));
    microBatch_ = new QSpinBox;
    microBatch_->setRange(1, 65536);
    microBatch_->setObjectName("microBatch");
    microBatch_->setToolTip(tr("Sequences per forward/backward pass: what must fit in memory. Gradient accumulation "
                               "makes up the global batch, so results do not depend on it."));
    maxSteps_ = new QSpinBox;
    maxSteps_->setRange(0, 1 << 30);
    maxSteps_->setObjectName("maxSteps");
    maxSteps_->setSpecialValueText(tr("all"));
    maxSteps_->setToolTip(tr("Stop after this many optimiser steps (0: every epoch); the schedule fits the steps run."));
    device_ = new QComboBox;
    device_->addItems({"cpu", "auto", "cuda", "cuda:1"});
    device_->setCurrentText(settings.device);
    device_->setToolTip(tr("cuda needs a LibTorch built with CUDA; auto takes the GPU when there is one."));
    threads_ = new QSpinBox;
    threads_->setRange(0, 1024);
    threads_->setSpecialValueText(tr("all cores"));
    threads_->setValue(settings.threads);
    processes_ = new QSpinBox;
    processes_->setObjectName("trainProcesses");
    processes_->setRange(1, std::max(1, QThread::idealThreadCount()));
    processes_->setToolTip(tr("Data parallel on this machine: N processes share each global batch (same results as one). "
                              "The others are the swarm program beside the workbench. Threads apply to each."));
    precision_ = new QComboBox;
    precision_->addItem("f32", "f32");
    precision_->addItem("bf16 (autocast)", "bf16");
    precision_->setToolTip(tr("bf16 computes in bfloat16 where safe; master weights stay float32. Best on GPUs."));

    auto* form = new QFormLayout;
    fields_ = form;
    form->addRow(tr("Run name"), runName_);
    form->addRow(tr("Objective"), objective_);
    form->addRow(tr("Dataset"), dataset_);
    form->addRow(tr("Corpus"), corpus_);
    form->addRow(tr("Context"), context_);
    form->setRowVisible(corpus_, false);
    form->setRowVisible(context_, false);
    form->addRow(tr("Base model"), baseRow);
    form->addRow(tr("Preset"), preset_);
    form->addRow(tr("Epochs"), epochs_);
    form->addRow(tr("Peak learning rate"), lr_);
    form->addRow(tr("Global batch"), globalBatch_);
    form->addRow(tr("Micro-batch"), microBatch_);
    form->addRow(tr("Max steps"), maxSteps_);
    form->addRow(tr("Device"), device_);
    form->addRow(tr("Threads"), threads_);
    form->addRow(tr("Processes"), processes_);
    form->addRow(tr("Precision"), precision_);
    return form;
}

// The run form with the preset button, the memory pre-flight and start/pause/cancel/resume.
QWidget* TrainPage::buildRunForm(const AppSettings& settings) {
    auto* savePreset = new QPushButton(tr("Save as preset\u2026"));
    connect(savePreset, &QPushButton::clicked, this, [this] {
        bool ok = false;
        QString name = QInputDialog::getText(this, tr("Save preset"), tr("Preset name"), QLineEdit::Normal, {}, &ok);
        if (!ok || name.isEmpty()) return;
        try {
            saveUserPreset(defaultUserPresetFolder(), name.toStdString(), formConfig());
            if (preset_->findText(name) < 0) preset_->addItem(name);
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Save preset"), QString::fromUtf8(e.what()));
        }
    });
    preflight_ = new QLabel;
    preflight_->setObjectName("preflight");
    preflight_->setWordWrap(true);
    startButton_ = new QPushButton(tr("Start"));
    startButton_->setObjectName("startTraining");
    startButton_->setShortcut(QKeySequence("Ctrl+Return"));
    pauseButton_ = new QPushButton(tr("Pause"));
    pauseButton_->setObjectName("pauseTraining");
    cancelButton_ = new QPushButton(tr("Cancel"));
    cancelButton_->setObjectName("cancelTraining");
    resumeButton_ = new QPushButton(tr("Resume selected run"));
    resumeButton_->setObjectName("resumeTraining");
    auto* buttons = new QGridLayout;
    buttons->addWidget(startButton_, 0, 0);
    buttons->addWidget(pauseButton_, 0, 1);
    buttons->addWidget(cancelButton_, 0, 2);
    buttons->addWidget(resumeButton_, 1, 0, 1, 3);

    auto* formBox = new QGroupBox(tr("Run"));
    auto* formLayout = new QVBoxLayout(formBox);
    formLayout->addLayout(buildRunFields(settings));
    formLayout->addWidget(savePreset);
    formLayout->addWidget(preflight_);
    formLayout->addLayout(buttons);
    formLayout->addStretch(1);
    auto* formScroll = new QScrollArea;
    formScroll->setWidget(formBox);
    formScroll->setWidgetResizable(true);
    formScroll->setMinimumWidth(330);
    return formScroll;
}

// Progress, then the live charts: loss, learning rate, gradient norm, tokens/s, the expert
// utilisation heatmap and the router entropy per layer.
QWidget* TrainPage::buildCharts() {
    progress_ = new QProgressBar;
    progress_->setObjectName("trainProgress");
    progressText_ = new QLabel(tr("No run in progress."));
    progressText_->setObjectName("trainProgressText");
    lossPlot_ = makePlot("lossChart", tr("optimiser step"), tr("loss (nats/token)"));
    addLine(lossPlot_, tr("train"), 0);
    addLine(lossPlot_, tr("validation"), 1, true);
    lossPlot_->legend->setVisible(true);
    lrPlot_ = makePlot("lrChart", tr("optimiser step"), tr("learning rate"));
    addLine(lrPlot_, tr("learning rate"), 2);
    gradPlot_ = makePlot("gradChart", tr("optimiser step"), tr("gradient norm"));
    addLine(gradPlot_, tr("gradient norm"), 3);
    speedPlot_ = makePlot("speedChart", tr("optimiser step"), tr("tokens / s"));
    addLine(speedPlot_, tr("tokens/s"), 4);

    heatPlot_ = makePlot("expertHeatmap", tr("expert"), tr("layer"));
    heatPlot_->setInteractions({});
    heatmap_ = new QCPColorMap(heatPlot_->xAxis, heatPlot_->yAxis);
    auto* scale = new QCPColorScale(heatPlot_);
    heatPlot_->plotLayout()->addElement(0, 1, scale);
    scale->axis()->setLabel(tr("share of routed tokens"));
    scale->axis()->setLabelColor(palette().color(QPalette::WindowText));
    scale->axis()->setTickLabelColor(palette().color(QPalette::WindowText));
    heatmap_->setColorScale(scale);
    heatmap_->setGradient(QCPColorGradient::gpThermal);
    heatmap_->setDataRange(QCPRange(0.0, 0.5));
    heatmap_->setInterpolate(false);
    entropyPlot_ = makePlot("entropyChart", tr("layer"), tr("router entropy (nats)"));
    entropyPlot_->setInteractions({});

    auto* progressRow = new QHBoxLayout;
    progressRow->addWidget(progress_, 1);
    progressRow->addWidget(progressText_, 2);
    auto* grid = new QGridLayout;
    grid->addWidget(lossPlot_, 0, 0);
    grid->addWidget(lrPlot_, 0, 1);
    grid->addWidget(gradPlot_, 1, 0);
    grid->addWidget(speedPlot_, 1, 1);
    grid->addWidget(heatPlot_, 2, 0);
    grid->addWidget(entropyPlot_, 2, 1);
    auto* charts = new QWidget;
    auto* layout = new QVBoxLayout(charts);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(progressRow);
    layout->addLayout(grid, 1);
    return charts;
}

// The project's runs (select one to see its history, overlay the others) and the warnings.
QWidget* TrainPage::buildRunsTabs() {
    warnings_ = new QListWidget;
    warnings_->setObjectName("trainWarnings");
    runs_ = new RecordTableModel<RunRecord>(
        {textColumn<RunRecord>(tr("Run"), [](const RunRecord& r) { return QString::fromStdString(r.name); }),
         textColumn<RunRecord>(tr("Status"), [](const RunRecord& r) { return QString::fromStdString(r.status); }),
         textColumn<RunRecord>(tr("Steps"), [](const RunRecord& r) { return QString("%1/%2").arg(r.stepsDone).arg(r.totalSteps); }),
         textColumn<RunRecord>(tr("Train loss"), [](const RunRecord& r) { return QString::number(r.trainLoss, 'f', 4); }),
         textColumn<RunRecord>(tr("Val loss"),
                               [](const RunRecord& r) { return r.validationLoss >= 0 ? QString::number(r.validationLoss, 'f', 4) : "-"; }),
         textColumn<RunRecord>(tr("Val ppl"),           // perplexity: exp of the mean token NLL
                               [](const RunRecord& r) { return r.validationLoss >= 0 ? QString::number(std::exp(r.validationLoss), 'f', 2) : "-"; }),
         textColumn<RunRecord>(tr("Time"), [](const RunRecord& r) { return QString::fromStdString(formatDuration(r.seconds)); }),
         textColumn<RunRecord>(tr("Folder"), [](const RunRecord& r) { return QString::fromStdString(r.runDir); })},
        this);
    runsView_ = new QTableView;
    runsView_->setObjectName("runsTable");
    runsView_->setModel(runs_);
    runsView_->horizontalHeader()->setStretchLastSection(true);
    runsView_->verticalHeader()->hide();
    runsView_->setSelectionBehavior(QAbstractItemView::SelectRows);
    runsView_->setSelectionMode(QAbstractItemView::SingleSelection);
    connect(runsView_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) { showRun(current.row()); });
    overlay_ = new QCheckBox(tr("Overlay every run's loss"));
    overlay_->setObjectName("overlayRuns");
    connect(overlay_, &QCheckBox::toggled, this, [this] { showRun(selectedRunRow()); });
    auto* runsBox = new QWidget;
    auto* runsLayout = new QVBoxLayout(runsBox);
    runsLayout->setContentsMargins(0, 0, 0, 0);
    runsLayout->addWidget(overlay_);
    runsLayout->addWidget(runsView_);
    auto* tabs = new QTabWidget;
    tabs->addTab(runsBox, tr("Runs"));
    tabs->addTab(warnings_, tr("Warnings"));
    return tabs;
}

void TrainPage::connectController() {
    connect(controller_, &TrainingController::started, this, &TrainPage::onStarted);
    connect(controller_, &TrainingController::step, this, &TrainPage::onStep);
    connect(controller_, &TrainingController::validation, this, &TrainPage::onValidation);
    connect(controller_, &TrainingController::warning, this, [this](qint64 step, const QString& message) {
        warnings_->insertItem(0, tr("step %1: %2").arg(step).arg(message));
    });
    connect(controller_, &TrainingController::preparing, progressText_, &QLabel::setText);
    connect(controller_, &TrainingController::checkpoint, this, [this](qint64 step, const QString&) {
        emit status(tr("Checkpoint written at step %1").arg(step));
    });
    connect(controller_, &TrainingController::finished, this, &TrainPage::onFinished);
    connect(controller_, &TrainingController::failed, this, &TrainPage::onFailed);
}

void TrainPage::onStarted(qint64 startStep, qint64 totalSteps) {
    progress_->setRange(0, int(totalSteps));
    progress_->setValue(int(startStep));
    progressText_->setText(startStep > 0 ? tr("Resumed after step %1 of %2").arg(startStep).arg(totalSteps)
                                         : tr("Started: %1 steps").arg(totalSteps));
    reloadRuns();
}

void TrainPage::onFinished(const RunResult& r) {
    progressText_->setText(tr("Run %1 after %2 of %3 steps (%4): train loss %5%6")
                               .arg(statusName(r.status)).arg(r.steps).arg(r.totalSteps).arg(QString::fromStdString(formatDuration(r.seconds)))
                               .arg(r.trainLoss, 0, 'f', 4)
                               .arg(r.validationLoss >= 0 ? tr(", validation %1").arg(r.validationLoss, 0, 'f', 4) : QString()));
    if (r.status == RunResult::Diverged) QMessageBox::warning(this, tr("Training stopped"), QString::fromStdString(r.message));
    emit jobStateChanged(false, {});
    emit status(QString::fromStdString(r.message));
    updateButtons();
    reloadRuns();
    emit runFinished();
}

void TrainPage::onFailed(const QString& message) {
    progressText_->setText(tr("Failed: %1").arg(message));
    emit jobStateChanged(false, {});
    QMessageBox::warning(this, tr("Training"), message);
    updateButtons();
    reloadRuns();
    emit runFinished();
}

void TrainPage::setProject(const QString& path) {
    projectPath_ = path;
    store_.reset();
    if (!path.isEmpty()) {
        store_ = std::make_unique<ProjectStore>(ProjectStore::open(path.toStdString()));
    }
    reloadDatasets();
    reloadRuns();
    clearCharts();
    if (runs_->rowCount() > 0) runsView_->selectRow(0);   // the latest run's full history
    updateButtons();
}

void TrainPage::reloadDatasets() {
    QSignalBlocker block(dataset_);
    const QString current = dataset_->currentText();
    dataset_->clear();
    if (store_)
        for (const DatasetInfo& d : DatasetStore(*store_).datasets())
            dataset_->addItem(QString::fromStdString(d.name), qlonglong(d.id));
    if (dataset_->findText(current) >= 0) dataset_->setCurrentText(current);
    block.unblock();
    reloadCorpora();
    updatePreflight();
    updateButtons();
}

void TrainPage::reloadCorpora() {
    QSignalBlocker block(corpus_);
    const QString current = corpus_->currentText();
    corpus_->clear();
    try {
        if (store_)
            for (const CorpusInfo& c : CorpusStore(*store_).corpora()) corpus_->addItem(QString::fromStdString(c.name), qlonglong(c.id));
    } catch (const std::exception& e) {
        emit status(tr("Corpora not listed: %1").arg(QString::fromUtf8(e.what())));
    }
    if (corpus_->findText(current) >= 0) corpus_->setCurrentText(current);
    block.unblock();
    updatePreflight();
    updateButtons();
}

bool TrainPage::pretraining() const { return objective_->currentData().toString() == "pretrain"; }

// The form follows the objective: its data picker, and its preset (the seed's pre-training
// schedule, or the specialist recipe) unless a user preset is chosen.
void TrainPage::objectiveChosen() {
    const bool pretrain = pretraining();
    fields_->setRowVisible(dataset_, !pretrain);
    fields_->setRowVisible(corpus_, pretrain);
    fields_->setRowVisible(context_, pretrain);
    const QString preset = preset_->currentText();
    if (preset == "specialist" || preset == "pretrain") preset_->setCurrentText(pretrain ? "pretrain" : "specialist");
    updatePreflight();
    updateButtons();
}

void TrainPage::setBaseModel(const QString& dir) { baseModel_->setText(dir); }

bool TrainPage::running() const { return controller_->running(); }

int TrainPage::plottedTrainPoints() const { return lossPlot_->graph(0)->dataCount(); }

void TrainPage::setFormConfig(const TrainConfig& c) {
    epochs_->setValue(c.epochs);
    lr_->setValue(c.peakLr);
    globalBatch_->setValue(c.globalBatch);
    microBatch_->setValue(c.microBatch);
    maxSteps_->setValue(c.maxSteps);
    context_->setValue(c.context);
    precision_->setCurrentIndex(c.precision == "bf16" ? 1 : 0);
}

TrainConfig TrainPage::formConfig() const {
    const std::string name = preset_->currentText().toStdString();
    TrainConfig c;
    try {
        c = presetConfig(name);
    } catch (const std::exception&) {
        // An unreadable user preset: the form's fields still make a whole configuration.
    }
    c.epochs = epochs_->value();
    c.peakLr = lr_->value();
    c.globalBatch = globalBatch_->value();
    c.microBatch = std::min(microBatch_->value(), globalBatch_->value());
    c.maxSteps = maxSteps_->value();
    c.context = context_->value();
    c.device = device_->currentText().toStdString();
    c.threads = threads_->value();
    c.precision = precision_->currentData().toString().toStdString();
    return c;
}

void TrainPage::presetChosen() {
    const std::string name = preset_->currentText().toStdString();
    try {
        setFormConfig(presetConfig(name));
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Preset"), QString::fromUtf8(e.what()));
    }
    updatePreflight();
}

void TrainPage::updatePreflight() {
    preflight_->setText(pretraining() ? tr("Memory pre-flight: choose a base model and a corpus.")
                                      : tr("Memory pre-flight: choose a base model and a dataset."));
    if (!store_ || (pretraining() ? corpus_ : dataset_)->currentIndex() < 0 || baseModel_->text().isEmpty()) return;
    try {
        const std::string base = cachedPickedModel(baseModel_->text().trimmed().toStdString());
        if (base.empty()) {
            preflight_->setText(tr("Memory pre-flight: %1 is not in the Hugging Face cache yet; it is downloaded when the run starts.")
                                    .arg(baseModel_->text().trimmed().toHtmlEscaped()));
            return;
        }
        ModelConfig mc = ModelConfig::load(locateHfModel(base).configPath);
        const TrainConfig c = formConfig();
        int longest = int(pretrainContext(c, mc.block_size));     // pre-training: every window is this long
        if (!pretraining()) {
            nlohmann::json report = DatasetStore(*store_).validationReport(dataset_->currentData().toLongLong());
            longest = mc.block_size;
            if (report.is_object() && report["tokens"]["total"].contains("max")) longest = report["tokens"]["total"]["max"].get<int>();
        }
        PreflightVerdict v = preflight(mc, c.microBatch, std::max(longest, 1), c.precision == "bf16", availableMemory(c.device));
        const char* colour = v.kind == PreflightVerdict::DoesNotFit ? "#c0392b" : v.kind == PreflightVerdict::Tight ? "#b9770e" : "#1e8449";
        preflight_->setText(QString("<span style='color:%1'><b>%2</b></span> This run %3.")
                                .arg(colour)
                                .arg(v.kind == PreflightVerdict::DoesNotFit ? tr("Will not fit.")
                                     : v.kind == PreflightVerdict::Tight    ? tr("Tight.")
                                                                             : tr("Fits."))
                                .arg(QString::fromStdString(v.message).toHtmlEscaped()));
    } catch (const std::exception& e) {
        preflight_->setText(QString::fromUtf8(e.what()).toHtmlEscaped());
    }
}

void TrainPage::updateButtons() {
    const bool busy = controller_->running();
    startButton_->setEnabled(!busy && store_ && (pretraining() ? corpus_ : dataset_)->count() > 0);
    pauseButton_->setEnabled(busy);
    cancelButton_->setEnabled(busy);
    resumeButton_->setEnabled(!busy && selectedRunRow() >= 0);
}

void TrainPage::clearCharts() {
    for (QCustomPlot* p : {lossPlot_, lrPlot_, gradPlot_, speedPlot_}) {
        for (int i = 0; i < p->graphCount(); ++i) p->graph(i)->data()->clear();
        while (p->graphCount() > (p == lossPlot_ ? 2 : 1)) p->removeGraph(p->graphCount() - 1);
        p->replot();
    }
    heatmap_->data()->clear();
    heatPlot_->replot();
    entropyPlot_->clearPlottables();
    entropyPlot_->replot();
    warnings_->clear();
}

void TrainPage::start() {
    if (!store_ || controller_->running()) return;
    const AppSettings settings = AppSettings::load();
    QString name = runName_->text().trimmed();
    const bool pretrain = pretraining();
    if (name.isEmpty())
        name = QString("%1-%2").arg((pretrain ? corpus_ : dataset_)->currentText(), QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss"));
    const QString runDir = QDir(settings.runsFolder).filePath(name);
    if (run_folder::isRunFolder(runDir.toStdString())) {
        QMessageBox::warning(this, tr("Training"), tr("A run named '%1' exists already: choose another name.").arg(name));
        return;
    }
    TrainConfig config = formConfig();
    try {
        config.validate("run form");
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Training"), QString::fromUtf8(e.what()));
        return;
    }
    clearCharts();
    currentRunDir_ = runDir;
    controller_->setProcesses(processes_->value());
    if (pretrain) controller_->startPretraining(projectPath_, runDir, name, baseModel_->text(), config, corpus_->currentText());
    else controller_->startNew(projectPath_, runDir, name, baseModel_->text(), config, dataset_->currentData().toLongLong());
    progressText_->setText(tr("Loading the model and the data\u2026"));
    emit jobStateChanged(true, tr("Training %1").arg(name));
    updateButtons();
}

void TrainPage::pauseRun() { controller_->pause(); }
void TrainPage::cancelRun() { controller_->cancel(); }

void TrainPage::resumeSelected() {
    const int row = selectedRunRow();
    const RunRecord* run = runs_->recordAt(row);
    if (!run || controller_->running()) return;
    const QString runDir = QString::fromStdString(run->runDir);
    clearCharts();
    currentRunDir_ = runDir;
    showRun(row);     // the history so far, then live points continue it
    controller_->setProcesses(processes_->value());
    controller_->resume(projectPath_, runDir);
    emit jobStateChanged(true, tr("Training %1").arg(QFileInfo(runDir).fileName()));
    updateButtons();
}

void TrainPage::onStep(const StepMetrics& m) {
    lossPlot_->graph(0)->addData(double(m.step), m.loss);
    lrPlot_->graph(0)->addData(double(m.step), m.lr);
    gradPlot_->graph(0)->addData(double(m.step), m.gradNorm);
    speedPlot_->graph(0)->addData(double(m.step), m.tokensPerSecond);
    for (QCustomPlot* p : {lossPlot_, lrPlot_, gradPlot_, speedPlot_}) {
        p->rescaleAxes();
        p->replot(QCustomPlot::rpQueuedReplot);     // coalesced: many steps, one paint
    }
    showHeatmap(m.expertShare, m.routerEntropy);
    progress_->setRange(0, int(m.totalSteps));
    progress_->setValue(int(m.step));
    progressText_->setText(tr("step %1/%2 \u00b7 epoch %3 \u00b7 loss %4 \u00b7 %5 tok/s \u00b7 elapsed %6 \u00b7 ETA %7")
                               .arg(m.step).arg(m.totalSteps).arg(m.epoch + 1).arg(m.loss, 0, 'f', 4)
                               .arg(m.tokensPerSecond, 0, 'f', 0).arg(QString::fromStdString(formatDuration(m.elapsedSeconds))).arg(QString::fromStdString(formatDuration(m.etaSeconds))));
}

void TrainPage::onValidation(const ValidationMetrics& v) {
    lossPlot_->graph(1)->addData(double(v.step), v.loss);
    lossPlot_->rescaleAxes();
    lossPlot_->replot(QCustomPlot::rpQueuedReplot);
}

void TrainPage::showHeatmap(const std::vector<std::vector<double>>& share, const std::vector<double>& entropy) {
    if (share.empty()) return;
    const int layers = int(share.size()), experts = int(share[0].size());
    heatmap_->data()->setSize(experts, layers);
    heatmap_->data()->setRange(QCPRange(0, experts - 1), QCPRange(0, layers - 1));
    for (int l = 0; l < layers; ++l)
        for (int e = 0; e < experts && e < int(share[size_t(l)].size()); ++e) heatmap_->data()->setCell(e, l, share[size_t(l)][size_t(e)]);
    heatPlot_->xAxis->setRange(-0.5, experts - 0.5);
    heatPlot_->yAxis->setRange(-0.5, layers - 0.5);
    heatPlot_->replot(QCustomPlot::rpQueuedReplot);

    entropyPlot_->clearPlottables();
    auto* bars = new QCPBars(entropyPlot_->xAxis, entropyPlot_->yAxis);
    bars->setPen(Qt::NoPen);
    bars->setBrush(seriesColor(5));
    QVector<double> x, y;
    for (int l = 0; l < int(entropy.size()); ++l) {
        x << l;
        y << entropy[size_t(l)];
    }
    bars->setData(x, y);
    entropyPlot_->xAxis->setRange(-0.5, std::max(1, int(entropy.size())) - 0.5);
    entropyPlot_->yAxis->setRange(0, std::log(double(std::max(2, experts))) * 1.05);   // log E: uniform routing
    entropyPlot_->replot(QCustomPlot::rpQueuedReplot);
}

void TrainPage::reloadRuns() {
    runs_->setRecords(store_ ? RunStore(*store_).runs() : std::vector<RunRecord>{});
    updateButtons();
}

int TrainPage::selectedRunRow() const { return runsView_->currentIndex().row(); }

void TrainPage::showRun(int row) {
    updateButtons();
    const RunRecord* run = runs_->recordAt(row);
    if (!store_ || !run) return;
    if (controller_->running() && QString::fromStdString(run->runDir) == currentRunDir_) return;   // live already
    RunStore runs(*store_);
    const int64_t id = run->id;
    if (!controller_->running()) {
        clearCharts();
        for (const MetricRow& m : runs.metrics(id)) {
            if (m.kind == "train") {
                lossPlot_->graph(0)->addData(double(m.step), m.loss);
                lrPlot_->graph(0)->addData(double(m.step), m.lr);
                gradPlot_->graph(0)->addData(double(m.step), m.gradNorm);
                speedPlot_->graph(0)->addData(double(m.step), m.tokensPerSecond);
                std::vector<std::vector<double>> share;
                for (const auto& layer : m.expertShare) share.emplace_back(layer.begin(), layer.end());
                showHeatmap(share, std::vector<double>(m.routerEntropy.begin(), m.routerEntropy.end()));
            } else {
                lossPlot_->graph(1)->addData(double(m.step), m.loss);
            }
        }
        for (const RunEvent& e : runs.events(id))
            if (e.kind == "warning") warnings_->insertItem(0, tr("step %1: %2").arg(e.step).arg(QString::fromStdString(e.message)));
    }
    if (overlay_->isChecked()) {
        int colour = 2;
        for (const RunRecord& r : runs.runs()) {
            if (r.id == id) continue;
            QCPGraph* g = lossPlot_->addGraph();
            g->setName(QString::fromStdString(r.name));
            QPen pen(seriesColor(colour++), 1.2, Qt::DashLine);
            g->setPen(pen);
            for (const MetricRow& m : runs.metrics(r.id, "train")) g->addData(double(m.step), m.loss);
        }
    }
    for (QCustomPlot* p : {lossPlot_, lrPlot_, gradPlot_, speedPlot_}) {
        p->rescaleAxes();
        p->replot();
    }
}

} // namespace swarm::ui
