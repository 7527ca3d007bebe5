#include "ui/import_dialog.h"

#include "datasets/dataset_presets.h"

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
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

namespace swarm::ui {

ImportDialog::ImportDialog(const Gpt2Tokenizer* tokenizer, const QStringList& takenNames, QWidget* parent)
    : QDialog(parent), tokenizer_(tokenizer), takenNames_(takenNames) {
    setWindowTitle(tr("Import a dataset"));
    setObjectName("importDialog");
    resize(1000, 720);

    path_ = new QLineEdit;
    path_->setObjectName("importPath");
    path_->setPlaceholderText(tr("JSONL, JSON, CSV or TSV file"));
    auto* browse = new QPushButton(tr("Browse\u2026"));
    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(path_, 1);
    fileRow->addWidget(browse);
    detected_ = new QLabel(tr("No file chosen."));
    detected_->setObjectName("importDetected");
    detected_->setWordWrap(true);

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
    auto* mapForm = new QFormLayout(mapping);
    mapForm->addRow(tr("Preset"), preset_);
    mapForm->addRow(tr("Prompt template"), promptTemplate_);
    mapForm->addRow(tr("Response template"), responseTemplate_);
    mapForm->addRow(mappingNote_);

    preview_ = new QTableWidget(0, 5);
    preview_->setObjectName("importPreview");
    preview_->setHorizontalHeaderLabels({tr("Record"), tr("Prompt"), tr("Response"), tr("Tokens"), tr("Status")});
    preview_->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
    preview_->horizontalHeader()->setSectionResizeMode(2, QHeaderView::Stretch);
    preview_->verticalHeader()->hide();
    preview_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    preview_->setWordWrap(false);

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
    auto* options = new QGroupBox(tr("Options"));
    auto* optForm = new QFormLayout(options);
    optForm->addRow(tr("Dataset name"), name_);
    optForm->addRow(tr("Maximum length"), maxLen_);
    optForm->addRow(tr("Over-long rows"), overlong_);
    optForm->addRow(tr("Split"), split_);
    optForm->addRow(tr("Seed"), seed_);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel);
    importButton_ = buttons->addButton(tr("Import"), QDialogButtonBox::AcceptRole);
    importButton_->setObjectName("importAccept");
    importButton_->setEnabled(false);

    auto* top = new QHBoxLayout;
    top->addWidget(mapping, 3);
    top->addWidget(options, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(fileRow);
    layout->addWidget(detected_);
    layout->addLayout(top);
    layout->addWidget(new QLabel(tr("First rows, as the model will see them:")));
    layout->addWidget(preview_, 1);
    layout->addWidget(buttons);

    debounce_ = new QTimer(this);
    debounce_->setSingleShot(true);
    debounce_->setInterval(250);
    connect(debounce_, &QTimer::timeout, this, &ImportDialog::refreshPreview);
    connect(browse, &QPushButton::clicked, this, &ImportDialog::browse);
    connect(path_, &QLineEdit::textChanged, this, &ImportDialog::schedulePreview);
    connect(preset_, &QComboBox::currentIndexChanged, this, &ImportDialog::presetChosen);
    connect(promptTemplate_, &QPlainTextEdit::textChanged, this, [this] {
        if (!fillingTemplates_) preset_->setCurrentIndex(preset_->count() - 1);
        schedulePreview();
    });
    connect(responseTemplate_, &QLineEdit::textChanged, this, [this] {
        if (!fillingTemplates_) preset_->setCurrentIndex(preset_->count() - 1);
        schedulePreview();
    });
    connect(maxLen_, &QSpinBox::valueChanged, this, &ImportDialog::schedulePreview);
    connect(name_, &QLineEdit::textChanged, this, &ImportDialog::schedulePreview);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

void ImportDialog::setFile(const QString& path) { path_->setText(path); }

void ImportDialog::browse() {
    QString file = QFileDialog::getOpenFileName(this, tr("Dataset file"), QFileInfo(path_->text()).absolutePath(),
                                                tr("Datasets (*.jsonl *.json *.csv *.tsv);;All files (*)"));
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
    o.sourcePath = path_->text().toStdString();
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
    preview_->setRowCount(0);
    importButton_->setEnabled(false);
    const QString path = path_->text();
    if (path.isEmpty()) return;
    if (name_->text().isEmpty()) {
        QSignalBlocker block(name_);
        name_->setText(QFileInfo(path).completeBaseName());
    }
    DatasetPreview pv;
    try {
        ImportOptions o = options();
        pv = previewDataset(o, tokenizer_, 20);
    } catch (const std::exception& e) {
        detected_->setText(QString::fromUtf8(e.what()));
        return;
    }
    QStringList cols;
    for (const std::string& c : pv.columns) cols << QString::fromStdString(c);
    detected_->setText(tr("%1 \u00b7 %2 KiB%3 \u00b7 columns: %4")
                           .arg(QString(formatName(pv.format)).toUpper())
                           .arg(pv.fileSize / 1024)
                           .arg(pv.bom ? tr(" \u00b7 UTF-8 BOM") : QString())
                           .arg(cols.join(", ")));
    if (pv.mapping) {
        mappingNote_->setText(QString::fromStdString(pv.mapping->explanation));
        if (preset_->currentData().toString() == "auto" && !pv.mapping->presetName.empty()) {
            fillingTemplates_ = true;
            promptTemplate_->setPlainText(QString::fromStdString(pv.mapping->prompt.text()));
            responseTemplate_->setText(QString::fromStdString(pv.mapping->response.text()));
            fillingTemplates_ = false;
        }
    } else {
        mappingNote_->setText(QString::fromStdString(pv.mappingError));
    }
    preview_->setRowCount(int(pv.rows.size()));
    for (int r = 0; r < int(pv.rows.size()); ++r) {
        const PreviewRow& row = pv.rows[size_t(r)];
        auto cell = [&](int c, const QString& text) {
            auto* item = new QTableWidgetItem(text);
            item->setToolTip(text.left(2000));
            preview_->setItem(r, c, item);
        };
        cell(0, QString::number(row.number));
        cell(1, QString::fromStdString(row.prompt).replace('\n', QStringLiteral(" \u21b5 ")));
        cell(2, QString::fromStdString(row.response).replace('\n', QStringLiteral(" \u21b5 ")));
        cell(3, row.ok ? QString("%1 + %2").arg(row.promptTokens).arg(row.responseTokens) : QString());
        cell(4, row.ok ? tr("ok") : QString::fromStdString(row.reason + ": " + row.detail));
        if (!row.ok) preview_->item(r, 4)->setForeground(QColor(200, 60, 60));
    }
    const bool nameFree = !takenNames_.contains(name_->text().trimmed());
    if (!nameFree) mappingNote_->setText(tr("A dataset named '%1' already exists in this project.").arg(name_->text()));
    importButton_->setEnabled(pv.mapping.has_value() && !name_->text().trimmed().isEmpty() && nameFree);
}

} // namespace swarm::ui
