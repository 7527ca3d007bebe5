// The Swarm page's routed playground: a request goes through the editor's swarm on the page's
// job thread; the route (every label's probability) arrives before the answer streams in.
#include "ui/swarm_page.h"

#include "ui/app_settings.h"
#include "ui/job_runner.h"
#include "ui/record_table_model.h"

#include <QApplication>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStyledItemDelegate>
#include <QTableView>
#include <QTextCursor>
#include <QVBoxLayout>

#include <cmath>

namespace swarm::ui {

// One label of a route: a row of the probabilities table.
struct RouteProbability {
    QString label;
    double probability = 0;
    bool chosen = false;                    // the label the router chose
};

// What a request streams to the page, besides the route and the answer's pieces (a QByteArray
// each): the swarm it loaded (or reused) for the definition, and how the request ended. Outside
// the anonymous namespace: chunkAs tells types apart by name.
struct LoadedSwarm {
    std::shared_ptr<Swarm> swarm;
    std::string definitionKey;
};
struct RequestOutcome {
    DispatchResult result;
    bool stopped = false;
};

namespace {

QString percent(double p) { return QString("%1%").arg(p * 100, 0, 'f', 1); }

// Both columns give the probability under Qt::UserRole; the second draws it as a bar.
RecordTableModel<RouteProbability>::Column probabilityColumn(const QString& header, bool labelColumn) {
    return {header, [labelColumn](const RouteProbability& r, int role) -> QVariant {
                if (role == Qt::UserRole) return r.probability;
                if (role == Qt::DisplayRole) return labelColumn ? r.label : percent(r.probability);
                if (role == Qt::FontRole && labelColumn && r.chosen) {
                    QFont bold;
                    bold.setBold(true);
                    return bold;
                }
                return {};
            }};
}

class ProbabilityBarDelegate : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override {
        QStyleOptionProgressBar bar;
        bar.rect = option.rect.adjusted(2, 2, -2, -2);
        bar.palette = option.palette;
        bar.fontMetrics = option.fontMetrics;
        bar.direction = option.direction;
        bar.state = QStyle::State_Enabled | QStyle::State_Horizontal;
        bar.minimum = 0;
        bar.maximum = 1000;
        bar.progress = int(std::lround(index.data(Qt::UserRole).toDouble() * 1000));
        bar.text = index.data(Qt::DisplayRole).toString();
        bar.textVisible = true;
        QStyle* style = option.widget ? option.widget->style() : QApplication::style();
        style->drawControl(QStyle::CE_ProgressBar, &bar, painter, option.widget);
    }
};

} // namespace

QWidget* SwarmPage::buildPlayground() {
    request_ = new QPlainTextEdit;
    request_->setObjectName("swarmRequest");
    request_->setPlaceholderText(tr("A request for the swarm: the router picks the specialist that answers it"));
    request_->setMaximumHeight(110);
    maxTokens_ = new QSpinBox;
    maxTokens_->setObjectName("swarmMaxTokens");
    maxTokens_->setRange(1, 2048);
    maxTokens_->setValue(128);
    maxTokens_->setToolTip(tr("Capped by the answering specialist's own max tokens"));
    sendButton_ = new QPushButton(tr("Send"));
    sendButton_->setObjectName("swarmSend");
    sendButton_->setShortcut(QKeySequence("Ctrl+Return"));
    stopButton_ = new QPushButton(tr("Stop"));
    stopButton_->setObjectName("swarmStop");
    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Max new tokens")));
    controls->addWidget(maxTokens_);
    controls->addStretch(1);
    controls->addWidget(sendButton_);
    controls->addWidget(stopButton_);

    runStatus_ = new QLabel;
    runStatus_->setObjectName("swarmRunStatus");
    runStatus_->setWordWrap(true);
    runStatus_->setTextFormat(Qt::PlainText);
    runStatus_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    route_ = new QLabel;
    route_->setObjectName("swarmRoute");
    specialist_ = new QLabel;
    specialist_->setObjectName("swarmSpecialist");
    timings_ = new QLabel;
    timings_->setObjectName("swarmTimings");
    answer_ = new QPlainTextEdit;
    answer_->setObjectName("swarmAnswer");
    answer_->setReadOnly(true);

    auto* box = new QGroupBox(tr("Routed playground"));
    auto* layout = new QVBoxLayout(box);
    layout->addWidget(request_);
    layout->addLayout(controls);
    layout->addWidget(runStatus_);
    layout->addWidget(route_);
    layout->addWidget(buildProbabilitiesTable());
    layout->addWidget(specialist_);
    layout->addWidget(timings_);
    layout->addWidget(answer_, 1);

    connect(sendButton_, &QPushButton::clicked, this, &SwarmPage::send);
    connect(stopButton_, &QPushButton::clicked, this, &SwarmPage::stop);
    return box;
}

QWidget* SwarmPage::buildProbabilitiesTable() {
    probabilities_ = new RecordTableModel<RouteProbability>({probabilityColumn(tr("Label"), true), probabilityColumn(tr("Probability"), false)},
                                                            this);
    auto* view = new QTableView;
    view->setObjectName("swarmProbabilities");
    view->setModel(probabilities_);
    view->setItemDelegateForColumn(1, new ProbabilityBarDelegate(view));
    view->verticalHeader()->hide();
    view->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    view->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
    view->setSelectionMode(QAbstractItemView::NoSelection);
    view->setMaximumHeight(160);
    return view;
}

void SwarmPage::setRunning(bool running) {
    sendButton_->setEnabled(!running);
    stopButton_->setEnabled(running);
}

bool SwarmPage::busy() const { return job_->running(); }

