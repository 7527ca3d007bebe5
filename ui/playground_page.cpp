#include "ui/playground_page.h"

#include "ui/app_settings.h"
#include "ui/hub_models.h"
#include "ui/job_runner.h"
#include "ui/theme.h"

#include "engine/engine.h"
#include "datasets/prompt_template.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace swarm::ui {

// What the generation streams to its pane: the model it loaded (kept for the next request with
// the same path), then each token with the top-1 expert every layer chose for it. Outside an
// anonymous namespace: chunkAs tells types apart by name.
struct LoadedModel {
    std::shared_ptr<engine::Model> model;
    QString path;
};
struct GeneratedToken {
    QString piece;
    std::vector<int> experts;
    int nLayer = 0;
};

PlaygroundPane::PlaygroundPane(const QString& name, QWidget* parent) : QWidget(parent), job_(new JobRunner(this)) {
    setObjectName(name);
    path_ = new QLineEdit;
    path_->setObjectName(name + "Model");
    path_->setPlaceholderText(tr("model folder, run folder's final/, .gguf file, or Hub repo org/name[@rev]"));
    auto* browse = new QPushButton(tr("Folder\u2026"));
    auto* browseFile = new QPushButton(tr("GGUF\u2026"));
    auto* row = new QHBoxLayout;
    row->addWidget(path_, 1);
    row->addWidget(browse);
    row->addWidget(browseFile);
    output_ = new QTextBrowser;
    output_->setObjectName(name + "Output");
    heatPlot_ = new QCustomPlot;
    heatPlot_->setObjectName(name + "Experts");
    styleChart(heatPlot_, tr("generated token"), tr("layer"));
    heatPlot_->setInteractions({});
    heatPlot_->setMinimumHeight(130);
    heatPlot_->setMaximumHeight(170);
    heatmap_ = new QCPColorMap(heatPlot_->xAxis, heatPlot_->yAxis);
    auto* scale = new QCPColorScale(heatPlot_);
    heatPlot_->plotLayout()->addElement(0, 1, scale);
    scale->axis()->setLabel(tr("top expert"));
    heatmap_->setColorScale(scale);
    heatmap_->setGradient(QCPColorGradient::gpHues);
    heatmap_->setInterpolate(false);
    status_ = new QLabel;
    status_->setObjectName(name + "Status");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(row);
    layout->addWidget(output_, 1);
    layout->addWidget(heatPlot_);
    layout->addWidget(status_);
    connect(browse, &QPushButton::clicked, this, [this] {
        QString dir = QFileDialog::getExistingDirectory(this, tr("Model folder"), AppSettings::load().modelsFolder);
        if (!dir.isEmpty()) path_->setText(dir);
    });
    connect(browseFile, &QPushButton::clicked, this, [this] {
        QString f = QFileDialog::getOpenFileName(this, tr("GGUF file"), AppSettings::load().exportFolder, tr("GGUF (*.gguf)"));
        if (!f.isEmpty()) path_->setText(f);
    });
    connect(job_, &JobRunner::chunk, this, &PlaygroundPane::received);
    connect(job_, &JobRunner::finished, this, &PlaygroundPane::done);
}

PlaygroundPane::~PlaygroundPane() {
    // Stopped and joined while the pane is still whole.
    job_->cancel();
    job_->wait();
}

QString PlaygroundPane::modelPath() const { return path_->text().trimmed(); }
void PlaygroundPane::setModelPath(const QString& path) { path_->setText(path); }
bool PlaygroundPane::busy() const { return job_->running(); }
void PlaygroundPane::stop() { job_->cancel(); }

