#pragma once
// Distill (issue 16): a dataset for a specialist from a teacher model's answers through any
// OpenAI-compatible endpoint. The job's definition (prompts from a file or a project dataset,
// the dataset's name, the teacher, system message, template, task and validators, prices) and
// this run's options (concurrency, request and spend caps, timeout, retries, where the API key
// comes from: an environment variable or a key file, never the key itself); Start, Cancel
// (the requests out are answered and stored; a second press cuts them) and Resume of a stored
// job; live counts, throughput and spend against the cap; the rejected and failed prompts with
// their answers and reasons. The run is on its own job thread (ui/distill_job.h).
#include "distill/distill_store.h"
#include "distill/distiller.h"

#include <QWidget>

#include <atomic>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableView;

namespace swarm::ui {

class JobRunner;
template <class Record>
class RecordTableModel;
struct DistillRequest;

class DistillPage : public QWidget {
    Q_OBJECT
public:
    explicit DistillPage(QWidget* parent = nullptr);
    ~DistillPage() override;                 // cuts a running job's requests and waits for it
    void setProject(const QString& path);

    bool running() const;
    JobRunner* job() const { return job_; }
    // For tests and the status bar: the rejected/failed table and the last progress shown.
    const RecordTableModel<distill::DistillItem>* rejectedModel() const { return rejected_; }
    const distill::DistillProgress& lastProgress() const { return last_; }
    QString resultText() const;

public slots:
    bool start();                            // a new job from the form (or the same definition: resumed)
    bool resumeSelected();                   // the job chosen in the jobs list, as stored
    void cancelRun();                        // first: stop sending; second: cut the requests out
    void reloadJobs();
    void reloadDatasets();

signals:
    void status(const QString& message);
    void jobStateChanged(bool running, const QString& title);
    void datasetsChanged();                  // a run built its dataset

private:
    QWidget* buildDefinitionForm();
    QWidget* buildRunForm();
    QWidget* buildProgress();
    void connectJob();

    bool launch(const DistillRequest& request);
    bool fillRequest(DistillRequest& r, bool resume);
    void showJob(const QString& name);       // the stored job's definition, counts and rejected prompts
    void showProgress(const distill::DistillProgress& p);
    void onChunk(const QVariant& item);
    void onFinished(bool ok, const QString& message);
    void updateButtons();

    QString projectPath_;
    QString runName_;                        // the job the last run ran
    JobRunner* job_;
    std::atomic<bool> abort_{false};
    distill::DistillProgress last_;
    std::vector<distill::DistillItem> pendingRows_;   // streamed, shown at the next progress tick
    std::vector<distill::DistillItem> rows_;

    // The job's definition.
    QComboBox* jobs_;
    QComboBox* promptDataset_;
    QLineEdit* promptFile_;
    QComboBox* sourceSplit_;
    QSpinBox* limit_;
    QLineEdit* name_;
    QLineEdit* teacherUrl_;
    QLineEdit* teacherModel_;
    QPlainTextEdit* system_;
    QLineEdit* template_;
    QComboBox* task_;
    QLineEdit* labels_;
    QLineEdit* schema_;
    QSpinBox* maxChars_;
    QSpinBox* maxLen_;
    QCheckBox* keepRefusals_;
    QSpinBox* maxTokens_;
    QDoubleSpinBox* temperature_;
    QCheckBox* stream_;
    QDoubleSpinBox* priceIn_;
    QDoubleSpinBox* priceOut_;
    // This run.
    QComboBox* keyKind_;
    QLineEdit* key_;
    QSpinBox* concurrency_;
    QSpinBox* maxRequests_;
    QDoubleSpinBox* maxSpend_;
    QDoubleSpinBox* timeout_;
    QSpinBox* retries_;
    QCheckBox* retryFailed_;
    // The run's state.
    QPushButton* startButton_;
    QPushButton* cancelButton_;
    QPushButton* resumeButton_;
    QProgressBar* progress_;
    QLabel* counts_;
    QLabel* speed_;
    QLabel* spend_;
    QLabel* result_;
    QListWidget* log_;
    RecordTableModel<distill::DistillItem>* rejected_;
    QTableView* rejectedView_;
    QPlainTextEdit* detail_;
};

} // namespace swarm::ui