bool SwarmPage::send() {
    if (job_->running()) return false;
    const QString input = request_->toPlainText();
    if (input.trimmed().isEmpty()) {
        runStatus_->setText(tr("Type a request first."));
        return false;
    }
    SwarmDefinition def;
    try {
        def = definition();
    } catch (const std::exception& e) {
        showEditorMessage(QString::fromUtf8(e.what()), true);
        runStatus_->setText(tr("Fix the swarm first: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
    if (def.threads == 0) def.threads = AppSettings::load().threads;
    const std::string key = def.toJson().dump();
    if (key != loadedKey_) {
        swarm_.reset();   // edited: free the old swarm before loading the new one
        loadedKey_.clear();
    }
    const std::shared_ptr<Swarm> cached = swarm_;

    answerBytes_.clear();
    streamedPieces_ = 0;
    lastResult_ = {};
    requestResult_ = {};
    requestStopped_ = false;
    answer_->clear();
    route_->clear();
    probabilities_->setRecords({});
    specialist_->clear();
    timings_->clear();
    runStatus_->setText(cached ? tr("Routing\u2026") : tr("Loading the router %1\u2026").arg(QString::fromStdString(def.router.model)));
    setRunning(true);
    return job_->start(tr("Swarm request"), [def, key, cached, input = input.toStdString(), maxTokens = maxTokens_->value()](JobRunner& job) {
        const std::shared_ptr<Swarm> swarm = cached ? cached : std::make_shared<Swarm>(def);
        job.emitChunk(QVariant::fromValue(LoadedSwarm{swarm, key}));
        RequestOutcome outcome;
        if (!job.cancelled()) {
            DispatchRequest dispatch;
            dispatch.input = input;
            dispatch.maxTokens = maxTokens;
            dispatch.onRouted = [&job](const RouteResult& route) { job.emitChunk(QVariant::fromValue(route)); };
            // Runs on the swarm's decoding thread: it copies the piece and posts it, and reads only
            // the job's cancel flag (the job outlives the dispatch).
            dispatch.onToken = [&job](const engine::TokenEvent& e) {
                job.emitChunk(QByteArray(e.text.data(), qsizetype(e.text.size())));
                return !job.cancelled();
            };
            outcome.result = swarm->dispatch(dispatch);
        }
        outcome.stopped = job.cancelled();
        job.emitChunk(QVariant::fromValue(outcome));
        return QString();
    });
}

void SwarmPage::setRequestText(const QString& text) { request_->setPlainText(text); }

void SwarmPage::stop() { job_->cancel(); }

void SwarmPage::received(const QVariant& item) {
    if (const auto* loaded = chunkAs<LoadedSwarm>(item)) {
        // Kept even when the request then fails or is stopped: the next one reuses it.
        swarm_ = loaded->swarm;
        loadedKey_ = loaded->definitionKey;
    } else if (const auto* route = chunkAs<RouteResult>(item)) {
        showRoute(*route);
    } else if (const auto* piece = chunkAs<QByteArray>(item)) {
        appendAnswer(*piece);
    } else if (const auto* outcome = chunkAs<RequestOutcome>(item)) {
        requestResult_ = outcome->result;
        requestStopped_ = outcome->stopped;
    }
}

void SwarmPage::showRoute(const RouteResult& route) {
    route_->setText(tr("Routed to <b>%1</b> with %2 confidence \u00b7 router %3 ms")
                        .arg(QString::fromStdString(route.label).toHtmlEscaped(), percent(route.confidence),
                             QString::number(route.ms, 'f', 0)));
    std::vector<RouteProbability> rows;
    for (const auto& [label, p] : route.probabilities) rows.push_back({QString::fromStdString(label), p, label == route.label});
    probabilities_->setRecords(std::move(rows));
    runStatus_->setText(tr("Generating\u2026"));
    emit routed(QString::fromStdString(route.label), route.confidence);
}

void SwarmPage::appendAnswer(const QByteArray& piece) {
    answerBytes_ += piece;
    ++streamedPieces_;
    answer_->setPlainText(answer());
    answer_->moveCursor(QTextCursor::End);
    runStatus_->setText(tr("Generating\u2026 %1 tokens").arg(streamedPieces_));
}

void SwarmPage::finishRequest(bool ok, const QString& error) {
    setRunning(false);
    QString summary;
    if (!ok) {
        summary = tr("Failed: %1").arg(error);
    } else if (!requestResult_.routed) {
        summary = tr("Stopped before the answer");
    } else {
        const DispatchResult& r = requestResult_;
        lastResult_ = r;
        const QString answering = QString::fromStdString(r.specialist).toHtmlEscaped();
        specialist_->setText(r.specialist == r.route.label
                                 ? tr("Answered by <b>%1</b>").arg(answering)
                                 : tr("Answered by <b>%1</b> (the route's label has no specialist or is below the minimum confidence)").arg(answering));
        timings_->setText(tr("router %1 ms \u00b7 specialist %2 ms \u00b7 %3 prompt tokens, %4 generated (%5)")
                              .arg(r.routerMs, 0, 'f', 0)
                              .arg(r.specialistMs, 0, 'f', 0)
                              .arg(r.promptTokens)
                              .arg(r.completionTokens)
                              .arg(engine::finishReasonName(r.finish)));
        summary = tr("%1 answered: %2 tokens in %3 ms")
                      .arg(QString::fromStdString(r.specialist), QString::number(r.completionTokens),
                           QString::number(r.routerMs + r.specialistMs, 'f', 0));
        if (requestStopped_) summary += tr(" (stopped)");
    }
    runStatus_->setText(summary);
    emit status(summary);
    emit requestFinished(ok, summary);
}

} // namespace swarm::ui
