#pragma once
// Scripted actions for screenshot mode, one per line; '#' starts a comment:
//   open PATH | select LAYER EXPERT | step N | play FRAMES | export FIGURE FILE (as the screen
//   shows it, zoom included; to a file that exists, the next line must answer the "Replace FILE?"
//   question: export-confirm replace|cancel) | zoom X0 X1 [Y0 Y1] (the figure on screen shows
//   steps X0..X1, and y Y0..Y1 on every panel, as wheel and drag zoom do) | export-browse FOLDER
//   (File > Export's Browse…, the file browser in save mode, at FOLDER) | export-browse-open NAME
//   (its entry NAME, as a double-click: enters a folder or takes a file's name) |
//   export-browse-choose NAME (types NAME and presses Choose: the dialog's file becomes it) |
//   show FIGURE (the view, mode and page that show Export's figure FIGURE) |
//   view model|expert|mpi|pretrain|series | theme light|dark | size W H | metric cos|lambda |
//   train STEPS (router training of the selected layer; waits until it finishes) |
//   browse FOLDER (shows File > Open at FOLDER) | browse-hub (File > Open at the Hugging Face
//   cache place) | browse-hidden on|off | browse-open NAME (the entry NAME of File > Open's
//   listing, as a double-click: enters a folder or opens a checkpoint or cached model) |
//   key space|right|ctrl+o|ctrl+e|ctrl+q (a key press and release through GLFW's key callback) |
//   drop PATH (a file or folder dropped on the window, through GLFW's drop callback) |
//   follow PATH (File > Follow run... on a record its run still writes) | wait-steps N (renders
//   frames until the followed record shows N complete steps) | state FILE (writes the view state
//   JSON, as --state-json does at exit, now) | test-pattern zigzag (draws a steep zig-zag line over
//   the window, for tests of line rendering; its points are in the state JSON) |
//   open-series PATH... (the Series view measures these checkpoints; waits until it finishes) |
//   start-series PATH... (the same, the script goes on while it runs) | wait-checkpoints N
//   (renders frames until the Series view shows N checkpoints) | series-cursor K (the timeline at
//   checkpoint K) | series-select LAYER EXPERT (the expert whose values the Series view shows) |
//   series-figure series-alignment|series-norms|series-load (the figure the Series view shows) |
//   set NAME VALUE (a sidebar setting, as the widget sets it: c-prime X, power-steps K, matrix
//   gate|up|down, ablation none|no-power|no-retract, gating softmax-topk|topk-softmax — a change
//   keeps the convergence run as the previous run —; lr X, batch N, tokens synthetic|embeddings,
//   variants A,B... for the next Train) | clear-previous (Clear previous run, both modes)
#include <filesystem>
#include <string>
#include <vector>

namespace routerscope::gui {

struct ScriptAction {
  std::string verb;              // open, select, step, play, export, view, theme, size, metric
  std::vector<std::string> args; // verb's arguments, checked by parse_script
  int line = 0;
};

// Parses the script text; throws BadInput naming `origin`, the line and the expected form.
std::vector<ScriptAction> parse_script(const std::string& text, const std::string& origin);
// Reads and parses a script file (BadInput naming the file when unreadable).
std::vector<ScriptAction> load_script(const std::filesystem::path& path);

} // namespace routerscope::gui
