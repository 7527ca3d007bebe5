#include "ui/settings_dialog.h"

#include "ui/app_settings.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLineEdit>
#include <QSpinBox>
#include <QVBoxLayout>

namespace swarm::ui {

SettingsDialog::SettingsDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Settings"));
    setObjectName("settingsDialog");
    const AppSettings s = AppSettings::load();
    threads_ = new QSpinBox;
    threads_->setRange(0, 1024);
    threads_->setSpecialValueText(tr("all cores"));
    threads_->setValue(s.threads);
    device_ = new QComboBox;
    device_->addItems({"cpu", "auto", "cuda", "cuda:1"});
    device_->setCurrentText(s.device);
    models_ = new QLineEdit(s.modelsFolder);
    runs_ = new QLineEdit(s.runsFolder);
    exports_ = new QLineEdit(s.exportFolder);
    watts_ = new QDoubleSpinBox;
    watts_->setRange(0.5, 5000);
    watts_->setSuffix(" W");
    watts_->setValue(s.powerWatts);
    watts_->setToolTip(tr("What this machine draws while generating: cost per million tokens uses it."));
    price_ = new QDoubleSpinBox;
    price_->setRange(0, 100);
    price_->setDecimals(3);
    price_->setSuffix(tr(" per kWh"));
    price_->setValue(s.pricePerKwh);
    theme_ = new QComboBox;
    theme_->addItems({"light", "dark"});
    theme_->setCurrentText(s.theme);
    auto* form = new QFormLayout;
    form->addRow(tr("CPU threads"), threads_);
    form->addRow(tr("Device"), device_);
    form->addRow(tr("Models folder"), models_);
    form->addRow(tr("Runs folder"), runs_);
    form->addRow(tr("Exports folder"), exports_);
    form->addRow(tr("Power draw"), watts_);
    form->addRow(tr("Electricity price"), price_);
    form->addRow(tr("Theme"), theme_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &SettingsDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(buttons);
}

void SettingsDialog::accept() {
    AppSettings s = AppSettings::load();
    s.threads = threads_->value();
    s.device = device_->currentText();
    s.modelsFolder = models_->text();
    s.runsFolder = runs_->text();
    s.exportFolder = exports_->text();
    s.powerWatts = watts_->value();
    s.pricePerKwh = price_->value();
    s.theme = theme_->currentText();
    s.save();
    QDialog::accept();
}

} // namespace swarm::ui
