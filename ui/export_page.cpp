#include "ui/export_page.h"

#include "ui/app_settings.h"
#include "ui/job_runner.h"

#include "core/format.h"
#include "core/project_store.h"
#include "export/export.h"
#include "training/run_store.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace swarm::ui {

ExportPage::ExportPage(JobRunner* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
    setObjectName("exportPage");
    runs_ = new QComboBox;
    runs_->setObjectName("exportRuns");
    runs_->setToolTip(tr("A finished training run of this project; or type any model folder below."));
    source_ = new QLineEdit;
    source_->setObjectName("exportSource");
    source_->setPlaceholderText(tr("model folder, run folder, RUN/checkpoints/step-N, or Hub repo org/name[@rev]"));
    auto* browse = new QPushButton(tr("\u2026"));
    auto* sourceRow = new QHBoxLayout;
    sourceRow->addWidget(source_, 1);
    sourceRow->addWidget(browse);
    format_ = new QComboBox;
    format_->setObjectName("exportFormat");
    format_->addItem(tr("GGUF for llama.cpp"), "gguf");
    format_->addItem(tr("Hugging Face folder (safetensors)"), "hf");
    dtype_ = new QComboBox;
    dtype_->setObjectName("exportDType");
    out_ = new QLineEdit;
    out_->setObjectName("exportOut");
    auto* browseOut = new QPushButton(tr("\u2026"));
    auto* outRow = new QHBoxLayout;
    outRow->addWidget(out_, 1);
    outRow->addWidget(browseOut);
    note_ = new QLabel;
    note_->setWordWrap(true);
    exportButton_ = new QPushButton(tr("Export and re-check"));
    exportButton_->setObjectName("exportButton");
    result_ = new QTextBrowser;
    result_->setObjectName("exportResult");

    auto* form = new QFormLayout;
    form->addRow(tr("Training run"), runs_);
    form->addRow(tr("Model"), sourceRow);
    form->addRow(tr("Format"), format_);
    form->addRow(tr("Weights"), dtype_);
    form->addRow(tr("Write to"), outRow);
    auto* layout = new QVBoxLayout(this);
    auto* top = new QWidget;
    top->setMaximumWidth(760);
    auto* topLayout = new QVBoxLayout(top);
    topLayout->addLayout(form);
    topLayout->addWidget(note_);
    topLayout->addWidget(exportButton_, 0, Qt::AlignLeft);
    layout->addWidget(top);
    layout->addWidget(result_, 1);

    connect(runs_, &QComboBox::currentIndexChanged, this, [this] {
        if (runs_->currentData().toString().size()) source_->setText(runs_->currentData().toString());
    });
    connect(browse, &QPushButton::clicked, this, [this] {
        QString d = QFileDialog::getExistingDirectory(this, tr("Model folder"), source_->text());
        if (!d.isEmpty()) source_->setText(d);
    });
    connect(browseOut, &QPushButton::clicked, this, [this] {
        QString p = format_->currentData() == "gguf"
                        ? QFileDialog::getSaveFileName(this, tr("GGUF file"), out_->text(), tr("GGUF (*.gguf)"))
                        : QFileDialog::getExistingDirectory(this, tr("Export folder"), out_->text());
        if (!p.isEmpty()) out_->setText(p);
    });
    connect(format_, &QComboBox::currentIndexChanged, this, &ExportPage::formatChanged);
    connect(exportButton_, &QPushButton::clicked, this, &ExportPage::startExport);
    formatChanged();
}

void ExportPage::formatChanged() {
    const bool gguf = format_->currentData() == "gguf";
    dtype_->clear();
    if (gguf) {
        dtype_->addItem(tr("Q8_0 (8-bit blocks: quarter the size, close to the source)"), "q8_0");
        dtype_->addItem(tr("Q4_0 (4-bit: smallest, measurably less exact)"), "q4_0");
        dtype_->addItem("F16", "f16");
        dtype_->addItem("BF16", "bf16");
        dtype_->addItem(tr("F32 (exact)"), "f32");
        note_->setText(QString::fromUtf8(exporter::kLlamaCppRequirement));
    } else {
        dtype_->addItem(tr("F32 (exact)"), "f32");
        dtype_->addItem("BF16", "bf16");
        dtype_->addItem("F16", "f16");
        note_->setText(tr("config.json, model.safetensors, tokenizer.json, generation_config.json and a model card."));
    }
}

