#include "tests/support/live_record.h"

#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace routerscope::test {

TrainStepRecord live_training_step(int v, int s, int experts) {
  TrainStepRecord r;
  r.variant = v;
  r.name = v == 0 ? "vanilla" : "mpi";
  r.step = s;
  r.loss = 1.0 / (s + 1) + v;
  r.task_loss = 0.5 / (s + 1) + v;
  r.lb_loss = 0.01 * (s + 1);
  r.z_loss = v;
  r.maxvio_batch = 0.1 * s;
  r.lr = 1e-3;
  r.grad_norm = 1.0 + s;
  const VectorD e = VectorD::LinSpaced(experts, 0, experts - 1);
  r.load = e.array() + s + 100 * v;
  r.cos = 0.5 + 0.01 * e.array();
  r.lambda = VectorD::Constant(experts, 0.25 + 0.001 * s);
  r.router_norm = VectorD::Constant(experts, 2.0 + s + v);
  if (v == 1) {
    r.stored_cos = VectorD::Constant(experts, 0.5);
    r.stored_norm = VectorD::Constant(experts, 3.0 + s);
  }
  if (s % 2 == 0)
    r.maxvio_global = 0.5 + s + v;
  return r;
}

pid_t fork_live_writer(const LiveWriterSpec& spec) {
  const pid_t pid = fork();
  if (pid != 0)
    return pid;
  try {
    io::RunRecordWriter w(spec.path, "training", R"({"variants":["vanilla","mpi"]})", spec.identity,
                          0.0); // flushed at every step
    io::declare_training_variant(w, spec.layer, "vanilla", std::size_t(spec.experts), false, true);
    io::declare_training_variant(w, spec.layer, "mpi", std::size_t(spec.experts), true, true);
    w.start_live();
    for (int s = 0; s < spec.steps; ++s) {
      for (int v = 0; v < 2; ++v)
        w.add_training_step(spec.layer, live_training_step(v, s, spec.experts));
      for (const auto& [after, files] : spec.waits)
        if (s + 1 == after)
          for (const auto& f : files)
            while (!std::filesystem::exists(f))
              usleep(1000);
    }
    w.close();
    std::ofstream(spec.done_file) << "done\n";
    _exit(0);
  } catch (...) {
    std::ofstream(spec.done_file) << "failed\n";
    _exit(2);
  }
}

bool writer_succeeded(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

} // namespace routerscope::test
