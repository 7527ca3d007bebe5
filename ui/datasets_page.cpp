#include "ui/datasets_page.h"

#include "ui/dataset_table_model.h"
#include "ui/import_dialog.h"
#include "ui/job_runner.h"
#include "ui/record_table_model.h"
#include "ui/theme.h"

#include "datasets/dataset_import.h"
#include "datasets/dataset_store.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace swarm::ui {

namespace {

// HTML of an example's tokens: masked (prompt) tokens grey, trained tokens highlighted.
QString maskPreviewHtml(const Gpt2Tokenizer& tokenizer, const std::vector<int32_t>& ids, int32_t promptLen) {
    QString html = "<div style='font-family: monospace; line-height: 160%;'>";
    for (size_t t = 0; t < ids.size(); ++t) {
        QString piece = QString::fromUtf8(tokenizer.tokenBytes(ids[t]).c_str()).toHtmlEscaped();
        piece.replace(' ', "&middot;").replace('\n', "&#8629;<br>");
        if (ids[t] == Gpt2Tokenizer::kEndOfText) piece = "&lt;|endoftext|&gt;";
        const bool trained = int32_t(t) >= promptLen;
        html += trained ? QString("<span style='background:#cde7c5; color:#143d0c;' title='trained: %1'>%2</span>").arg(ids[t]).arg(piece)
                        : QString("<span style='background:#e4e6ea; color:#6b7280;' title='masked (-100): %1'>%2</span>").arg(ids[t]).arg(piece);
    }
    html += "</div><p><span style='background:#e4e6ea; color:#6b7280;'>&nbsp;masked&nbsp;</span> prompt tokens carry no loss; "
            "<span style='background:#cde7c5; color:#143d0c;'>&nbsp;trained&nbsp;</span> tokens are the response and &lt;|endoftext|&gt;.</p>";
    return html;
}

} // namespace

DatasetsPage::DatasetsPage(JobRunner* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
    setObjectName("datasetsPage");
    mask_ = new QTextBrowser;
    mask_->setObjectName("maskPreview");
    auto* tabs = new QTabWidget;
    tabs->setObjectName("datasetTabs");
    tabs->addTab(buildExamples(), tr("Examples"));
    tabs->addTab(buildReport(), tr("Validation report"));
    tabs->addTab(mask_, tr("Mask preview"));

    auto* split = new QSplitter;
    split->addWidget(buildDatasetList());
    split->addWidget(tabs);
    split->setStretchFactor(1, 1);
    split->setSizes({240, 900});
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);
    setProject({});
}

// The project's datasets with the import and delete buttons.
QWidget* DatasetsPage::buildDatasetList() {
    list_ = new QListWidget;
    list_->setObjectName("datasetList");
    importButton_ = new QPushButton(tr("Import\u2026"));
    importButton_->setObjectName("importButton");
    importButton_->setToolTip(tr("Import a JSONL, JSON, CSV or TSV file of prompt/response pairs (Ctrl+I)"));
    importButton_->setShortcut(QKeySequence("Ctrl+I"));
    deleteButton_ = new QPushButton(tr("Delete"));
    deleteButton_->setObjectName("deleteDatasetButton");
    auto* left = new QWidget;
    auto* layout = new QVBoxLayout(left);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(new QLabel(tr("<b>Datasets</b>")));
    layout->addWidget(list_, 1);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(importButton_);
    buttons->addWidget(deleteButton_);
    layout->addLayout(buttons);
    connect(importButton_, &QPushButton::clicked, this, &DatasetsPage::openImportDialog);
    connect(deleteButton_, &QPushButton::clicked, this, &DatasetsPage::deleteSelected);
    connect(list_, &QListWidget::currentRowChanged, this, &DatasetsPage::showSelectedDataset);
    return left;
}

