#include "ui/distill_page.h"

#include "ui/distill_job.h"
#include "ui/job_runner.h"
#include "ui/record_table_model.h"

#include "core/format.h"
#include "core/project_store.h"
#include "datasets/dataset_store.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace swarm::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

QString oneLine(const std::string& s, int max = 160) {
    QString t = q(s).simplified();
    return t.size() > max ? t.left(max) + "\u2026" : t;
}

RecordTableModel<distill::DistillItem>::Column itemColumn(const QString& header, std::function<std::string(const distill::DistillItem&)> text) {
    return {header, [text = std::move(text)](const distill::DistillItem& it, int role) -> QVariant {
                if (role == Qt::DisplayRole) return oneLine(text(it));
                if (role == Qt::ToolTipRole) return q(text(it)).left(2000);
                return {};
            }};
}

std::vector<RecordTableModel<distill::DistillItem>::Column> rejectedColumns() {
    using Item = distill::DistillItem;
    return {itemColumn("#", [](const Item& it) { return std::to_string(it.position); }),
            itemColumn(QObject::tr("State"), [](const Item& it) { return std::string(distill::itemStateName(it.state)); }),
            itemColumn(QObject::tr("Reason"), [](const Item& it) { return it.reason; }),
            itemColumn(QObject::tr("Prompt"), [](const Item& it) { return it.prompt; }),
            itemColumn(QObject::tr("Answer"), [](const Item& it) { return it.answer; }),
            itemColumn(QObject::tr("Detail"), [](const Item& it) { return it.detail; })};
}

QString money(double v) { return QString::number(v, 'f', 4); }

QDoubleSpinBox* priceBox() {
    auto* s = new QDoubleSpinBox;
    s->setRange(0, 1e6);
    s->setDecimals(4);
    s->setSpecialValueText(QObject::tr("free"));
    return s;
}

QHBoxLayout* withBrowse(QLineEdit* edit, QPushButton* browse) {
    auto* row = new QHBoxLayout;
    row->addWidget(edit, 1);
    row->addWidget(browse);
    return row;
}

} // namespace

DistillPage::DistillPage(QWidget* parent) : QWidget(parent), job_(new JobRunner(this)) {
    setObjectName("distillPage");
    qRegisterMetaType<distill::DistillProgress>();
    qRegisterMetaType<distill::DistillItem>();
    auto* forms = new QWidget;
    auto* formsLayout = new QVBoxLayout(forms);
    formsLayout->addWidget(buildDefinitionForm());
    formsLayout->addWidget(buildRunForm());
    formsLayout->addStretch(1);
    auto* scroll = new QScrollArea;
    scroll->setWidget(forms);
    scroll->setWidgetResizable(true);
    scroll->setMinimumWidth(420);
    scroll->setMaximumWidth(560);
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(scroll);
    layout->addWidget(buildProgress(), 1);
    connectJob();
    updateButtons();
}

DistillPage::~DistillPage() {
    // The job's thread reads abort_: it must end before this object's members do.
    abort_.store(true);
    job_->cancel();
    job_->wait();
}

