#pragma once
// The import wizard: pick a file, see its format and first rows, choose or edit the mapping with
// a live preview of what the model will be trained on, set length, split and seed.
#include "datasets/dataset_import.h"

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QGroupBox;
class QSpinBox;
class QTimer;

namespace swarm::ui {

class JobRunner;

template <class Record>
class RecordTableModel;

class ImportDialog : public QDialog {
    Q_OBJECT
public:
    ImportDialog(const Gpt2Tokenizer* tokenizer, const QStringList& takenNames, QWidget* parent = nullptr);
    ImportOptions options() const;           // what the dialog describes now
    // A dataset repo id in the file field (org/name[@rev]) is fetched on a job thread (the
    // Hugging Face cache first, the Hub for what it lacks); the preview and the import then read
    // the cached file. The fetch's job, for tests.
    JobRunner* fetchJob() const { return fetch_; }

private slots:
    void browse();
    void schedulePreview();
    void refreshPreview();
    void presetChosen();

private:
    QGroupBox* buildMapping();
    QGroupBox* buildOptions();
    QWidget* buildPreview();
    void showDetected(const DatasetPreview& preview);
    QString hubRequestKey() const;           // the repo, config, split and file asked for; "" for a file
    void fetchFromHub();

    const Gpt2Tokenizer* tokenizer_;
    QStringList takenNames_;
    QLineEdit* path_;
    QLabel* detected_;
    QComboBox* preset_;
    QPlainTextEdit* promptTemplate_;
    QLineEdit* responseTemplate_;
    QLabel* mappingNote_;
    RecordTableModel<PreviewRow>* preview_;
    QLineEdit* name_;
    QSpinBox* maxLen_;
    QComboBox* overlong_;
    QLineEdit* split_;
    QSpinBox* seed_;
    QPushButton* importButton_;
    QTimer* debounce_;
    QComboBox* hubSplit_;
    QLineEdit* hubConfig_;
    QLineEdit* hubFile_;
    JobRunner* fetch_;
    QString fetchedKey_;                     // the request the fetched file answers
    QString fetchedPath_;                    // the file in the cache's snapshot
    bool fillingTemplates_ = false;
};

} // namespace swarm::ui