void PlaygroundPane::generate(const Request& r) {
    if (job_->running() || modelPath().isEmpty()) return;
    output_->clear();
    text_.clear();
    tokens_ = 0;
    columns_.clear();
    heatmap_->data()->clear();
    heatPlot_->replot();
    const QString path = modelPath();
    std::shared_ptr<engine::Model> cached = loadedPath_ == path ? model_ : nullptr;
    status_->setText(cached ? tr("Generating\u2026") : tr("Loading %1\u2026").arg(path));
    job_->start(tr("Generating with %1").arg(path), [r, path, cached](JobRunner& job) {
        std::shared_ptr<engine::Model> model = cached;
        if (!model) {
            engine::LoadOptions lo;
            lo.threads = r.threads;
            // A repo id (org/name[@rev]) loads the cache's snapshot, downloaded here when missing.
            model = std::make_shared<engine::Model>(engine::Model::load(resolvePickedModel(path.toStdString()), lo));
            job.emitChunk(QVariant::fromValue(LoadedModel{model, path}));
        }
        engine::Session session(*model);
        const std::string prompt = r.raw ? r.prompt.toStdString() : ChatFormat().promptText(r.prompt.toStdString());
        engine::SamplingOptions so;
        so.temperature = r.temperature;
        so.topK = r.topK;
        so.topP = r.topP;
        so.repetitionPenalty = r.repetitionPenalty;
        so.seed = r.seed;
        so.maxTokens = r.maxTokens;
        so.truncatePrompt = true;
        engine::GenerateResult g = engine::generate(session, model->tokenizer().encode(prompt), so, [&job](const engine::TokenEvent& e) {
            GeneratedToken token;
            token.piece = QString::fromUtf8(e.text.data(), int(e.text.size()));
            for (int l = 0; l < e.nLayer && e.experts; ++l) token.experts.push_back(e.experts[l * e.topK]);
            token.nLayer = e.nLayer;
            job.emitChunk(QVariant::fromValue(token));
            return !job.cancelled();
        });
        const double tps = g.decodeSeconds > 0 ? double(g.tokens.size()) / g.decodeSeconds : 0;
        return tr("%1 prompt tokens, %2 generated (%3) \u00b7 prefill %4 ms \u00b7 %5 tokens/s")
            .arg(g.promptTokens).arg(g.tokens.size()).arg(engine::finishReasonName(g.finish))
            .arg(g.prefillSeconds * 1000, 0, 'f', 0).arg(tps, 0, 'f', 1);
    });
}

void PlaygroundPane::received(const QVariant& item) {
    if (const auto* loaded = chunkAs<LoadedModel>(item)) {
        model_ = loaded->model;
        loadedPath_ = loaded->path;
    } else if (const auto* token = chunkAs<GeneratedToken>(item)) {
        appendToken(token->piece, token->experts, token->nLayer);
    }
}

void PlaygroundPane::appendToken(const QString& piece, const std::vector<int>& experts, int nLayer) {
    ++tokens_;
    text_ += piece;
    output_->setPlainText(text_);
    columns_.push_back(experts);
    const int n = int(columns_.size());
    heatmap_->data()->setSize(n, std::max(1, nLayer));
    heatmap_->data()->setRange(QCPRange(0, std::max(1, n - 1)), QCPRange(0, std::max(1, nLayer - 1)));
    for (int t = 0; t < n; ++t)
        for (int l = 0; l < int(columns_[size_t(t)].size()); ++l) heatmap_->data()->setCell(t, l, columns_[size_t(t)][size_t(l)]);
    heatmap_->setDataRange(QCPRange(0, 8));
    heatPlot_->xAxis->setRange(-0.5, n - 0.5);
    heatPlot_->yAxis->setRange(-0.5, nLayer - 0.5);
    heatPlot_->replot(QCustomPlot::rpQueuedReplot);
}

void PlaygroundPane::done(bool ok, const QString& summary) {
    status_->setText(ok ? summary : tr("Failed: %1").arg(summary));
    emit finished(summary);
}