QWidget* DistillPage::buildDefinitionForm() {
    jobs_ = new QComboBox;
    jobs_->setObjectName("distillJobs");
    jobs_->setToolTip(tr("A stored job: its definition fills the form, Resume goes on with it."));
    promptDataset_ = new QComboBox;
    promptDataset_->setObjectName("distillPromptDataset");
    promptFile_ = new QLineEdit;
    promptFile_->setObjectName("distillPromptFile");
    promptFile_->setPlaceholderText(tr("JSONL, JSON, CSV, TSV or Parquet file of prompts"));
    auto* browsePrompts = new QPushButton(tr("\u2026"));
    sourceSplit_ = new QComboBox;
    sourceSplit_->setObjectName("distillSourceSplit");
    sourceSplit_->addItem(tr("every split (each prompt keeps its own)"), QString());
    for (const char* s : {"train", "validation", "test"}) sourceSplit_->addItem(s, QString(s));
    limit_ = new QSpinBox;
    limit_->setObjectName("distillLimit");
    limit_->setRange(0, 1000000000);
    limit_->setSpecialValueText(tr("all records"));
    limit_->setToolTip(tr("The first N records of the source only (part of the job's definition)."));
    name_ = new QLineEdit;
    name_->setObjectName("distillName");
    name_->setPlaceholderText(tr("the dataset the job builds"));
    teacherUrl_ = new QLineEdit;
    teacherUrl_->setObjectName("distillTeacherUrl");
    teacherUrl_->setPlaceholderText("http://127.0.0.1:8080  or  https://api.openai.com/v1");
    teacherModel_ = new QLineEdit;
    teacherModel_->setObjectName("distillTeacherModel");
    system_ = new QPlainTextEdit;
    system_->setObjectName("distillSystem");
    system_->setMaximumHeight(70);
    system_->setPlaceholderText(tr("a system message before each prompt (optional)"));
    template_ = new QLineEdit;
    template_->setObjectName("distillTemplate");
    template_->setPlaceholderText(tr("{prompt}, or the detected preset's prompt template"));
    task_ = new QComboBox;
    task_->setObjectName("distillTask");
    task_->addItem(tr("auto (from the dataset preset)"), "auto");
    for (const char* t : {"text", "sql", "json", "label", "pii"}) task_->addItem(t, QString(t));
    labels_ = new QLineEdit;
    labels_->setObjectName("distillLabels");
    labels_->setPlaceholderText(tr("label task: a, b, c (default: the prompt dataset's responses)"));
    schema_ = new QLineEdit;
    schema_->setObjectName("distillSchema");
    schema_->setPlaceholderText(tr("json task: a JSON Schema file (optional)"));
    auto* browseSchema = new QPushButton(tr("\u2026"));
    maxChars_ = new QSpinBox;
    maxChars_->setRange(0, 1 << 30);
    maxChars_->setSpecialValueText(tr("no limit"));
    maxLen_ = new QSpinBox;
    maxLen_->setRange(8, 1 << 20);
    maxLen_->setValue(1024);
    keepRefusals_ = new QCheckBox(tr("keep answers that start like a refusal (\"I can't ...\")"));
    keepRefusals_->setObjectName("distillKeepRefusals");
    maxTokens_ = new QSpinBox;
    maxTokens_->setRange(1, 1000000);
    maxTokens_->setValue(1024);
    temperature_ = new QDoubleSpinBox;
    temperature_->setRange(0, 100);
    temperature_->setDecimals(2);
    stream_ = new QCheckBox(tr("ask for a stream (server-sent events)"));
    priceIn_ = priceBox();
    priceIn_->setObjectName("distillPriceIn");
    priceOut_ = priceBox();
    priceOut_->setObjectName("distillPriceOut");

    auto* box = new QGroupBox(tr("Job"));
    auto* form = new QFormLayout(box);
    form->addRow(tr("Stored jobs"), jobs_);
    form->addRow(tr("Prompts from"), promptDataset_);
    form->addRow(tr("Prompt file"), withBrowse(promptFile_, browsePrompts));
    form->addRow(tr("Dataset split"), sourceSplit_);
    form->addRow(tr("Records"), limit_);
    form->addRow(tr("Dataset name"), name_);
    form->addRow(tr("Teacher URL"), teacherUrl_);
    form->addRow(tr("Teacher model"), teacherModel_);
    form->addRow(tr("System"), system_);
    form->addRow(tr("Prompt template"), template_);
    form->addRow(tr("Task"), task_);
    form->addRow(tr("Labels"), labels_);
    form->addRow(tr("JSON schema"), withBrowse(schema_, browseSchema));
    form->addRow(tr("Max answer chars"), maxChars_);
    form->addRow(tr("Max tokens (pair)"), maxLen_);
    form->addRow(QString(), keepRefusals_);
    form->addRow(tr("Max answer tokens"), maxTokens_);
    form->addRow(tr("Temperature"), temperature_);
    form->addRow(QString(), stream_);
    form->addRow(tr("Price in / M tokens"), priceIn_);
    form->addRow(tr("Price out / M tokens"), priceOut_);

    connect(browsePrompts, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Prompts"), promptFile_->text(),
                                                       tr("Records (*.jsonl *.json *.csv *.tsv *.parquet);;All files (*)"));
        if (!f.isEmpty()) promptFile_->setText(f);
    });
    connect(browseSchema, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("JSON Schema"), schema_->text(), tr("JSON (*.json);;All files (*)"));
        if (!f.isEmpty()) schema_->setText(f);
    });
    connect(promptDataset_, &QComboBox::currentIndexChanged, this, [this] {
        const bool fromFile = promptDataset_->currentData().toString().isEmpty();
        promptFile_->setEnabled(fromFile);
        sourceSplit_->setEnabled(!fromFile);
    });
    connect(jobs_, &QComboBox::currentIndexChanged, this, [this] { showJob(jobs_->currentData().toString()); });
    return box;
}