// The selected dataset's examples, paged from the project, filtered by split.
QWidget* DatasetsPage::buildExamples() {
    splitFilter_ = new QComboBox;
    splitFilter_->setObjectName("splitFilter");
    splitFilter_->addItem(tr("All splits"), -1);
    splitFilter_->addItem(tr("Train"), int(Split::Train));
    splitFilter_->addItem(tr("Validation"), int(Split::Validation));
    splitFilter_->addItem(tr("Test"), int(Split::Test));
    model_ = new DatasetTableModel(this);
    table_ = new QTableView;
    table_->setObjectName("datasetTable");
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->setDefaultSectionSize(22);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setSectionResizeMode(DatasetTableModel::Prompt, QHeaderView::Stretch);
    table_->horizontalHeader()->setSectionResizeMode(DatasetTableModel::Response, QHeaderView::Stretch);
    auto* examples = new QWidget;
    auto* layout = new QVBoxLayout(examples);
    auto* filterRow = new QHBoxLayout;
    filterRow->addWidget(new QLabel(tr("Show")));
    filterRow->addWidget(splitFilter_);
    filterRow->addStretch(1);
    layout->addLayout(filterRow);
    layout->addWidget(table_, 1);
    connect(splitFilter_, &QComboBox::currentIndexChanged, this, &DatasetsPage::showSelectedDataset);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &DatasetsPage::showMaskPreview);
    return examples;
}

// The validation report: the summary, the token-length histogram and the rejected rows.
QWidget* DatasetsPage::buildReport() {
    summary_ = new QTextBrowser;
    summary_->setObjectName("reportSummary");
    histogram_ = new QCustomPlot;
    histogram_->setObjectName("lengthHistogram");
    styleChart(histogram_, tr("tokens per example (prompt + response + EOS)"), tr("examples"));
    rejected_ = new RecordTableModel<RejectedRow>(
        {textColumn<RejectedRow>(tr("Record"), [](const RejectedRow& r) { return QString::number(r.recordNumber); }),
         textColumn<RejectedRow>(tr("Line"), [](const RejectedRow& r) { return QString::number(r.line); }),
         textColumn<RejectedRow>(tr("Reason"), [](const RejectedRow& r) { return QString::fromStdString(r.reason); }),
         textColumn<RejectedRow>(tr("Detail"), [](const RejectedRow& r) { return QString::fromStdString(r.detail); })},
        this);
    auto* rejectedView = new QTableView;
    rejectedView->setObjectName("rejectedTable");
    rejectedView->setModel(rejected_);
    rejectedView->horizontalHeader()->setStretchLastSection(true);
    rejectedView->verticalHeader()->hide();
    auto* report = new QSplitter(Qt::Vertical);
    report->addWidget(summary_);
    report->addWidget(histogram_);
    report->addWidget(rejectedView);
    report->setSizes({220, 260, 160});
    return report;
}

DatasetsPage::~DatasetsPage() = default;

const Gpt2Tokenizer& DatasetsPage::tokenizer() {
    if (!tokenizer_) tokenizer_ = std::make_unique<Gpt2Tokenizer>(Gpt2Tokenizer::bundled());
    return *tokenizer_;
}

void DatasetsPage::setProject(const QString& path) {
    projectPath_ = path;
    model_->setDataset(nullptr, 0, std::nullopt);
    store_.reset();
    if (!path.isEmpty()) store_ = std::make_unique<ProjectStore>(ProjectStore::open(path.toStdString()));
    importButton_->setEnabled(store_ != nullptr);
    reloadList();
}

void DatasetsPage::reloadList(const QString& select) {
    QSignalBlocker block(list_);
    list_->clear();
    if (!store_) return;
    int selectRow = 0;
    for (const DatasetInfo& d : DatasetStore(*store_).datasets()) {
        auto* item = new QListWidgetItem(QString("%1\n%2 train \u00b7 %3 val \u00b7 %4 test")
                                             .arg(QString::fromStdString(d.name))
                                             .arg(d.nTrain)
                                             .arg(d.nValidation)
                                             .arg(d.nTest));
        item->setData(Qt::UserRole, qlonglong(d.id));
        item->setToolTip(QString::fromStdString(d.sourcePath));
        if (QString::fromStdString(d.name) == select) selectRow = list_->count();
        list_->addItem(item);
    }
    deleteButton_->setEnabled(list_->count() > 0);
    if (list_->count() > 0) list_->setCurrentRow(selectRow);
    block.unblock();
    showSelectedDataset();
}

