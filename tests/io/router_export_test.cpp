// export_mpi_routers: the exported routers equal a float64 recomputation of R′, route tokens
// exactly as the in-memory MPI router does, and every other byte of the checkpoint is unchanged.
#include "core/error.h"
#include "core/mpi.h"
#include "core/routing.h"
#include "io/checkpoint.h"
#include "io/router_export.h"
#include "io/safetensors.h"
#include "tests/support/family_checkpoint.h"
#include "tests/support/mpi_oracle.h"
#include "tests/support/test_support.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>

namespace routerscope::test {
namespace {

namespace fs = std::filesystem;

TEST(RouterExport, RoutersEqualFloat64MpiAndOtherTensorsAreUntouched) {
  TempDir dir("export");
  FamilySpec spec;
  spec.family = "olmoe";
  spec.layers = 3;
  spec.experts = 6;
  spec.top_k = 2;
  spec.d_model = 24;
  spec.d_expert = 12;
  spec.sharded = true;
  spec.dense_layers = {};
  write_family_checkpoint(dir / "src", spec);
  auto model = io::open_checkpoint(dir / "src");
  io::RouterExportOptions opt;
  opt.mpi.c_prime = 3.0;
  auto report = io::export_mpi_routers(*model, dir / "out", opt);
  EXPECT_EQ(report.routers.size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "out" / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "out" / "model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(dir / "out" / "routerscope_export.json"));

  auto exported = io::open_checkpoint(dir / "out");
  for (int l : model->info().moe_layers()) {
    std::vector<MatrixF> g;
    for (int e = 0; e < spec.experts; ++e)
      g.push_back(model->expert_weight(l, e, ExpertMatrix::Gate));
    MatrixD want = mpi_oracle(model->router(l), g, opt.mpi);
    MatrixF got = exported->router(l);
    ASSERT_EQ(got.rows(), want.rows());
    EXPECT_LT((got.cast<double>() - want).cwiseAbs().maxCoeff(), 1e-6) << "layer " << l;
    // Experts are the same bytes as the source.
    for (int e = 0; e < spec.experts; ++e)
      EXPECT_EQ(exported->expert_weight(l, e, ExpertMatrix::Up),
                model->expert_weight(l, e, ExpertMatrix::Up));
  }
  // Byte-level: every non-router tensor of the exported store equals the source's.
  auto src = io::TensorStore::open(dir / "src");
  auto dst = io::TensorStore::open(dir / "out");
  ASSERT_EQ(src.names(), dst.names());
  int differing = 0;
  for (const auto& name : src.names()) {
    auto a = src.bytes(name), b = dst.bytes(name);
    ASSERT_EQ(a.size(), b.size()) << name;
    if (std::memcmp(a.data(), b.data(), a.size()) != 0) {
      ++differing;
      EXPECT_NE(name.find("mlp.gate.weight"), std::string::npos) << name << " changed";
    }
  }
  EXPECT_EQ(differing, 3);
}

TEST(RouterExport, RoutingWithExportedRouterEqualsInMemoryMpiRouter) {
  TempDir dir("export-route");
  FamilySpec spec;
  spec.family = "mixtral";
  spec.layers = 2;
  spec.experts = 8;
  spec.top_k = 2;
  spec.d_model = 32;
  spec.d_expert = 16;
  write_family_checkpoint(dir / "src", spec);
  auto model = io::open_checkpoint(dir / "src");
  io::RouterExportOptions opt;
  opt.copy_unchanged = true;
  io::export_mpi_routers(*model, dir / "out", opt);
  auto exported = io::open_checkpoint(dir / "out");
  EXPECT_FALSE(fs::is_symlink(dir / "out" / "model.safetensors"));
  MatrixF x = random_matrix(256, spec.d_model, 99);
  for (int l : model->info().moe_layers()) {
    MpiSettings s;
    MatrixF in_memory =
        mpi_router(model->router(l), load_direction_operators(*model, l, s.matrix), s);
    const RoutingRule& rule = model->info().routing;
    Routing a = route_tokens(x, in_memory, {}, rule, spec.top_k);
    Routing b = route_tokens(x, exported->router(l), {}, rule, spec.top_k);
    EXPECT_EQ(a.experts, b.experts) << "layer " << l;
    EXPECT_LT((a.weights - b.weights).cwiseAbs().maxCoeff(), 1e-6);
  }
}

TEST(RouterExport, RefusesToOverwriteTheSourceFolder) {
  TempDir dir("export-self");
  FamilySpec spec;
  spec.family = "olmoe";
  write_family_checkpoint(dir / "src", spec);
  auto model = io::open_checkpoint(dir / "src");
  try {
    io::export_mpi_routers(*model, dir / "src", {});
    FAIL() << "expected BadInput";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("source checkpoint folder"), std::string::npos);
  }
}

} // namespace
} // namespace routerscope::test
