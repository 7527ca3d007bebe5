#pragma once
// The workbench window: a navigation rail over the pages, the project (open, create, recent),
// settings, and a status bar that shows the running job.
#include <QMainWindow>

class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QStackedWidget;

namespace swarm::ui {

class DatasetsPage;
class DistillPage;
class EvaluatePage;
class ExportPage;
class JobRunner;
class PlaygroundPage;
class SwarmPage;
class TrainPage;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Opens the project file, creating it when it does not exist. Returns false (and says why) on failure.
    bool openProject(const QString& path);
    bool showPage(const QString& name);       // "datasets", "train", "evaluate", "playground", "swarm", "export", "distill"
    QStringList pageNames() const;

    SwarmPage* swarmPage() const { return swarm_; }
    DistillPage* distillPage() const { return distill_; }
    JobRunner* jobs() const { return jobs_; }

protected:
    void closeEvent(QCloseEvent* event) override;

private slots:
    void newProject();
    void openProjectDialog();
    void showSettings();
    void showStatus(const QString& message);

private:
    void buildMenus();
    void buildStatusBar();
    void connectPages();
    void addPage(const QString& key, const QString& title, QWidget* page);
    void rebuildRecentMenu();
    void setJob(bool running, const QString& title);

    JobRunner* jobs_;
    QListWidget* rail_;
    QStackedWidget* stack_;
    QStringList keys_;
    DatasetsPage* datasets_;
    TrainPage* train_;
    EvaluatePage* evaluate_;
    PlaygroundPage* playground_;
    SwarmPage* swarm_;
    ExportPage* export_;
    DistillPage* distill_;
    QMenu* recentMenu_ = nullptr;
    QLabel* jobLabel_;
    QProgressBar* jobProgress_;
    QPushButton* jobCancel_;
};

} // namespace swarm::ui
