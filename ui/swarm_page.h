#pragma once
// Swarm: edit a swarm definition (router, specialists, fallback, memory budget; JSON files or the
// project), and send requests through it: the route the router chose with every label's
// probability, then the answering specialist's text streaming in, with timings.
#include "serve/swarm.h"

#include <QByteArray>
#include <QWidget>

#include <functional>
#include <memory>
#include <string>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QLayout;
class QTableView;

namespace swarm::ui {

class JobRunner;
template <class Record>
class RecordTableModel;
class SpecialistTableModel;
struct RouteProbability;

class SwarmPage : public QWidget {
    Q_OBJECT
public:
    explicit SwarmPage(QWidget* parent = nullptr);
    ~SwarmPage() override;                  // stops a running request and waits for it

    void setProject(const QString& path);   // "" when no project is open

    // The editor's swarm with relative model paths made absolute, checked as a definition file
    // is; throws swarm::Error naming the row or field at fault.
    SwarmDefinition definition() const;
    void setDefinition(const SwarmDefinition& def);

    // These return false and show why in the page when they fail.
    bool openJson(const QString& path);
    bool saveJson(const QString& path);     // model paths inside the file's folder are written relative
    bool loadFromProject(const QString& name);
    bool saveToProject();
    bool deleteFromProject(const QString& name);   // asks nothing: the Delete button asks first
    QStringList savedSwarms() const;
    QString editorMessage() const { return editorMessageText_; }

    bool busy() const;
    QString answer() const { return QString::fromUtf8(answerBytes_); }   // streamed so far
    int streamedPieces() const { return streamedPieces_; }
    // The last finished request's result, with the route taken (routed is true).
    const DispatchResult& lastResult() const { return lastResult_; }
    bool swarmLoaded() const { return swarm_ != nullptr; }   // cached for the current definition

    void setRequestText(const QString& text);

public slots:
    bool send();                            // false when busy, the request is empty or the swarm is invalid
    void stop();

signals:
    void status(const QString& message);
    void routed(const QString& label, double confidence);   // before the answer streams
    void requestFinished(bool ok, const QString& summary);

private:
    QWidget* buildEditor();
    QWidget* buildRouterBox();
    QWidget* buildSpecialistsBox();
    QWidget* buildFallbackBox();
    QLayout* buildFileButtons();
    QWidget* buildProjectRow();
    QWidget* buildPlayground();
    QWidget* buildProbabilitiesTable();
    void showEditorMessage(const QString& message, bool error);
    // Runs an editor action; its error is shown in the page instead of thrown. False on error.
    bool showingErrors(const std::function<void()>& action);
    void reloadSavedSwarms(const QString& select = {});
    void setRunning(bool running);
    void received(const QVariant& item);
    void showRoute(const RouteResult& route);
    void appendAnswer(const QByteArray& piece);
    void finishRequest(bool ok, const QString& error);

    // Editor.
    QString projectPath_;
    QString jsonFolder_;                    // of the last JSON file opened or saved: base of relative paths
    SwarmDefinition base_;                  // what the editor has no field for (dtypes, score_eos, threads...)
    QLineEdit* name_;
    QLineEdit* routerModel_;
    QLineEdit* routerPrompt_;
    QLineEdit* extraLabels_;
    QLineEdit* labelPrefix_;
    QDoubleSpinBox* minConfidence_;
    SpecialistTableModel* specialists_;
    QTableView* specialistTable_;
    QCheckBox* fallbackEnabled_;
    QWidget* fallbackFields_;
    QLineEdit* fallbackModel_;
    QLineEdit* fallbackPrompt_;
    QSpinBox* memoryBudget_;
    QWidget* projectRow_;
    QComboBox* saved_;
    QLabel* editorMessage_;
    QString editorMessageText_;

    // Routed playground.
    QPlainTextEdit* request_;
    QSpinBox* maxTokens_;
    QPushButton* sendButton_;
    QPushButton* stopButton_;
    QLabel* runStatus_;
    QLabel* route_;
    RecordTableModel<RouteProbability>* probabilities_;
    QLabel* specialist_;
    QLabel* timings_;
    QPlainTextEdit* answer_;

    JobRunner* job_;                        // runs one request at a time
    std::shared_ptr<Swarm> swarm_;          // loaded for loadedKey_ (the definition's JSON)
    std::string loadedKey_;
    QByteArray answerBytes_;
    int streamedPieces_ = 0;
    DispatchResult lastResult_;
    DispatchResult requestResult_;          // the running request's, streamed just before it finishes
    bool requestStopped_ = false;
};

} // namespace swarm::ui
