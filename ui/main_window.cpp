#include "ui/main_window.h"

#include "ui/app_settings.h"
#include "ui/datasets_page.h"
#include "ui/distill_page.h"
#include "ui/evaluate_page.h"
#include "ui/hub_models.h"
#include "ui/export_page.h"
#include "ui/playground_page.h"
#include "ui/job_runner.h"
#include "ui/settings_dialog.h"
#include "ui/swarm_page.h"
#include "ui/theme.h"
#include "ui/train_page.h"

#include "core/project_store.h"
#include "training/run_store.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>

namespace swarm::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), jobs_(new JobRunner(this)) {
    setObjectName("mainWindow");
    installHubProgress();   // models by repo id download on the jobs' threads, with their progress
    setWindowTitle("Swarm Workbench");

    rail_ = new QListWidget;
    rail_->setObjectName("navigationRail");
    rail_->setFixedWidth(150);
    rail_->setSpacing(2);
    rail_->setFrameShape(QFrame::NoFrame);
    QFont railFont = rail_->font();
    railFont.setPointSizeF(railFont.pointSizeF() * 1.1);
    rail_->setFont(railFont);
    stack_ = new QStackedWidget;
    auto* central = new QWidget;
    auto* layout = new QHBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addWidget(rail_);
    layout->addWidget(stack_, 1);
    setCentralWidget(central);

    datasets_ = new DatasetsPage(jobs_);
    train_ = new TrainPage;
    evaluate_ = new EvaluatePage(jobs_);
    playground_ = new PlaygroundPage;
    swarm_ = new SwarmPage;
    export_ = new ExportPage(jobs_);
    distill_ = new DistillPage;
    addPage("datasets", tr("Datasets"), datasets_);
    addPage("train", tr("Train"), train_);
    addPage("evaluate", tr("Evaluate"), evaluate_);
    addPage("playground", tr("Playground"), playground_);
    addPage("swarm", tr("Swarm"), swarm_);
    addPage("export", tr("Export"), export_);
    addPage("distill", tr("Distill"), distill_);
    connect(rail_, &QListWidget::currentRowChanged, stack_, &QStackedWidget::setCurrentIndex);
    rail_->setCurrentRow(0);

    buildMenus();
    buildStatusBar();
    connectPages();

    QSettings s;
    if (!restoreGeometry(s.value("window/geometry").toByteArray())) resize(1280, 800);
    restoreState(s.value("window/state").toByteArray());
}

MainWindow::~MainWindow() = default;

// File (projects, settings, quit) and View (a page per Ctrl+N).
void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&New project\u2026"), QKeySequence::New, this, &MainWindow::newProject);
    file->addAction(tr("&Open project\u2026"), QKeySequence::Open, this, &MainWindow::openProjectDialog);
    recentMenu_ = file->addMenu(tr("Open &recent"));
    file->addSeparator();
    file->addAction(tr("&Settings\u2026"), QKeySequence("Ctrl+,"), this, &MainWindow::showSettings);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < keys_.size(); ++i) {
        const QString key = keys_[i];
        view->addAction(rail_->item(i)->text(), QKeySequence(QString("Ctrl+%1").arg(i + 1)), this, [this, key] { showPage(key); });
    }
    rebuildRecentMenu();
}

// The running job, its progress and a cancel button.
void MainWindow::buildStatusBar() {
    jobLabel_ = new QLabel;
    jobLabel_->setObjectName("jobLabel");
    jobProgress_ = new QProgressBar;
    jobProgress_->setMaximumWidth(200);
    jobProgress_->setRange(0, 1000);
    jobCancel_ = new QPushButton(tr("Cancel"));
    statusBar()->addPermanentWidget(jobLabel_);
    statusBar()->addPermanentWidget(jobProgress_);
    statusBar()->addPermanentWidget(jobCancel_);
    setJob(false, {});
    connect(jobCancel_, &QPushButton::clicked, this, [this] {
        if (jobs_->running()) jobs_->cancel();
        if (train_->running()) train_->cancelRun();
        if (distill_->running()) distill_->cancelRun();
    });
    connect(jobs_, &JobRunner::started, this, [this](const QString& title) { setJob(true, title); });
    connect(jobs_, &JobRunner::progress, this, [this](double f, const QString& text) {
        jobProgress_->setValue(int(f * 1000));
        jobLabel_->setText(jobs_->title() + " \u2014 " + text);
    });
    connect(jobs_, &JobRunner::finished, this, [this](bool, const QString& message) {
        setJob(false, {});
        statusBar()->showMessage(message, 8000);
    });
}

