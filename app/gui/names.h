#pragma once
// The GUI's enums with names: the view, theme and heatmap metric, each one table of {value, name}
// rows (core/enum_names.h). The names are the script verbs' arguments (`view mpi`, `theme light`,
// `metric lambda`) and the `--state-json` values, so the two can never drift.
#include "core/enum_names.h"

namespace routerscope::gui {

enum class View { Model, Expert, Mpi, Pretrain, Series };
enum class Theme { Dark, Light };
enum class Metric { Cos, Lambda };

inline constexpr NameTable<View, 5> kViewNames{{{View::Model, "model"},
                                                {View::Expert, "expert"},
                                                {View::Mpi, "mpi"},
                                                {View::Pretrain, "pretrain"},
                                                {View::Series, "series"}}};
inline constexpr NameTable<Theme, 2> kThemeNames{{{Theme::Light, "light"}, {Theme::Dark, "dark"}}};
inline constexpr NameTable<Metric, 2> kMetricNames{
    {{Metric::Cos, "cos"}, {Metric::Lambda, "lambda"}}};

} // namespace routerscope::gui