void DatasetsPage::showSelectedDataset() {
    QListWidgetItem* item = list_->currentItem();
    if (!store_ || !item) {
        model_->setDataset(nullptr, 0, std::nullopt);
        summary_->clear();
        return;
    }
    const int64_t id = item->data(Qt::UserRole).toLongLong();
    const int filter = splitFilter_->currentData().toInt();
    std::optional<Split> split;
    if (filter >= 0) split = Split(filter);
    model_->setDataset(store_.get(), id, split);
    if (std::optional<DatasetInfo> ds = DatasetStore(*store_).findDataset(id)) showReport(*ds);
}

void DatasetsPage::showReport(const DatasetInfo& ds) {
    nlohmann::json r = DatasetStore(*store_).validationReport(ds.id);
    QString html = QString("<h3>%1</h3><p>%2</p>").arg(QString::fromStdString(ds.name).toHtmlEscaped(),
                                                       QString::fromStdString(ds.sourcePath).toHtmlEscaped());
    html += QString("<table cellpadding=3><tr><td>rows read</td><td align=right><b>%1</b></td></tr>"
                    "<tr><td>imported</td><td align=right><b>%2</b></td></tr>"
                    "<tr><td>rejected</td><td align=right><b>%3</b></td></tr>"
                    "<tr><td>truncated</td><td align=right>%4</td></tr>"
                    "<tr><td>train / validation / test</td><td align=right>%5 / %6 / %7</td></tr>"
                    "<tr><td>tokens</td><td align=right>%8</td></tr></table>")
                .arg(ds.rowsRead).arg(ds.rowsImported).arg(ds.rowsRejected).arg(ds.nTruncated)
                .arg(ds.nTrain).arg(ds.nValidation).arg(ds.nTest).arg(ds.nTokens);
    if (r.is_object()) {
        auto stats = [&](const char* key) {
            const nlohmann::json& s = r["tokens"][key];
            if (!s.is_object()) return QString();
            return QString("<tr><td>%1</td><td align=right>%2</td><td align=right>%3</td><td align=right>%4</td><td align=right>%5</td></tr>")
                .arg(key)
                .arg(s.value("min", 0)).arg(s.value("median", 0.0)).arg(s.value("p95", 0.0)).arg(s.value("max", 0));
        };
        html += "<p><b>Token lengths</b></p><table cellpadding=3><tr><th></th><th>min</th><th>median</th><th>p95</th><th>max</th></tr>" +
                stats("prompt") + stats("response") + stats("total") + "</table>";
        if (r.contains("duplicates"))
            html += QString("<p>Exact duplicates: %1 (%2)</p>")
                        .arg(r["duplicates"].value("count", 0))
                        .arg(r["duplicates"].value("dropped", true) ? "dropped" : "kept");
        if (r.contains("leakage") && r["leakage"].is_object())
            html += QString("<p>Train/test leakage (same prompt in both): %1</p>").arg(r["leakage"].value("train_test", 0));
        if (r.contains("mapping")) html += "<p>" + QString::fromStdString(r["mapping"].value("explanation", "")).toHtmlEscaped() + "</p>";
    }
    summary_->setHtml(html);

    histogram_->clearPlottables();
    if (r.is_object() && r["tokens"]["total"].contains("histogram")) {
        const nlohmann::json& h = r["tokens"]["total"]["histogram"];
        const double width = h.value("bin_width", 1.0);
        const double start = r["tokens"]["total"].value("min", 0.0);
        auto* bars = new QCPBars(histogram_->xAxis, histogram_->yAxis);
        bars->setWidth(width * 0.9);
        bars->setPen(Qt::NoPen);
        bars->setBrush(seriesColor(0));
        QVector<double> x, y;
        int i = 0;
        for (const auto& c : h["counts"]) {
            x << start + width * (i++ + 0.5);
            y << c.get<double>();
        }
        bars->setData(x, y);
        histogram_->rescaleAxes();
        histogram_->yAxis->setRangeLower(0);
    }
    histogram_->replot();

    rejected_->setRecords(DatasetStore(*store_).rejectedRows(ds.id, 1000));
}

