#pragma once
// Datasets: the project's datasets, the import wizard, the examples table, the validation report
// with the token-length histogram and rejected rows, and the mask preview.
#include "core/project_store.h"
#include "datasets/dataset_import.h"
#include "core/tokenizer.h"

#include <QWidget>

#include <memory>
#include <optional>

class QComboBox;
class QCustomPlot;
class QListWidget;
class QPushButton;
class QTableView;
class QTextBrowser;

namespace swarm::ui {

class DatasetTableModel;
class JobRunner;
template <class Record>
class RecordTableModel;

class DatasetsPage : public QWidget {
    Q_OBJECT
public:
    DatasetsPage(JobRunner* jobs, QWidget* parent = nullptr);
    ~DatasetsPage() override;
    void setProject(const QString& path);          // empty: no project
    // Starts an import without the dialog (tests, drag and drop); false if a job is running.
    bool startImport(const ImportOptions& options);
    DatasetTableModel* tableModel() const { return model_; }

signals:
    void datasetsChanged();
    void status(const QString& message);

private slots:
    void openImportDialog();
    void deleteSelected();
    void showSelectedDataset();
    void showMaskPreview();

private:
    QWidget* buildDatasetList();
    QWidget* buildExamples();
    QWidget* buildReport();
    void reloadList(const QString& select = {});
    void showReport(const DatasetInfo& ds);
    const Gpt2Tokenizer& tokenizer();

    JobRunner* jobs_;
    QString projectPath_;
    std::unique_ptr<ProjectStore> store_;
    std::unique_ptr<Gpt2Tokenizer> tokenizer_;
    QListWidget* list_;
    QPushButton* importButton_;
    QPushButton* deleteButton_;
    QComboBox* splitFilter_;
    QTableView* table_;
    DatasetTableModel* model_;
    QTextBrowser* summary_;
    QCustomPlot* histogram_;
    RecordTableModel<RejectedRow>* rejected_;
    QTextBrowser* mask_;
};

} // namespace swarm::ui