// What one page does that others show: status messages, datasets and runs that changed.
void MainWindow::connectPages() {
    connect(train_, &TrainPage::jobStateChanged, this, &MainWindow::setJob);
    connect(distill_, &DistillPage::jobStateChanged, this, &MainWindow::setJob);
    connect(distill_, &DistillPage::status, this, &MainWindow::showStatus);
    connect(distill_, &DistillPage::datasetsChanged, train_, &TrainPage::reloadDatasets);
    connect(distill_, &DistillPage::datasetsChanged, evaluate_, &EvaluatePage::reloadDatasets);
    connect(datasets_, &DatasetsPage::datasetsChanged, distill_, &DistillPage::reloadDatasets);
    connect(datasets_, &DatasetsPage::status, this, &MainWindow::showStatus);
    connect(train_, &TrainPage::status, this, &MainWindow::showStatus);
    connect(evaluate_, &EvaluatePage::status, this, &MainWindow::showStatus);
    connect(playground_, &PlaygroundPage::status, this, &MainWindow::showStatus);
    connect(swarm_, &SwarmPage::status, this, &MainWindow::showStatus);
    connect(export_, &ExportPage::status, this, &MainWindow::showStatus);
    connect(datasets_, &DatasetsPage::datasetsChanged, train_, &TrainPage::reloadDatasets);
    connect(datasets_, &DatasetsPage::datasetsChanged, evaluate_, &EvaluatePage::reloadDatasets);
    connect(train_, &TrainPage::runFinished, export_, &ExportPage::reloadRuns);
    connect(train_, &TrainPage::runFinished, evaluate_, &EvaluatePage::reloadDatasets);
}

void MainWindow::addPage(const QString& key, const QString& title, QWidget* page) {
    keys_ << key;
    auto* item = new QListWidgetItem(title);
    item->setSizeHint(QSize(140, 40));
    rail_->addItem(item);
    stack_->addWidget(page);
}

QStringList MainWindow::pageNames() const { return keys_; }

bool MainWindow::showPage(const QString& name) {
    const int i = keys_.indexOf(name.toLower());
    if (i < 0) return false;
    rail_->setCurrentRow(i);
    return true;
}

void MainWindow::setJob(bool running, const QString& title) {
    jobLabel_->setText(running ? title : tr("Idle"));
    jobProgress_->setVisible(running && jobs_->running());
    jobProgress_->setValue(0);
    jobCancel_->setVisible(running);
}

bool MainWindow::openProject(const QString& pathIn) {
    const QString path = QFileInfo(pathIn).absoluteFilePath();
    try {
        if (!QFileInfo::exists(path)) ProjectStore::create(path.toStdString());
        datasets_->setProject(path);
        train_->setProject(path);
        evaluate_->setProject(path);
        export_->setProject(path);
        swarm_->setProject(path);
        distill_->setProject(path);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Open project"), QString::fromUtf8(e.what()));
        return false;
    }
    setWindowTitle(QString("%1 \u2014 Swarm Workbench").arg(QFileInfo(path).fileName()));
    AppSettings settings = AppSettings::load();
    settings.addRecentProject(path);
    settings.save();
    rebuildRecentMenu();
    statusBar()->showMessage(tr("Opened %1").arg(path), 5000);
    return true;
}

void MainWindow::newProject() {
    QString path = QFileDialog::getSaveFileName(this, tr("New project"), QString(), tr("Swarm projects (*.swarm)"));
    if (path.isEmpty()) return;
    if (!path.endsWith(".swarm")) path += ".swarm";
    if (QFileInfo::exists(path)) {
        QMessageBox::warning(this, tr("New project"), tr("%1 exists already: open it instead.").arg(path));
        return;
    }
    openProject(path);
}

void MainWindow::openProjectDialog() {
    QString path = QFileDialog::getOpenFileName(this, tr("Open project"), QString(), tr("Swarm projects (*.swarm);;All files (*)"));
    if (!path.isEmpty()) openProject(path);
}

void MainWindow::rebuildRecentMenu() {
    recentMenu_->clear();
    const QStringList recent = AppSettings::load().recentProjects;
    for (const QString& p : recent) recentMenu_->addAction(p, this, [this, p] { openProject(p); });
    recentMenu_->setEnabled(!recent.isEmpty());
}

void MainWindow::showStatus(const QString& message) { statusBar()->showMessage(message, 8000); }

void MainWindow::showSettings() {
    SettingsDialog dialog(this);
    if (dialog.exec() == QDialog::Accepted) applyTheme(AppSettings::load().theme);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (train_->running()) {
        if (QMessageBox::question(this, tr("Quit"), tr("A training run is in progress. Stop it with a checkpoint and quit?")) !=
            QMessageBox::Yes) {
            event->ignore();
            return;
        }
        train_->cancelRun();
    }
    jobs_->cancel();
    if (distill_->running()) distill_->cancelRun();   // the answers still coming are stored; ~DistillPage cuts the rest
    swarm_->stop();
    QSettings s;
    s.setValue("window/geometry", saveGeometry());
    s.setValue("window/state", saveState());
    event->accept();
}

} // namespace swarm::ui
