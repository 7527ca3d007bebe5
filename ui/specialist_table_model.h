#pragma once
// The specialists of a swarm definition as an editable table: label, model, prompt, max tokens,
// temperature. Settings without a column (top-k, top-p, stop strings, dtype...) stay in each
// SpecialistDef untouched, so editing a loaded definition never drops them.
#include "serve/swarm.h"

#include <QAbstractTableModel>

#include <vector>

namespace swarm::ui {

// Prompt templates hold newlines ("User: {input}\nAssistant:"); one-line editors show them as the
// two characters \n (and a backslash as \\), as the CLI's flags take them.
QString escapePrompt(const std::string& prompt);
std::string unescapePrompt(const QString& text);

class SpecialistTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Label, Model, Prompt, MaxTokens, Temperature, ColumnCount };

    explicit SpecialistTableModel(QObject* parent = nullptr);
    void setSpecialists(std::vector<SpecialistDef> specialists);
    const std::vector<SpecialistDef>& specialists() const { return specialists_; }

    // Appends a specialist with a label not yet in the table and the default prompt; returns its row.
    int addSpecialist();
    void setModelPath(int row, const QString& path);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    // Refuses (returns false) a max tokens outside [1, 2^20] or a negative temperature.
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    bool removeRows(int row, int count, const QModelIndex& parent = {}) override;

private:
    std::vector<SpecialistDef> specialists_;
};

} // namespace swarm::ui
