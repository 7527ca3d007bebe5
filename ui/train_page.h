#pragma once
// Train: the run form with presets and the memory pre-flight, start/pause/cancel/resume, and the
// live charts (loss, learning rate, gradient norm, tokens/s, expert utilisation heatmap, router
// entropy); earlier runs from the project with their curves overlaid.
#include "training/run_store.h"
#include "training/train_config.h"

#include <QWidget>

#include <memory>

class QCheckBox;
class QComboBox;
class QCPColorMap;
class QCustomPlot;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableView;

namespace swarm::ui {

template <class Record>
class RecordTableModel;
class TrainingController;
struct AppSettings;

class TrainPage : public QWidget {
    Q_OBJECT
public:
    explicit TrainPage(QWidget* parent = nullptr);
    ~TrainPage() override;
    void setProject(const QString& path);
    void reloadDatasets();                   // and the corpora
    void reloadCorpora();

    TrainingController* controller() const { return controller_; }
    void setBaseModel(const QString& dir);
    int plottedTrainPoints() const;          // for tests: points on the loss chart's train curve
    bool running() const;

signals:
    void status(const QString& message);
    void jobStateChanged(bool running, const QString& title);
    void runFinished();

public slots:
    void start();
    void pauseRun();
    void cancelRun();
    void resumeSelected();

private slots:
    void presetChosen();
    void objectiveChosen();
    void updatePreflight();
    void onStarted(qint64 startStep, qint64 totalSteps);
    void onStep(const swarm::StepMetrics& m);
    void onValidation(const swarm::ValidationMetrics& v);
    void onFinished(const swarm::RunResult& r);
    void onFailed(const QString& message);
    void showRun(int row);

private:
    QWidget* buildRunForm(const AppSettings& settings);
    QFormLayout* buildRunFields(const AppSettings& settings);
    QWidget* buildCharts();
    QWidget* buildRunsTabs();
    void connectController();

    void reloadRuns();
    void clearCharts();
    TrainConfig formConfig() const;
    void setFormConfig(const TrainConfig& c);
    void updateButtons();
    int selectedRunRow() const;
    bool pretraining() const;                // the objective chosen: pre-train on a corpus

    void showHeatmap(const std::vector<std::vector<double>>& share, const std::vector<double>& entropy);

    QString projectPath_;
    std::unique_ptr<ProjectStore> store_;
    TrainingController* controller_;
    QString currentRunDir_;

    QLineEdit* runName_;
    QComboBox* objective_;
    QComboBox* dataset_;
    QComboBox* corpus_;
    QSpinBox* context_;
    QFormLayout* fields_ = nullptr;
    QLineEdit* baseModel_;
    QComboBox* preset_;
    QSpinBox* epochs_;
    QDoubleSpinBox* lr_;
    QSpinBox* globalBatch_;
    QSpinBox* microBatch_;
    QSpinBox* maxSteps_;
    QComboBox* device_;
    QSpinBox* threads_;
    QSpinBox* processes_;
    QComboBox* precision_;
    QLabel* preflight_;
    QPushButton* startButton_;
    QPushButton* pauseButton_;
    QPushButton* cancelButton_;
    QPushButton* resumeButton_;
    QProgressBar* progress_;
    QLabel* progressText_;
    QCustomPlot* lossPlot_;
    QCustomPlot* lrPlot_;
    QCustomPlot* gradPlot_;
    QCustomPlot* speedPlot_;
    QCustomPlot* heatPlot_;
    QCPColorMap* heatmap_ = nullptr;
    QCustomPlot* entropyPlot_;
    QListWidget* warnings_;
    RecordTableModel<RunRecord>* runs_;
    QTableView* runsView_;
    QCheckBox* overlay_;
};

} // namespace swarm::ui
