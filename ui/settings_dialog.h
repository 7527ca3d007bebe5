#pragma once
#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace swarm::ui {

// Threads, device, default folders, the cost model (power draw, electricity price) and the theme.
class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(QWidget* parent = nullptr);
    void accept() override;

private:
    QSpinBox* threads_;
    QComboBox* device_;
    QLineEdit* models_;
    QLineEdit* runs_;
    QLineEdit* exports_;
    QDoubleSpinBox* watts_;
    QDoubleSpinBox* price_;
    QComboBox* theme_;
};

} // namespace swarm::ui