QWidget* DistillPage::buildRunForm() {
    keyKind_ = new QComboBox;
    keyKind_->setObjectName("distillKeyKind");
    keyKind_->addItem(tr("default: SWARM_TEACHER_API_KEY or OPENAI_API_KEY if set, else none"), "default");
    keyKind_->addItem(tr("environment variable"), "env");
    keyKind_->addItem(tr("key file"), "file");
    key_ = new QLineEdit;
    key_->setObjectName("distillKeySource");
    key_->setToolTip(tr("The NAME of the environment variable or the PATH of the file that holds the key. "
                        "The key itself is never typed here, stored or shown."));
    auto* browseKey = new QPushButton(tr("\u2026"));
    concurrency_ = new QSpinBox;
    concurrency_->setObjectName("distillConcurrency");
    concurrency_->setRange(1, 256);
    concurrency_->setValue(4);
    maxRequests_ = new QSpinBox;
    maxRequests_->setObjectName("distillMaxRequests");
    maxRequests_->setRange(0, 1000000000);
    maxRequests_->setSpecialValueText(tr("no limit"));
    maxSpend_ = new QDoubleSpinBox;
    maxSpend_->setObjectName("distillMaxSpend");
    maxSpend_->setRange(0, 1e9);
    maxSpend_->setDecimals(4);
    maxSpend_->setSpecialValueText(tr("no cap"));
    timeout_ = new QDoubleSpinBox;
    timeout_->setObjectName("distillTimeout");
    timeout_->setRange(0.1, 86400);
    timeout_->setValue(120);
    timeout_->setSuffix(" s");
    retries_ = new QSpinBox;
    retries_->setObjectName("distillRetries");
    retries_->setRange(1, 100);
    retries_->setValue(6);
    retryFailed_ = new QCheckBox(tr("send the failed prompts again"));
    retryFailed_->setObjectName("distillRetryFailed");

    auto* box = new QGroupBox(tr("This run"));
    auto* form = new QFormLayout(box);
    form->addRow(tr("API key from"), keyKind_);
    form->addRow(tr("Variable / file"), withBrowse(key_, browseKey));
    form->addRow(tr("Concurrency"), concurrency_);
    form->addRow(tr("Max requests"), maxRequests_);
    form->addRow(tr("Spend cap"), maxSpend_);
    form->addRow(tr("Timeout per request"), timeout_);
    form->addRow(tr("Requests per prompt"), retries_);
    form->addRow(QString(), retryFailed_);
    auto keyKindChanged = [this, browseKey] {
        const QString kind = keyKind_->currentData().toString();
        key_->setEnabled(kind != "default");
        browseKey->setEnabled(kind == "file");
        key_->setPlaceholderText(kind == "env" ? "OPENAI_API_KEY" : kind == "file" ? tr("/path/to/key-file") : QString());
    };
    connect(keyKind_, &QComboBox::currentIndexChanged, this, keyKindChanged);
    keyKindChanged();
    connect(browseKey, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("API key file"), key_->text());
        if (!f.isEmpty()) key_->setText(f);
    });
    return box;
}

