#include "ui/swarm_page.h"

#include "ui/app_settings.h"
#include "ui/job_runner.h"
#include "ui/specialist_table_model.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/project_store.h"
#include "serve/swarm_store.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <cmath>
#include <functional>
#include <set>

namespace swarm::ui {

namespace {

constexpr int kConfidenceDecimals = 3;

// A "Browse…" button whose menu picks a model folder or a .gguf file and hands it to `chosen`.
QPushButton* modelBrowseButton(QWidget* parent, const std::function<void(const QString&)>& chosen) {
    auto* button = new QPushButton(QObject::tr("Browse\u2026"), parent);
    auto* menu = new QMenu(button);
    menu->addAction(QObject::tr("Model folder\u2026"), parent, [parent, chosen] {
        const QString dir = QFileDialog::getExistingDirectory(parent, QObject::tr("Model folder"), AppSettings::load().modelsFolder);
        if (!dir.isEmpty()) chosen(dir);
    });
    menu->addAction(QObject::tr("GGUF file\u2026"), parent, [parent, chosen] {
        const QString file = QFileDialog::getOpenFileName(parent, QObject::tr("GGUF file"), AppSettings::load().exportFolder,
                                                          QObject::tr("GGUF (*.gguf)"));
        if (!file.isEmpty()) chosen(file);
    });
    button->setMenu(menu);
    return button;
}

QHBoxLayout* modelRow(QLineEdit* path, QPushButton* browse) {
    auto* row = new QHBoxLayout;
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(path, 1);
    row->addWidget(browse);
    return row;
}

// Model paths inside `folder` as paths relative to it, so that a swarm saved next to its models
// still loads when the folder moves; others stay absolute.
std::string relativeTo(const QDir& folder, const std::string& path) {
    const QString rel = folder.relativeFilePath(QString::fromStdString(path));
    if (rel.isEmpty()) return ".";
    if (rel.startsWith("..") || QDir::isAbsolutePath(rel)) return path;
    return rel.toStdString();
}

} // namespace

SwarmPage::SwarmPage(QWidget* parent) : QWidget(parent), job_(new JobRunner(this)) {
    setObjectName("swarmPage");
    auto* editorScroll = new QScrollArea;
    editorScroll->setWidgetResizable(true);
    editorScroll->setFrameShape(QFrame::NoFrame);
    editorScroll->setWidget(buildEditor());
    auto* splitter = new QSplitter;
    splitter->addWidget(editorScroll);
    splitter->addWidget(buildPlayground());
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({560, 560});
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(splitter);

    // An empty editor with the definition file's defaults, so that a new swarm starts sensibly.
    setDefinition(SwarmDefinition{});
    setProject({});
    setRunning(false);
    connect(job_, &JobRunner::chunk, this, &SwarmPage::received);
    connect(job_, &JobRunner::finished, this, &SwarmPage::finishRequest);
}

SwarmPage::~SwarmPage() {
    // Stopped and joined while the page is whole: the request's callbacks post to job_.
    job_->cancel();
    job_->wait();
}

QWidget* SwarmPage::buildEditor() {
    name_ = new QLineEdit;
    name_->setObjectName("swarmName");
    memoryBudget_ = new QSpinBox;
    memoryBudget_->setObjectName("swarmMemoryBudget");
    memoryBudget_->setRange(0, 1 << 30);
    memoryBudget_->setSuffix(tr(" MB"));
    memoryBudget_->setSpecialValueText(tr("unlimited"));
    memoryBudget_->setToolTip(tr("Loaded specialists beyond this are unloaded, least recently used first"));
    auto* topForm = new QFormLayout;
    topForm->addRow(tr("Name"), name_);
    topForm->addRow(tr("Memory budget"), memoryBudget_);

    editorMessage_ = new QLabel;
    editorMessage_->setObjectName("swarmEditorMessage");
    editorMessage_->setWordWrap(true);
    editorMessage_->setTextFormat(Qt::PlainText);
    editorMessage_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* editor = new QWidget;
    auto* layout = new QVBoxLayout(editor);
    layout->addLayout(topForm);
    layout->addWidget(buildRouterBox());
    layout->addWidget(buildSpecialistsBox(), 1);
    layout->addWidget(buildFallbackBox());
    layout->addLayout(buildFileButtons());
    layout->addWidget(buildProjectRow());
    layout->addWidget(editorMessage_);
    return editor;
}

QWidget* SwarmPage::buildRouterBox() {
    routerModel_ = new QLineEdit;
    routerModel_->setObjectName("swarmRouterModel");
    routerModel_->setPlaceholderText(tr("router model folder or .gguf file"));
    routerPrompt_ = new QLineEdit;
    routerPrompt_->setObjectName("swarmRouterPrompt");
    routerPrompt_->setToolTip(tr("The router's prompt template: {input} is the request, \\n a newline"));
    extraLabels_ = new QLineEdit;
    extraLabels_->setObjectName("swarmExtraLabels");
    extraLabels_->setPlaceholderText(tr("e.g. chitchat, other"));
    extraLabels_->setToolTip(tr("Labels the router may choose that have no specialist: the fallback answers them"));
    labelPrefix_ = new QLineEdit;
    labelPrefix_->setObjectName("swarmLabelPrefix");
    labelPrefix_->setToolTip(tr("Text scored before each label, usually one space (as the chat format trains it)"));
    minConfidence_ = new QDoubleSpinBox;
    minConfidence_->setObjectName("swarmMinConfidence");
    minConfidence_->setRange(0, 1);
    minConfidence_->setDecimals(kConfidenceDecimals);
    minConfidence_->setSingleStep(0.05);
    minConfidence_->setToolTip(tr("Routes less confident than this go to the fallback"));
    auto* router = new QGroupBox(tr("Router"));
    auto* form = new QFormLayout(router);
    form->addRow(tr("Model"), modelRow(routerModel_, modelBrowseButton(this, [this](const QString& p) { routerModel_->setText(p); })));
    form->addRow(tr("Prompt"), routerPrompt_);
    form->addRow(tr("Extra labels"), extraLabels_);
    form->addRow(tr("Label prefix"), labelPrefix_);
    form->addRow(tr("Min confidence"), minConfidence_);
    return router;
}

QWidget* SwarmPage::buildSpecialistsBox() {
    specialists_ = new SpecialistTableModel(this);
    specialistTable_ = new QTableView;
    specialistTable_->setObjectName("swarmSpecialists");
    specialistTable_->setModel(specialists_);
    specialistTable_->verticalHeader()->hide();
    specialistTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    specialistTable_->setSelectionMode(QAbstractItemView::SingleSelection);
    specialistTable_->horizontalHeader()->setSectionResizeMode(SpecialistTableModel::Model, QHeaderView::Stretch);
    specialistTable_->horizontalHeader()->setSectionResizeMode(SpecialistTableModel::Prompt, QHeaderView::Stretch);
    specialistTable_->setMinimumHeight(140);
    auto* add = new QPushButton(tr("Add"));
    add->setObjectName("swarmAddSpecialist");
    auto* remove = new QPushButton(tr("Remove"));
    remove->setObjectName("swarmRemoveSpecialist");
    auto* browse = modelBrowseButton(this, [this](const QString& p) {
        specialists_->setModelPath(specialistTable_->currentIndex().row(), p);
    });
    browse->setText(tr("Browse model\u2026"));
    browse->setObjectName("swarmBrowseSpecialist");
    browse->setToolTip(tr("The model of the selected specialist"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(add);
    buttons->addWidget(remove);
    buttons->addWidget(browse);
    buttons->addStretch(1);
    auto* box = new QGroupBox(tr("Specialists"));
    auto* layout = new QVBoxLayout(box);
    layout->addWidget(specialistTable_, 1);
    layout->addLayout(buttons);

    // Remove and Browse act on the current row: only enabled while there is one.
    auto rowActions = [this, remove, browse] {
        const bool hasRow = specialistTable_->currentIndex().isValid();
        remove->setEnabled(hasRow);
        browse->setEnabled(hasRow);
    };
    connect(specialistTable_->selectionModel(), &QItemSelectionModel::currentChanged, this, rowActions);
    connect(specialists_, &QAbstractItemModel::modelReset, this, rowActions);
    connect(specialists_, &QAbstractItemModel::rowsRemoved, this, rowActions);
    rowActions();
    connect(add, &QPushButton::clicked, this, [this] {
        const int row = specialists_->addSpecialist();
        specialistTable_->setCurrentIndex(specialists_->index(row, SpecialistTableModel::Label));
        specialistTable_->edit(specialists_->index(row, SpecialistTableModel::Label));
    });
    connect(remove, &QPushButton::clicked, this, [this] {
        const int row = specialistTable_->currentIndex().row();
        if (row >= 0) specialists_->removeRows(row, 1);
    });
    return box;
}

QWidget* SwarmPage::buildFallbackBox() {
    fallbackEnabled_ = new QCheckBox(tr("Fallback for extra labels and unsure routes"));
    fallbackEnabled_->setObjectName("swarmFallbackEnabled");
    fallbackModel_ = new QLineEdit;
    fallbackModel_->setObjectName("swarmFallbackModel");
    fallbackModel_->setPlaceholderText(tr("general model folder or .gguf file"));
    fallbackPrompt_ = new QLineEdit;
    fallbackPrompt_->setObjectName("swarmFallbackPrompt");
    auto* browse = modelBrowseButton(this, [this](const QString& p) { fallbackModel_->setText(p); });
    fallbackFields_ = new QWidget;
    auto* form = new QFormLayout(fallbackFields_);
    form->setContentsMargins(0, 0, 0, 0);
    form->addRow(tr("Model"), modelRow(fallbackModel_, browse));
    form->addRow(tr("Prompt"), fallbackPrompt_);
    auto* box = new QGroupBox(tr("Fallback"));
    auto* layout = new QVBoxLayout(box);
    layout->addWidget(fallbackEnabled_);
    layout->addWidget(fallbackFields_);
    connect(fallbackEnabled_, &QCheckBox::toggled, fallbackFields_, &QWidget::setEnabled);
    return box;
}

QLayout* SwarmPage::buildFileButtons() {
    auto* open = new QPushButton(tr("Open JSON\u2026"));
    open->setObjectName("swarmOpenJson");
    auto* save = new QPushButton(tr("Save JSON\u2026"));
    save->setObjectName("swarmSaveJson");
    auto* row = new QHBoxLayout;
    row->addWidget(open);
    row->addWidget(save);
    row->addStretch(1);
    connect(open, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open swarm definition"), jsonFolder_, tr("Swarm definitions (*.json);;All files (*)"));
        if (!path.isEmpty()) openJson(path);
    });
    connect(save, &QPushButton::clicked, this, [this] {
        const QString suggested = QDir(jsonFolder_).filePath(name_->text().trimmed().isEmpty() ? "swarm.json" : name_->text().trimmed() + ".json");
        QString path = QFileDialog::getSaveFileName(this, tr("Save swarm definition"), suggested, tr("Swarm definitions (*.json)"));
        if (path.isEmpty()) return;
        if (!path.endsWith(".json")) path += ".json";
        saveJson(path);
    });
    return row;
}

QWidget* SwarmPage::buildProjectRow() {
    saved_ = new QComboBox;
    saved_->setObjectName("swarmSaved");
    saved_->setToolTip(tr("Swarms saved in the project: choose one to edit it"));
    auto* saveProject = new QPushButton(tr("Save to project"));
    saveProject->setObjectName("swarmSaveToProject");
    auto* deleteSaved = new QPushButton(tr("Delete"));
    deleteSaved->setObjectName("swarmDeleteSaved");
    projectRow_ = new QWidget;
    auto* layout = new QHBoxLayout(projectRow_);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(new QLabel(tr("In the project:")));
    layout->addWidget(saved_, 1);
    layout->addWidget(saveProject);
    layout->addWidget(deleteSaved);
    connect(saved_, &QComboBox::activated, this, [this](int i) { loadFromProject(saved_->itemText(i)); });
    connect(saveProject, &QPushButton::clicked, this, &SwarmPage::saveToProject);
    connect(deleteSaved, &QPushButton::clicked, this, [this] {
        const QString name = saved_->currentText();
        if (name.isEmpty()) return;
        if (QMessageBox::question(this, tr("Delete swarm"), tr("Delete the swarm '%1' from the project? Its models stay on disk.").arg(name)) !=
            QMessageBox::Yes)
            return;
        deleteFromProject(name);
    });
    return projectRow_;
}

void SwarmPage::setDefinition(const SwarmDefinition& def) {
    base_ = def;
    name_->setText(QString::fromStdString(def.name));
    routerModel_->setText(QString::fromStdString(def.router.model));
    routerPrompt_->setText(escapePrompt(def.router.prompt));
    QStringList extra;
    for (const std::string& l : def.router.extraLabels) extra << QString::fromStdString(l);
    extraLabels_->setText(extra.join(", "));
    labelPrefix_->setText(escapePrompt(def.router.labelPrefix));
    minConfidence_->setValue(def.router.minConfidence);
    specialists_->setSpecialists(def.specialists);
    const SpecialistDef fallback = def.fallback ? *def.fallback : SpecialistDef{};
    fallbackEnabled_->setChecked(def.fallback.has_value());
    fallbackModel_->setText(QString::fromStdString(fallback.model));
    fallbackPrompt_->setText(escapePrompt(fallback.prompt));
    fallbackFields_->setEnabled(def.fallback.has_value());
    memoryBudget_->setValue(int(def.memoryBudgetBytes >> 20));
    showEditorMessage({}, false);
}

SwarmDefinition SwarmPage::definition() const {
    SwarmDefinition d = base_;
    d.name = name_->text().trimmed().toStdString();
    if (d.name.empty()) throw Error("name: the swarm needs a name");
    d.router.model = routerModel_->text().trimmed().toStdString();
    if (d.router.model.empty()) throw Error("router: choose its model (a folder or a .gguf file)");
    d.router.prompt = unescapePrompt(routerPrompt_->text());
    d.router.extraLabels.clear();
    for (const QString& l : extraLabels_->text().split(',', Qt::SkipEmptyParts))
        if (!l.trimmed().isEmpty()) d.router.extraLabels.push_back(l.trimmed().toStdString());
    d.router.labelPrefix = unescapePrompt(labelPrefix_->text());
    // The spin box rounds; an unchanged value keeps the definition's exact one.
    const double shown = minConfidence_->value();
    if (std::abs(shown - base_.router.minConfidence) >= 0.5 * std::pow(10.0, -kConfidenceDecimals)) d.router.minConfidence = shown;

    d.specialists = specialists_->specialists();
    std::set<std::string> labels;
    for (size_t i = 0; i < d.specialists.size(); ++i) {
        const SpecialistDef& s = d.specialists[i];
        const std::string row = "specialists, row " + std::to_string(i + 1);
        if (s.label.empty()) throw Error(row + ": the label is empty");
        if (!labels.insert(s.label).second) throw Error(row + ": the label '" + s.label + "' is used twice");
        if (s.model.empty()) throw Error(row + " ('" + s.label + "'): choose its model (a folder or a .gguf file)");
    }
    if (fallbackEnabled_->isChecked()) {
        SpecialistDef f = base_.fallback ? *base_.fallback : SpecialistDef{};
        if (!base_.fallback) f.sampling.maxTokens = 128;   // SwarmDefinition::fromJson's default
        f.label = "fallback";
        f.model = fallbackModel_->text().trimmed().toStdString();
        f.prompt = unescapePrompt(fallbackPrompt_->text());
        if (f.model.empty()) throw Error("fallback: choose its model, or untick the fallback");
        d.fallback = f;
    } else {
        d.fallback.reset();
    }
    d.memoryBudgetBytes = uint64_t(memoryBudget_->value()) << 20;

    // The library's own checks (reserved labels, templates, extra labels that need a fallback...)
    // name the field as they do for a file; relative paths resolve as a file's would.
    const QString baseDir = jsonFolder_.isEmpty() ? QDir::currentPath() : jsonFolder_;
    return SwarmDefinition::fromJson(d.toJson(), baseDir.toStdString(), "swarm '" + d.name + "'");
}

void SwarmPage::showEditorMessage(const QString& message, bool error) {
    editorMessageText_ = message;
    editorMessage_->setText(message);
    QPalette p;   // only the text colour set: everything else follows the theme
    if (error) p.setColor(QPalette::WindowText, QColor(192, 57, 43));
    editorMessage_->setPalette(p);
    if (!message.isEmpty()) emit status(message);
}

bool SwarmPage::showingErrors(const std::function<void()>& action) {
    try {
        action();
        return true;
    } catch (const std::exception& e) {
        showEditorMessage(QString::fromUtf8(e.what()), true);
        return false;
    }
}

bool SwarmPage::openJson(const QString& path) {
    return showingErrors([&] {
        const SwarmDefinition d = SwarmDefinition::load(path.toStdString());
        jsonFolder_ = QFileInfo(path).absolutePath();
        setDefinition(d);
        showEditorMessage(tr("Opened %1").arg(path), false);
    });
}

bool SwarmPage::saveJson(const QString& path) {
    return showingErrors([&] {
        const SwarmDefinition d = definition();
        nlohmann::json j = d.toJson();
        const QDir folder = QFileInfo(path).absoluteDir();
        j["router"]["model"] = relativeTo(folder, d.router.model);
        for (const SpecialistDef& s : d.specialists) j["specialists"][s.label]["model"] = relativeTo(folder, s.model);
        if (d.fallback) j["fallback"]["model"] = relativeTo(folder, d.fallback->model);
        writeFileAtomically(path.toStdString(), j.dump(2) + "\n");
        jsonFolder_ = folder.absolutePath();
        showEditorMessage(tr("Saved %1").arg(path), false);
    });
}

void SwarmPage::setProject(const QString& path) {
    projectPath_ = path;
    projectRow_->setVisible(!path.isEmpty());
    reloadSavedSwarms();
    // A fresh editor shows the project's first swarm rather than an empty form.
    if (saved_->count() > 0 && routerModel_->text().trimmed().isEmpty()) loadFromProject(saved_->itemText(0));
}

QStringList SwarmPage::savedSwarms() const {
    QStringList names;
    for (int i = 0; i < saved_->count(); ++i) names << saved_->itemText(i);
    return names;
}

void SwarmPage::reloadSavedSwarms(const QString& select) {
    saved_->clear();
    if (projectPath_.isEmpty()) return;
    showingErrors([&] {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        for (const std::string& name : listSwarms(store)) saved_->addItem(QString::fromStdString(name));
    });
    if (!select.isEmpty()) saved_->setCurrentIndex(saved_->findText(select));
}

bool SwarmPage::loadFromProject(const QString& name) {
    if (projectPath_.isEmpty()) return false;
    return showingErrors([&] {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        const SwarmDefinition d = loadSwarm(store, name.toStdString());
        jsonFolder_.clear();   // the project holds absolute paths
        setDefinition(d);
        showEditorMessage(tr("Loaded '%1' from the project").arg(name), false);
    });
}

bool SwarmPage::saveToProject() {
    if (projectPath_.isEmpty()) return false;
    return showingErrors([&] {
        const SwarmDefinition d = definition();
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        saveSwarm(store, d);
        const QString name = QString::fromStdString(d.name);
        reloadSavedSwarms(name);
        showEditorMessage(tr("Saved '%1' in the project").arg(name), false);
    });
}

bool SwarmPage::deleteFromProject(const QString& name) {
    if (projectPath_.isEmpty()) return false;
    return showingErrors([&] {
        ProjectStore store = ProjectStore::open(projectPath_.toStdString());
        const bool deleted = deleteSwarm(store, name.toStdString());
        reloadSavedSwarms();
        if (!deleted) throw Error("The project has no swarm '" + name.toStdString() + "'");
        showEditorMessage(tr("Deleted '%1' from the project").arg(name), false);
    });
}

} // namespace swarm::ui