void DatasetsPage::showMaskPreview() {
    const QModelIndex current = table_->currentIndex();
    if (!store_ || !current.isValid()) return;
    std::optional<StoredExample> e = DatasetStore(*store_).example(model_->exampleIdAt(current.row()));
    if (!e) return;
    mask_->setHtml(QString("<p>Record %1 \u00b7 %2 tokens, %3 masked</p>").arg(e->recordNumber).arg(e->ids.size()).arg(e->promptLen) +
                   maskPreviewHtml(tokenizer(), e->ids, e->promptLen));
}

void DatasetsPage::openImportDialog() {
    if (!store_) return;
    QStringList names;
    for (const DatasetInfo& d : DatasetStore(*store_).datasets()) names << QString::fromStdString(d.name);
    ImportDialog dialog(&tokenizer(), names, this);
    if (dialog.exec() != QDialog::Accepted) return;
    try {
        startImport(dialog.options());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Import"), QString::fromUtf8(e.what()));
    }
}

bool DatasetsPage::startImport(const ImportOptions& optionsIn) {
    if (!store_ || jobs_->running()) return false;
    const std::string projectPath = projectPath_.toStdString();
    const QString name = QString::fromStdString(optionsIn.name);
    tokenizer();   // loaded here, shared read-only with the worker (encode is thread-safe)
    const Gpt2Tokenizer* tok = tokenizer_.get();
    auto conn = std::make_shared<QMetaObject::Connection>();
    *conn = connect(jobs_, &JobRunner::finished, this, [this, name, conn](bool ok, const QString& message) {
        disconnect(*conn);
        if (ok) reloadList(name);
        emit datasetsChanged();
        emit status(message);
        if (!ok) QMessageBox::warning(this, tr("Import"), message);
    });
    return jobs_->start(tr("Importing %1").arg(name), [projectPath, optionsIn, tok](JobRunner& job) {
        ImportOptions o = optionsIn;
        o.cancel = job.cancelFlag();
        o.progress = [&job](const ImportProgress& p) {
            double f = p.bytesTotal ? double(p.bytesRead) / double(p.bytesTotal) : 0.0;
            job.report(f, QString("%1 rows read, %2 imported, %3 rejected").arg(p.recordsRead).arg(p.imported).arg(p.rejected));
        };
        ProjectStore store = ProjectStore::open(projectPath);   // this thread's own connection
        ImportResult r = importDataset(store, *tok, o);
        return QString("Imported %1 rows into '%2' (%3 rejected)")
            .arg(r.counts.rowsImported)
            .arg(QString::fromStdString(o.name))
            .arg(r.counts.rowsRejected);
    });
}

void DatasetsPage::deleteSelected() {
    QListWidgetItem* item = list_->currentItem();
    if (!store_ || !item) return;
    if (QMessageBox::question(this, tr("Delete dataset"),
                              tr("Delete this dataset and its examples from the project? Training runs keep their files.")) !=
        QMessageBox::Yes)
        return;
    try {
        DatasetStore(*store_).deleteDataset(item->data(Qt::UserRole).toLongLong());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Delete dataset"), QString::fromUtf8(e.what()));
    }
    reloadList();
    emit datasetsChanged();
}

} // namespace swarm::ui