QWidget* DistillPage::buildProgress() {
    startButton_ = new QPushButton(tr("Start"));
    startButton_->setObjectName("distillStart");
    startButton_->setToolTip(tr("Creates the job (or resumes the stored job with the same definition) and sends its pending prompts."));
    cancelButton_ = new QPushButton(tr("Cancel"));
    cancelButton_->setObjectName("distillCancel");
    resumeButton_ = new QPushButton(tr("Resume"));
    resumeButton_->setObjectName("distillResume");
    resumeButton_->setToolTip(tr("Goes on with the stored job as it is defined, with this run's options."));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(startButton_);
    buttons->addWidget(cancelButton_);
    buttons->addWidget(resumeButton_);
    buttons->addStretch(1);
    progress_ = new QProgressBar;
    progress_->setObjectName("distillProgress");
    progress_->setRange(0, 1);
    progress_->setValue(0);
    counts_ = new QLabel;
    counts_->setObjectName("distillCounts");
    speed_ = new QLabel;
    speed_->setObjectName("distillSpeed");
    spend_ = new QLabel;
    spend_->setObjectName("distillSpend");
    result_ = new QLabel;
    result_->setObjectName("distillResult");
    result_->setWordWrap(true);
    result_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    log_ = new QListWidget;
    log_->setObjectName("distillLog");
    rejected_ = new RecordTableModel<distill::DistillItem>(rejectedColumns(), this);
    rejectedView_ = new QTableView;
    rejectedView_->setObjectName("distillRejected");
    rejectedView_->setModel(rejected_);
    rejectedView_->setSelectionBehavior(QAbstractItemView::SelectRows);
    rejectedView_->setSelectionMode(QAbstractItemView::SingleSelection);
    rejectedView_->horizontalHeader()->setStretchLastSection(true);
    rejectedView_->verticalHeader()->hide();
    detail_ = new QPlainTextEdit;
    detail_->setObjectName("distillItemDetail");
    detail_->setReadOnly(true);

    auto* top = new QWidget;
    auto* topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addLayout(buttons);
    topLayout->addWidget(progress_);
    topLayout->addWidget(counts_);
    topLayout->addWidget(speed_);
    topLayout->addWidget(spend_);
    topLayout->addWidget(result_);
    auto* rejectedBox = new QGroupBox(tr("Rejected and failed prompts"));
    auto* rejectedLayout = new QVBoxLayout(rejectedBox);
    rejectedLayout->addWidget(rejectedView_);
    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    split->addWidget(rejectedBox);
    split->addWidget(detail_);
    split->addWidget(log_);
    split->setStretchFactor(1, 3);

    connect(startButton_, &QPushButton::clicked, this, &DistillPage::start);
    connect(cancelButton_, &QPushButton::clicked, this, &DistillPage::cancelRun);
    connect(resumeButton_, &QPushButton::clicked, this, &DistillPage::resumeSelected);
    connect(rejectedView_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& index) {
        const distill::DistillItem* it = rejected_->recordAt(index.row());
        if (!it) return;
        detail_->setPlainText(tr("#%1 %2: %3\n%4\n\nPrompt:\n%5\n\nAnswer:\n%6")
                                  .arg(it->position).arg(distill::itemStateName(it->state), q(it->reason), q(it->detail),
                                       q(it->prompt), q(it->answer)));
    });
    return split;
}

void DistillPage::connectJob() {
    connect(job_, &JobRunner::chunk, this, &DistillPage::onChunk);
    connect(job_, &JobRunner::finished, this, &DistillPage::onFinished);
}

void DistillPage::setProject(const QString& path) {
    if (running()) return;
    projectPath_ = path;
    reloadDatasets();
    reloadJobs();
}

void DistillPage::reloadDatasets() {
    const QString current = promptDataset_->currentData().toString();
    QSignalBlocker block(promptDataset_);
    promptDataset_->clear();
    promptDataset_->addItem(tr("(a prompt file)"), QString());
    if (projectPath_.isEmpty()) return;
    try {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        for (const DatasetInfo& d : DatasetStore(store).datasets())
            promptDataset_->addItem(tr("dataset %1 (%2 examples)").arg(q(d.name)).arg(d.rowsImported), q(d.name));
    } catch (const std::exception& e) {
        emit status(QString::fromUtf8(e.what()));
    }
    promptDataset_->setCurrentIndex(std::max(0, promptDataset_->findData(current)));
    promptFile_->setEnabled(promptDataset_->currentIndex() == 0);
    sourceSplit_->setEnabled(promptDataset_->currentIndex() != 0);
}