void ExportPage::setProject(const QString& path) {
    projectPath_ = path;
    reloadRuns();
}

void ExportPage::reloadRuns() {
    QSignalBlocker block(runs_);
    runs_->clear();
    runs_->addItem(tr("(a model folder)"), QString());
    if (projectPath_.isEmpty()) return;
    try {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        for (const RunRecord& r : RunStore(store).runs())
            if (!r.finalModel.empty())
                runs_->addItem(QString("%1 (%2 steps, loss %3)").arg(QString::fromStdString(r.name)).arg(r.stepsDone).arg(r.trainLoss, 0, 'f', 3),
                               QString::fromStdString(r.finalModel));
    } catch (const std::exception& e) {
        emit status(QString::fromUtf8(e.what()));
    }
}

void ExportPage::setSource(const QString& path) { source_->setText(path); }
void ExportPage::setOutput(const QString& path) { out_->setText(path); }
QString ExportPage::resultText() const { return result_->toPlainText(); }

bool ExportPage::startExport() {
    if (jobs_->running() || source_->text().isEmpty()) return false;
    exporter::ExportOptions o;
    o.source = source_->text().toStdString();
    exporter::parseFormat(format_->currentData().toString().toStdString(), o.format);
    exporter::parseExportDType(dtype_->currentData().toString().toStdString(), o.dtype);
    QString out = out_->text();
    if (out.isEmpty()) {
        const QString base = QFileInfo(QString::fromStdString(o.source)).fileName() == "final"
                                 ? QFileInfo(QFileInfo(QString::fromStdString(o.source)).absolutePath()).fileName()
                                 : QFileInfo(QString::fromStdString(o.source)).fileName();
        out = QDir(AppSettings::load().exportFolder).filePath(base + "-" + dtype_->currentData().toString() +
                                                              (o.format == exporter::Format::Gguf ? ".gguf" : ""));
        out_->setText(out);
    }
    QDir().mkpath(o.format == exporter::Format::Gguf ? QFileInfo(out).absolutePath() : QFileInfo(out).absolutePath());
    o.out = out.toStdString();
    o.project = projectPath_.toStdString();
    o.threads = AppSettings::load().threads;
    result_->setPlainText(tr("Exporting\u2026"));
    auto conn = std::make_shared<QMetaObject::Connection>();
    *conn = connect(jobs_, &JobRunner::finished, this, [this, conn](bool ok, const QString& message) {
        disconnect(*conn);
        result_->setPlainText(ok ? message : tr("Export failed: %1").arg(message));
        emit status(ok ? tr("Exported %1").arg(out_->text()) : message);
        if (ok) emit exported(out_->text());
    });
    return jobs_->start(tr("Exporting to %1").arg(out), [o](JobRunner& job) {
        exporter::ExportOptions opts = o;
        opts.cancel = job.cancelFlag();
        opts.progress = [&job](const exporter::ExportProgress& p) { job.report(p.fraction, QString::fromStdString(p.stage)); };
        exporter::ExportResult r = exporter::exportModel(opts);
        QString text = QString("Wrote %1\n%2 bytes (%3) in %4 s\n")
                           .arg(QString::fromStdString(r.path), QString::fromStdString(withThousands(int64_t(r.bytes))),
                                QString::fromStdString(formatBytes(r.bytes)))
                           .arg(r.exportSeconds, 0, 'f', 1);
        if (r.rechecked)
            text += QString("Re-check against the source (%1 prompts, %2 positions): max |logit diff| %3, mean %4, "
                            "top-1 agreement %5%\n")
                        .arg(r.recheck.prompts).arg(r.recheck.positions).arg(r.recheck.maxAbsDiff, 0, 'g', 3)
                        .arg(r.recheck.meanAbsDiff, 0, 'g', 3).arg(100.0 * r.recheck.top1Agreement, 0, 'f', 1);
        if (!r.llamaCpp.empty()) text += QString::fromStdString(r.llamaCpp) + "\n";
        return text;
    });
}

} // namespace swarm::ui
