#pragma once
// Export: a model (a run from the project, or any folder) to a Hugging Face folder or a GGUF file,
// with progress, then the result's path, size and the re-check against the source.
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTextBrowser;

namespace swarm::ui {

class JobRunner;

class ExportPage : public QWidget {
    Q_OBJECT
public:
    ExportPage(JobRunner* jobs, QWidget* parent = nullptr);
    void setProject(const QString& path);
    void setSource(const QString& path);
    void setOutput(const QString& path);
    QString resultText() const;

public slots:
    void reloadRuns();
    bool startExport();

signals:
    void status(const QString& message);
    void exported(const QString& path);

private:
    void formatChanged();

    JobRunner* jobs_;
    QString projectPath_;
    QComboBox* runs_;
    QLineEdit* source_;
    QComboBox* format_;
    QComboBox* dtype_;
    QLineEdit* out_;
    QLabel* note_;
    QPushButton* exportButton_;
    QTextBrowser* result_;
};

} // namespace swarm::ui
