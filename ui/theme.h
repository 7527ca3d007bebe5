#pragma once
// Light and dark palettes on the Fusion style, and chart colours that read on both.
#include <QColor>
#include <QString>

class QCustomPlot;

namespace swarm::ui {

void applyTheme(const QString& name);        // "light" or "dark"

// A chart with the workbench's look: labelled axes, grid, legend, interactions.
void styleChart(QCustomPlot* plot, const QString& xLabel, const QString& yLabel);
QColor seriesColor(int index);

} // namespace swarm::ui
