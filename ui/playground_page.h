#pragma once
// Playground: one or two specialists side by side, tokens streaming in, sampling controls, and
// under each answer a heatmap of the expert each layer chose for every generated token.
#include <QWidget>

#include <memory>
#include <vector>

class QCheckBox;
class QCustomPlot;
class QCPColorMap;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;

namespace swarm::engine {
class Model;
}

namespace swarm::ui {

class JobRunner;

// One side of the playground: a model, its streamed answer and its routing heatmap.
class PlaygroundPane : public QWidget {
    Q_OBJECT
public:
    PlaygroundPane(const QString& name, QWidget* parent = nullptr);
    ~PlaygroundPane() override;
    QString modelPath() const;
    void setModelPath(const QString& path);
    bool busy() const;
    int generatedTokens() const { return tokens_; }

    struct Request {
        QString prompt;
        bool raw = false;
        float temperature = 0, topP = 1, repetitionPenalty = 1;
        int topK = 0, maxTokens = 128;
        quint64 seed = 0;
        int threads = 0;
    };
    void generate(const Request& request);
    void stop();

signals:
    void finished(const QString& summary);

private:
    void received(const QVariant& item);
    void appendToken(const QString& piece, const std::vector<int>& experts, int nLayer);
    void done(bool ok, const QString& summary);

    QLineEdit* path_;
    QTextBrowser* output_;
    QCustomPlot* heatPlot_;
    QCPColorMap* heatmap_;
    QLabel* status_;
    JobRunner* job_;
    std::shared_ptr<engine::Model> model_;
    QString loadedPath_;
    QString text_;
    int tokens_ = 0;
    std::vector<std::vector<int>> columns_;   // per token: top-1 expert of each layer
};

class PlaygroundPage : public QWidget {
    Q_OBJECT
public:
    explicit PlaygroundPage(QWidget* parent = nullptr);
    PlaygroundPane* pane(int i) const { return i == 0 ? a_ : b_; }

public slots:
    void generate();
    void stopAll();

signals:
    void status(const QString& message);

private:
    PlaygroundPane* a_;
    PlaygroundPane* b_;
    QCheckBox* compare_;
    QPlainTextEdit* prompt_;
    QCheckBox* raw_;
    QDoubleSpinBox* temperature_;
    QSpinBox* topK_;
    QDoubleSpinBox* topP_;
    QDoubleSpinBox* repetition_;
    QSpinBox* maxTokens_;
    QSpinBox* seed_;
    QPushButton* generateButton_;
    QPushButton* stopButton_;
};

} // namespace swarm::ui