void DistillPage::reloadJobs() {
    const QString current = jobs_->currentData().toString();
    {
        QSignalBlocker block(jobs_);
        jobs_->clear();
        jobs_->addItem(tr("(a new job)"), QString());
        if (!projectPath_.isEmpty()) {
            try {
                ProjectStore store = ProjectStore::open(projectPath_.toStdString());
                const distill::DistillStore ds(store);
                for (const distill::DistillJob& j : ds.jobs()) {
                    const distill::ItemCounts c = ds.counts(j.id);
                    jobs_->addItem(tr("%1 (%2, %3/%4 accepted)").arg(q(j.name), q(j.status)).arg(c.accepted).arg(c.total), q(j.name));
                }
            } catch (const std::exception& e) {
                emit status(QString::fromUtf8(e.what()));
            }
        }
        jobs_->setCurrentIndex(std::max(0, jobs_->findData(current)));
    }
    updateButtons();
}

// The stored job's definition into the form, its counts and its rejected and failed prompts.
void DistillPage::showJob(const QString& name) {
    updateButtons();
    if (name.isEmpty() || projectPath_.isEmpty() || running()) return;
    try {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        const distill::DistillStore ds(store);
        const std::optional<distill::DistillJob> j = ds.find(name.toStdString());
        if (!j) return;
        name_->setText(q(j->name));
        teacherUrl_->setText(q(j->teacherUrl));
        teacherModel_->setText(q(j->teacher.model));
        system_->setPlainText(q(j->teacher.system));
        template_->setText(q(j->promptTemplate));
        maxTokens_->setValue(j->teacher.maxTokens);
        temperature_->setValue(j->teacher.temperature);
        stream_->setChecked(j->teacher.stream);
        priceIn_->setValue(j->priceIn);
        priceOut_->setValue(j->priceOut);
        task_->setCurrentIndex(std::max(0, task_->findData(QString(distill::taskName(j->validation.task)))));
        const int dataset = j->sourceKind == "dataset" ? promptDataset_->findData(q(j->source)) : 0;
        promptDataset_->setCurrentIndex(std::max(0, dataset));
        limit_->setValue(j->split.is_object() ? int(j->split.value("limit", int64_t(0))) : 0);
        if (j->sourceKind == "dataset" && j->split.is_object())
            sourceSplit_->setCurrentIndex(std::max(0, sourceSplit_->findData(q(j->split.value("only", std::string())))));
        if (j->sourceKind == "file") promptFile_->setText(q(j->source));
        const distill::ApiKeySource key = distill::ApiKeySource::parse(j->keySource);
        keyKind_->setCurrentIndex(keyKind_->findData(key.empty() ? "default" : key.envVar.empty() ? "file" : "env"));
        key_->setText(q(key.envVar.empty() ? key.file : key.envVar));
        const distill::ItemCounts c = ds.counts(j->id);
        distill::DistillProgress p;
        p.counts = c;
        p.spent = c.spent;
        p.phase = j->status;
        showProgress(p);
        rows_ = rejectedAndFailed(ds, j->id);
        rejected_->setRecords(rows_);
        result_->setText(tr("job %1: %2 %3").arg(q(j->name), q(j->status), q(j->message)));
    } catch (const std::exception& e) {
        result_->setText(QString::fromUtf8(e.what()));
    }
}