PlaygroundPage::PlaygroundPage(QWidget* parent) : QWidget(parent) {
    setObjectName("playgroundPage");
    a_ = new PlaygroundPane("playgroundA");
    b_ = new PlaygroundPane("playgroundB");
    b_->setVisible(false);
    compare_ = new QCheckBox(tr("Compare two models"));
    compare_->setObjectName("playgroundCompare");
    prompt_ = new QPlainTextEdit;
    prompt_->setObjectName("playgroundPrompt");
    prompt_->setPlaceholderText(tr("Your request, e.g. a question with its CREATE TABLE context"));
    prompt_->setMaximumHeight(110);
    raw_ = new QCheckBox(tr("Raw prompt (no \"User: \u2026\\nAssistant:\" wrapping)"));
    temperature_ = new QDoubleSpinBox;
    temperature_->setRange(0, 5);
    temperature_->setSingleStep(0.1);
    temperature_->setToolTip(tr("0: greedy, the most likely token every time"));
    topK_ = new QSpinBox;
    topK_->setRange(0, 50257);
    topK_->setSpecialValueText(tr("off"));
    topP_ = new QDoubleSpinBox;
    topP_->setRange(0.01, 1);
    topP_->setSingleStep(0.05);
    topP_->setValue(1);
    repetition_ = new QDoubleSpinBox;
    repetition_->setRange(1, 3);
    repetition_->setSingleStep(0.05);
    repetition_->setValue(1);
    maxTokens_ = new QSpinBox;
    maxTokens_->setObjectName("playgroundMaxTokens");
    maxTokens_->setRange(1, 2048);
    maxTokens_->setValue(128);
    seed_ = new QSpinBox;
    seed_->setRange(0, 1 << 30);
    generateButton_ = new QPushButton(tr("Generate"));
    generateButton_->setObjectName("playgroundGenerate");
    generateButton_->setShortcut(QKeySequence("Ctrl+Return"));
    stopButton_ = new QPushButton(tr("Stop"));
    auto* sampling = new QGroupBox(tr("Sampling"));
    auto* form = new QFormLayout(sampling);
    form->addRow(tr("Temperature"), temperature_);
    form->addRow(tr("Top-k"), topK_);
    form->addRow(tr("Top-p"), topP_);
    form->addRow(tr("Repetition penalty"), repetition_);
    form->addRow(tr("Max new tokens"), maxTokens_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(compare_);
    form->addRow(raw_);
    form->addRow(generateButton_);
    form->addRow(stopButton_);

    auto* panes = new QSplitter;
    panes->addWidget(a_);
    panes->addWidget(b_);
    auto* right = new QVBoxLayout;
    right->addWidget(prompt_);
    right->addWidget(panes, 1);
    auto* layout = new QHBoxLayout(this);
    layout->addLayout(right, 1);
    sampling->setMaximumWidth(300);
    layout->addWidget(sampling);

    connect(compare_, &QCheckBox::toggled, b_, &QWidget::setVisible);
    connect(generateButton_, &QPushButton::clicked, this, &PlaygroundPage::generate);
    connect(stopButton_, &QPushButton::clicked, this, &PlaygroundPage::stopAll);
    for (PlaygroundPane* p : {a_, b_}) connect(p, &PlaygroundPane::finished, this, &PlaygroundPage::status);
}

void PlaygroundPage::generate() {
    PlaygroundPane::Request r;
    r.prompt = prompt_->toPlainText();
    r.raw = raw_->isChecked();
    r.temperature = float(temperature_->value());
    r.topK = topK_->value();
    r.topP = float(topP_->value());
    r.repetitionPenalty = float(repetition_->value());
    r.maxTokens = maxTokens_->value();
    r.seed = quint64(seed_->value());
    r.threads = AppSettings::load().threads;
    if (r.prompt.trimmed().isEmpty()) return;
    a_->generate(r);
    if (compare_->isChecked()) b_->generate(r);
}

void PlaygroundPage::stopAll() {
    a_->stop();
    b_->stop();
}

} // namespace swarm::ui
