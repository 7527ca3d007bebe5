#include "ui/import_dialog.h"

#include "ui/hub_models.h"
#include "ui/job_runner.h"
#include "ui/record_table_model.h"

#include "core/format.h"
#include "datasets/dataset_presets.h"
#include "datasets/hub_dataset.h"

#include "core/hf_cache.h"

#include <filesystem>

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace swarm::ui {

namespace {

// A preview cell: one line of text, in full as its tooltip (cut to 2000 characters).
RecordTableModel<PreviewRow>::Column previewColumn(const QString& header, std::function<QString(const PreviewRow&)> text) {
    return {header, [text = std::move(text)](const PreviewRow& row, int role) -> QVariant {
                if (role == Qt::DisplayRole) return text(row);
                if (role == Qt::ToolTipRole) return text(row).left(2000);
                return {};
            }};
}

QString oneLine(const std::string& text) { return QString::fromStdString(text).replace('\n', QStringLiteral(" \u21b5 ")); }

} // namespace

ImportDialog::ImportDialog(const Gpt2Tokenizer* tokenizer, const QStringList& takenNames, QWidget* parent)
    : QDialog(parent), tokenizer_(tokenizer), takenNames_(takenNames) {
    setWindowTitle(tr("Import a dataset"));
    setObjectName("importDialog");
    resize(1000, 720);
    debounce_ = new QTimer(this);   // first: every field's change schedules a preview
    debounce_->setSingleShot(true);
    debounce_->setInterval(250);

    path_ = new QLineEdit;
    path_->setObjectName("importPath");
    path_->setPlaceholderText(tr("JSONL, JSON, CSV, TSV or Parquet file, or a Hugging Face dataset repo org/name[@rev]"));
    fetch_ = new JobRunner(this);
    auto* browse = new QPushButton(tr("Browse\u2026"));
    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(path_, 1);
    fileRow->addWidget(browse);
    detected_ = new QLabel(tr("No file chosen."));
    detected_->setObjectName("importDetected");
    detected_->setWordWrap(true);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel);
    importButton_ = buttons->addButton(tr("Import"), QDialogButtonBox::AcceptRole);
    importButton_->setObjectName("importAccept");
    importButton_->setEnabled(false);

    auto* top = new QHBoxLayout;
    top->addWidget(buildMapping(), 3);
    top->addWidget(buildOptions(), 2);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(fileRow);
    layout->addWidget(detected_);
    layout->addLayout(top);
    layout->addWidget(new QLabel(tr("First rows, as the model will see them:")));
    layout->addWidget(buildPreview(), 1);
    layout->addWidget(buttons);

    connect(debounce_, &QTimer::timeout, this, &ImportDialog::refreshPreview);
    connect(browse, &QPushButton::clicked, this, &ImportDialog::browse);
    connect(path_, &QLineEdit::textChanged, this, &ImportDialog::schedulePreview);
    connect(fetch_, &JobRunner::progress, this, [this](double, const QString& text) { detected_->setText(text); });
    connect(fetch_, &JobRunner::finished, this, [this](bool ok, const QString& message) {
        const QStringList parts = message.split('\n');   // key, then the local file (when ok)
        if (!ok) {
            detected_->setText(message);
            return;
        }
        fetchedKey_ = parts.value(0);
        fetchedPath_ = parts.value(1);
        refreshPreview();
    });
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

// The preset or templates that turn a record into a prompt and a response.
QGroupBox* ImportDialog::buildMapping() {
    preset_ = new QComboBox;
    preset_->setObjectName("importPreset");
    preset_->addItem(tr("Detect from the columns"), "auto");
    for (const DatasetPreset& p : builtinPresets())
        preset_->addItem(QString("%1 \u2014 %2 (%3)").arg(QString::fromStdString(p.name), QString::fromStdString(p.specialist),
                                                         QString::fromStdString(p.source)),
                         QString::fromStdString(p.name));
    preset_->addItem(tr("Custom templates"), "custom");
    preset_->setToolTip(tr("A preset maps the published specialist datasets' fields to a prompt and a response."));
    promptTemplate_ = new QPlainTextEdit;
    promptTemplate_->setObjectName("importPromptTemplate");
    promptTemplate_->setPlaceholderText("{context}\\n\\nQuestion: {question}");
    promptTemplate_->setMaximumHeight(70);
    promptTemplate_->setToolTip(tr("The prompt, built from any fields: {field}, nested {chat[0].content}."));
    responseTemplate_ = new QLineEdit;
    responseTemplate_->setObjectName("importResponseTemplate");
    responseTemplate_->setPlaceholderText("{answer}");
    responseTemplate_->setToolTip(tr("The response the model learns to write; loss falls on it and <|endoftext|> only."));
    mappingNote_ = new QLabel;
    mappingNote_->setWordWrap(true);
    mappingNote_->setObjectName("importMappingNote");

    auto* mapping = new QGroupBox(tr("Mapping"));
    auto* form = new QFormLayout(mapping);
    form->addRow(tr("Preset"), preset_);
    form->addRow(tr("Prompt template"), promptTemplate_);
    form->addRow(tr("Response template"), responseTemplate_);
    form->addRow(mappingNote_);

    connect(preset_, &QComboBox::currentIndexChanged, this, &ImportDialog::presetChosen);
    // Editing a template by hand makes the mapping custom.
    connect(promptTemplate_, &QPlainTextEdit::textChanged, this, [this] {
        if (!fillingTemplates_) preset_->setCurrentIndex(preset_->count() - 1);
        schedulePreview();
    });
    connect(responseTemplate_, &QLineEdit::textChanged, this, [this] {
        if (!fillingTemplates_) preset_->setCurrentIndex(preset_->count() - 1);
        schedulePreview();
    });
    return mapping;
}

// Name, length limit, splits and seed.
QGroupBox* ImportDialog::buildOptions() {
    name_ = new QLineEdit;
    name_->setObjectName("importName");
    maxLen_ = new QSpinBox;
    maxLen_->setRange(16, 2048);
    maxLen_->setValue(1024);
    maxLen_->setToolTip(tr("Longest training sequence in tokens (prompt + response + <|endoftext|>), up to the model's context."));
    overlong_ = new QComboBox;
    overlong_->addItem(tr("truncate the prompt"), "truncate");
    overlong_->addItem(tr("drop the row"), "drop");
    overlong_->setToolTip(tr("What happens to rows longer than the maximum: both are counted in the report."));
    split_ = new QLineEdit("0.9,0.05,0.05");
    split_->setToolTip(tr("Train, validation and test shares, deterministic for a seed."));
    seed_ = new QSpinBox;
    seed_->setRange(0, 1 << 30);
    seed_->setValue(42);
    hubSplit_ = new QComboBox;
    hubSplit_->setObjectName("importHubSplit");
    hubSplit_->setEditable(true);
    hubSplit_->addItems({"train", "validation", "test"});
    hubSplit_->setToolTip(tr("A dataset repo: the split to import (the files that name it, or the Hub's Parquet conversion)."));
    hubConfig_ = new QLineEdit;
    hubConfig_->setObjectName("importHubConfig");
    hubConfig_->setPlaceholderText(tr("any"));
    hubFile_ = new QLineEdit;
    hubFile_->setObjectName("importHubFile");
    hubFile_->setPlaceholderText(tr("a file of the repo, whatever the split (optional)"));
    auto* options = new QGroupBox(tr("Options"));
    auto* form = new QFormLayout(options);
    form->addRow(tr("Hub split"), hubSplit_);
    form->addRow(tr("Hub config"), hubConfig_);
    form->addRow(tr("Hub file"), hubFile_);
    form->addRow(tr("Dataset name"), name_);
    form->addRow(tr("Maximum length"), maxLen_);
    form->addRow(tr("Over-long rows"), overlong_);
    form->addRow(tr("Split"), split_);
    form->addRow(tr("Seed"), seed_);
    connect(maxLen_, &QSpinBox::valueChanged, this, &ImportDialog::schedulePreview);
    connect(name_, &QLineEdit::textChanged, this, &ImportDialog::schedulePreview);
    connect(hubSplit_, &QComboBox::currentTextChanged, this, &ImportDialog::schedulePreview);
    connect(hubConfig_, &QLineEdit::textChanged, this, &ImportDialog::schedulePreview);
    connect(hubFile_, &QLineEdit::textChanged, this, &ImportDialog::schedulePreview);
    return options;
}

QWidget* ImportDialog::buildPreview() {
    auto status = previewColumn(tr("Status"), [](const PreviewRow& row) {
        return row.ok ? tr("ok") : QString::fromStdString(row.reason + ": " + row.detail);
    });
    status.cell = [text = status.cell](const PreviewRow& row, int role) -> QVariant {
        if (role == Qt::ForegroundRole && !row.ok) return QColor(200, 60, 60);
        return text(row, role);
    };
    preview_ = new RecordTableModel<PreviewRow>(
        {previewColumn(tr("Record"), [](const PreviewRow& row) { return QString::number(row.number); }),
         previewColumn(tr("Prompt"), [](const PreviewRow& row) { return oneLine(row.prompt); }),
         previewColumn(tr("Response"), [](const PreviewRow& row) { return oneLine(row.response); }),
         previewColumn(tr("Tokens"), [](const PreviewRow& row) {
             return row.ok ? QString("%1 + %2").arg(row.promptTokens).arg(row.responseTokens) : QString();
         }),
         status},
        this);
    auto* view = new QTableView;
    view->setObjectName("importPreview");
    view->setModel(preview_);
    view->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
    view->horizontalHeader()->setSectionResizeMode(2, QHeaderView::Stretch);
    view->verticalHeader()->hide();
    view->setWordWrap(false);
    return view;
}

void ImportDialog::browse() {
    QString file = QFileDialog::getOpenFileName(this, tr("Dataset file"), QFileInfo(path_->text()).absolutePath(),
                                                tr("Datasets (*.jsonl *.json *.csv *.tsv *.parquet);;All files (*)"));
    if (!file.isEmpty()) path_->setText(file);
}

void ImportDialog::schedulePreview() { debounce_->start(); }

void ImportDialog::presetChosen() {
    const QString key = preset_->currentData().toString();
    if (const DatasetPreset* p = findBuiltinPreset(key.toStdString())) {
        fillingTemplates_ = true;
        promptTemplate_->setPlainText(QString::fromStdString(p->promptTemplate));
        responseTemplate_->setText(QString::fromStdString(p->responseTemplate));
        maxLen_->setValue(p->maxLen);
        fillingTemplates_ = false;
    } else if (key == "auto") {
        fillingTemplates_ = true;
        promptTemplate_->clear();
        responseTemplate_->clear();
        fillingTemplates_ = false;
    }
    schedulePreview();
}

ImportOptions ImportDialog::options() const {
    ImportOptions o;
    o.sourcePath = hubRequestKey().isEmpty() ? path_->text().toStdString() : fetchedKey_ == hubRequestKey() ? fetchedPath_.toStdString() : "";
    o.name = name_->text().trimmed().toStdString();
    const QString key = preset_->currentData().toString();
    if (key == "custom") {
        o.promptTemplate = promptTemplate_->toPlainText().toStdString();
        o.responseTemplate = responseTemplate_->text().toStdString();
    } else {
        o.presetName = key == "auto" ? "" : key.toStdString();
    }
    o.maxLen = maxLen_->value();
    o.overlong = parseOverlong(overlong_->currentData().toString().toStdString());
    o.split = SplitSpec::parse(split_->text().toStdString());
    o.seed = uint64_t(seed_->value());
    return o;
}

void ImportDialog::refreshPreview() {
    preview_->setRecords({});
    importButton_->setEnabled(false);
    const QString path = path_->text().trimmed();
    if (path.isEmpty()) return;
    const QString key = hubRequestKey();
    for (QWidget* w : std::initializer_list<QWidget*>{hubSplit_, hubConfig_, hubFile_}) w->setEnabled(!key.isEmpty());
    if (!key.isEmpty() && fetchedKey_ != key) return fetchFromHub();
    if (name_->text().isEmpty()) {
        QSignalBlocker block(name_);
        name_->setText(key.isEmpty() ? QFileInfo(path).completeBaseName() : path.section('/', 1).section('@', 0, 0));
    }
    DatasetPreview pv;
    try {
        ImportOptions o = options();
        pv = previewDataset(o, tokenizer_, 20);
    } catch (const std::exception& e) {
        detected_->setText(QString::fromUtf8(e.what()));
        return;
    }
    showDetected(pv);
    const bool mapped = pv.mapping.has_value();
    preview_->setRecords(std::move(pv.rows));
    const bool nameFree = !takenNames_.contains(name_->text().trimmed());
    if (!nameFree) mappingNote_->setText(tr("A dataset named '%1' already exists in this project.").arg(name_->text()));
    importButton_->setEnabled(mapped && !name_->text().trimmed().isEmpty() && nameFree);
}

QString ImportDialog::hubRequestKey() const {
    const std::string path = path_->text().trimmed().toStdString();
    std::error_code ec;
    if (path.empty() || std::filesystem::exists(path, ec) || !hub::looksLikeRepoId(path)) return {};
    return QStringList{path_->text().trimmed(), hubConfig_->text().trimmed(), hubSplit_->currentText().trimmed(), hubFile_->text().trimmed()}
        .join('\t');
}

// The repo's file for the split, on the fetch job's thread (a download reports its progress).
void ImportDialog::fetchFromHub() {
    if (fetch_->running()) return schedulePreview();   // the request changed while one runs: again after it
    const QString key = hubRequestKey();
    const QStringList parts = key.split('\t');
    HubDatasetRequest req;
    req.repo = parts.value(0).toStdString();
    req.config = parts.value(1).toStdString();
    req.split = parts.value(2).isEmpty() ? "train" : parts.value(2).toStdString();
    req.file = parts.value(3).toStdString();
    detected_->setText(tr("Looking for %1 in the Hugging Face cache\u2026").arg(parts.value(0)));
    fetch_->start(tr("Fetching %1").arg(parts.value(0)), [req, key](JobRunner& job) {
        hub::HubOptions options = hub::hubOptionsFromEnvironment();
        options.cancel = job.cancelFlag();   // closing the dialog stops a download
        const HubDatasetFile f = resolveHubDataset(req, options);
        return key + "\n" + QString::fromStdString(f.localPath);
    });
}

// The file's format and columns, and the mapping found for them (filling the templates when
// the mapping was detected).
void ImportDialog::showDetected(const DatasetPreview& pv) {
    QStringList cols;
    for (const std::string& c : pv.columns) cols << QString::fromStdString(c);
    detected_->setText(tr("%1 \u00b7 %2%3 \u00b7 columns: %4")
                           .arg(QString(formatName(pv.format)).toUpper())
                           .arg(QString::fromStdString(formatBytes(pv.fileSize)))
                           .arg(pv.bom ? tr(" \u00b7 UTF-8 BOM") : QString())
                           .arg(cols.join(", ")));
    if (!pv.mapping) {
        mappingNote_->setText(QString::fromStdString(pv.mappingError));
        return;
    }
    mappingNote_->setText(QString::fromStdString(pv.mapping->explanation));
    if (preset_->currentData().toString() == "auto" && !pv.mapping->presetName.empty()) {
        fillingTemplates_ = true;
        promptTemplate_->setPlainText(QString::fromStdString(pv.mapping->prompt.text()));
        responseTemplate_->setText(QString::fromStdString(pv.mapping->response.text()));
        fillingTemplates_ = false;
    }
}

} // namespace swarm::ui