// The form into a request. False (with the reason shown) for what the form itself can tell is wrong.
bool DistillPage::fillRequest(DistillRequest& r, bool resume) {
    if (projectPath_.isEmpty()) {
        result_->setText(tr("Open a project first."));
        return false;
    }
    r.projectPath = projectPath_;
    r.resume = resume;
    distill::JobSpec& s = r.spec;
    s.name = name_->text().trimmed().toStdString();
    if (resume && !jobs_->currentData().toString().isEmpty()) s.name = jobs_->currentData().toString().toStdString();
    s.teacherUrl = teacherUrl_->text().trimmed().toStdString();
    s.teacher.model = teacherModel_->text().trimmed().toStdString();
    s.teacher.system = system_->toPlainText().toStdString();
    s.teacher.maxTokens = maxTokens_->value();
    s.teacher.temperature = temperature_->value();
    s.teacher.stream = stream_->isChecked();
    const QString dataset = promptDataset_->currentData().toString();
    s.prompts = dataset.isEmpty() ? promptFile_->text().trimmed().toStdString() : "dataset:" + dataset.toStdString();
    if (!dataset.isEmpty()) s.sourceSplit = sourceSplit_->currentData().toString().toStdString();
    s.limit = limit_->value();
    s.promptTemplate = template_->text().toStdString();
    s.taskAuto = task_->currentData() == "auto";
    if (!s.taskAuto) s.validation.task = distill::parseTask(task_->currentData().toString().toStdString());
    s.validation.maxChars = size_t(maxChars_->value());
    s.validation.maxLen = maxLen_->value();
    s.validation.rejectRefusals = !keepRefusals_->isChecked();
    s.priceIn = priceIn_->value();
    s.priceOut = priceOut_->value();
    r.labels = labels_->text().toStdString();
    r.jsonSchemaPath = schema_->text().trimmed().toStdString();

    const QString kind = keyKind_->currentData().toString(), key = key_->text().trimmed();
    if (kind != "default" && key.isEmpty()) {
        result_->setText(kind == "env" ? tr("Name the environment variable that holds the API key.")
                                       : tr("Give the path of the file that holds the API key."));
        return false;
    }
    // The field takes a variable's name: anything else is most likely a pasted key, refused unseen.
    if (kind == "env" && !QRegularExpression("^[A-Za-z_][A-Za-z0-9_]*$").match(key).hasMatch()) {
        key_->clear();
        result_->setText(tr("The API key field takes the NAME of an environment variable (letters, digits, _), not the key "
                            "itself: put the key in a variable or a file. The field was cleared."));
        return false;
    }
    if (kind == "env") r.key.envVar = key.toStdString();
    if (kind == "file") r.key.file = key.toStdString();

    distill::RunOptions& o = r.options;
    o.concurrency = concurrency_->value();
    o.maxRequests = maxRequests_->value();
    o.maxSpend = maxSpend_->value();
    o.timeoutSeconds = timeout_->value();
    o.retry.maxAttempts = retries_->value();
    o.retryFailed = retryFailed_->isChecked();
    return true;
}

bool DistillPage::start() {
    DistillRequest r;
    return !running() && fillRequest(r, false) && launch(r);
}

bool DistillPage::resumeSelected() {
    DistillRequest r;
    if (running() || !fillRequest(r, true)) return false;
    if (r.spec.name.empty()) {
        result_->setText(tr("Choose a stored job to resume."));
        return false;
    }
    return launch(r);
}

bool DistillPage::launch(const DistillRequest& request) {
    abort_.store(false);
    last_ = {};
    rows_.clear();
    pendingRows_.clear();
    rejected_->setRecords({});
    log_->clear();
    result_->setText(tr("Starting\u2026"));
    cancelButton_->setText(tr("Cancel"));
    runName_ = q(request.spec.name);
    const QString title = tr("Distilling %1").arg(runName_);
    const bool ok = job_->start(title, [request, this](JobRunner& job) { return runDistillJob(job, request, &abort_); });
    if (ok) emit jobStateChanged(true, title);
    updateButtons();
    return ok;
}

void DistillPage::cancelRun() {
    if (!running()) return;
    if (job_->cancelled()) {
        abort_.store(true);
        result_->setText(tr("Cutting the requests out; their prompts stay pending\u2026"));
        return;
    }
    job_->cancel();
    cancelButton_->setText(tr("Stop now"));
    cancelButton_->setToolTip(tr("Cut the requests out too (their prompts stay pending; a resume sends them again)."));
    result_->setText(tr("Stopping: no new request starts; the answers still coming are stored\u2026"));
}

bool DistillPage::running() const { return job_->running(); }

QString DistillPage::resultText() const { return result_->text(); }

