#pragma once
// Evaluate: pick models (runs, folders, exported files) and a dataset split, run them with
// progress, then the metrics table with deltas against the first model, cost per million tokens,
// the side-by-side outputs with filters, and a report to export.
#include <QWidget>

#include <memory>

class QComboBox;
class QListWidget;
class QPushButton;
class QSpinBox;

namespace swarm::eval {
struct ComparedExample;
struct Comparison;
struct ModelColumn;
}

namespace swarm::ui {

class JobRunner;
template <class Record>
class RecordTableModel;

class EvaluatePage : public QWidget {
    Q_OBJECT
public:
    EvaluatePage(JobRunner* jobs, QWidget* parent = nullptr);
    ~EvaluatePage() override;
    void setProject(const QString& path);
    void addModel(const QString& path);
    int comparedModels() const;

public slots:
    void reloadDatasets();
    bool startEvaluation();

signals:
    void status(const QString& message);
    void evaluated();

private:
    QWidget* buildModelPicker();
    QWidget* buildResults();
    void showComparison();
    void showExamples();

    JobRunner* jobs_;
    QString projectPath_;
    std::shared_ptr<eval::Comparison> comparison_;
    QListWidget* models_;
    QComboBox* runs_;
    QComboBox* dataset_;
    QComboBox* split_;
    QSpinBox* limit_;
    QSpinBox* maxTokens_;
    QPushButton* runButton_;
    QPushButton* reportButton_;
    RecordTableModel<eval::ModelColumn>* metrics_;
    QComboBox* filter_;
    RecordTableModel<eval::ComparedExample>* examples_;
};

} // namespace swarm::ui