void DistillPage::onChunk(const QVariant& item) {
    if (const auto* p = chunkAs<distill::DistillProgress>(item)) {
        showProgress(*p);
    } else if (const auto* it = chunkAs<distill::DistillItem>(item)) {
        pendingRows_.push_back(*it);
    } else if (const auto* s = chunkAs<DistillJobStarted>(item)) {
        runName_ = s->name;
        rows_ = s->rejected;
        rejected_->setRecords(rows_);
        for (const QString& n : s->notes) log_->addItem(n);
        result_->setText(s->created ? tr("Job %1 created; sending\u2026").arg(s->name)
                                    : tr("Job %1 resumed: only its pending prompts are sent\u2026").arg(s->name));
    } else if (const auto* line = chunkAs<DistillLogLine>(item)) {
        log_->addItem(line->text);
        while (log_->count() > 1000) delete log_->takeItem(0);
        log_->scrollToBottom();
    }
}

void DistillPage::showProgress(const distill::DistillProgress& p) {
    last_ = p;
    if (!pendingRows_.empty()) {
        for (distill::DistillItem& it : pendingRows_) rows_.push_back(std::move(it));
        pendingRows_.clear();
        rejected_->setRecords(rows_);
    }
    const distill::ItemCounts& c = p.counts;
    const int64_t done = c.accepted + c.rejected + c.failed;
    progress_->setRange(0, int(std::max<int64_t>(1, c.total)));
    progress_->setValue(int(done));
    counts_->setText(tr("%1 prompts: accepted %2, rejected %3, failed %4, pending %5 (%6 requests out)")
                         .arg(c.total).arg(c.accepted).arg(c.rejected).arg(c.failed).arg(c.pending + c.sending).arg(p.inFlight));
    const double requestsPerSecond = p.elapsedSeconds > 0 ? double(p.requests) / p.elapsedSeconds : 0;
    speed_->setText(tr("this run: %1 requests (%2/s), %3 retries, %4 answers/s, %5 tokens/s%6")
                        .arg(p.requests).arg(requestsPerSecond, 0, 'f', 2).arg(p.retries).arg(p.answersPerSecond, 0, 'f', 2)
                        .arg(p.completionTokensPerSecond, 0, 'f', 0)
                        .arg(p.pausedSeconds > 0 ? tr("; paused %1 s (Retry-After)").arg(p.pausedSeconds, 0, 'f', 1) : QString()));
    spend_->setText(p.spendCap > 0 ? tr("spent %1 of the cap %2 (%3 reserved for the requests out)")
                                         .arg(money(p.spent), money(p.spendCap), money(p.reserved))
                                   : tr("spent %1 (no cap)").arg(money(p.spent)));
}

void DistillPage::onFinished(bool ok, const QString& message) {
    if (!pendingRows_.empty()) showProgress(last_);
    result_->setText(ok ? message : tr("Failed: %1").arg(message));
    emit status(ok ? message : tr("Distillation failed: %1").arg(message));
    emit jobStateChanged(false, {});
    cancelButton_->setText(tr("Cancel"));
    // The job list and the rejected table as stored (what a killed worker left is visible too).
    bool built = false;
    QString job;
    try {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        const distill::DistillStore ds(store);
        if (const std::optional<distill::DistillJob> j = ds.find(runName_.toStdString())) {
            job = q(j->name);
            built = j->datasetId != 0;
            rows_ = rejectedAndFailed(ds, j->id);
            rejected_->setRecords(rows_);
            distill::DistillProgress p = last_;
            p.counts = ds.counts(j->id);
            p.spent = p.counts.spent;
            showProgress(p);
        }
    } catch (const std::exception& e) {
        emit status(QString::fromUtf8(e.what()));
    }
    {
        QSignalBlocker block(jobs_);
        reloadJobs();
        if (!job.isEmpty()) jobs_->setCurrentIndex(std::max(0, jobs_->findData(job)));
    }
    updateButtons();
    if (built) emit datasetsChanged();
}

void DistillPage::updateButtons() {
    const bool busy = running();
    startButton_->setEnabled(!busy);
    cancelButton_->setEnabled(busy);
    resumeButton_->setEnabled(!busy && !jobs_->currentData().toString().isEmpty());
}

} // namespace swarm::ui
