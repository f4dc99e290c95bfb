#include "io/router_export.h"

#include "core/error.h"
#include "core/version.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>

namespace routerscope::io {

namespace fs = std::filesystem;

namespace {

// Streams `src` into an AtomicFile at `dst`, replacing the byte ranges in `patches` (absolute file
// offsets) on the way, so that no whole file is ever held in memory.
void copy_with_patches(const fs::path& src, const fs::path& dst,
                       const std::map<std::uint64_t, std::vector<std::byte>>& patches,
                       const Progress& progress) {
  std::ifstream in(src, std::ios::binary);
  if (!in)
    throw_input_error("cannot read " + src.string() + ": " + std::strerror(errno));
  AtomicFile out(dst);
  std::vector<char> buf(1 << 20);
  std::uint64_t pos = 0;
  auto copy_until = [&](std::uint64_t end) {
    while (pos < end) {
      progress.check(); // Ctrl-C within a multi-GB shard
      auto n = static_cast<std::streamsize>(std::min<std::uint64_t>(buf.size(), end - pos));
      in.read(buf.data(), n);
      if (in.gcount() != n)
        throw_input_error("unexpected end of " + src.string() + " at byte " + std::to_string(pos));
      out.write(buf.data(), static_cast<std::size_t>(n));
      pos += static_cast<std::uint64_t>(n);
    }
  };
  for (const auto& [offset, bytes] : patches) {
    copy_until(offset);
    out.write(bytes.data(), bytes.size());
    in.seekg(static_cast<std::streamoff>(bytes.size()), std::ios::cur);
    pos += bytes.size();
  }
  copy_until(fs::file_size(src));
  out.commit();
}

std::uint64_t data_start(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char le[8] = {};
  in.read(reinterpret_cast<char*>(le), 8);
  if (in.gcount() != 8)
    throw_input_error("cannot read the header length of " + file.string());
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | le[i];
  return 8 + n;
}

} // namespace

RouterExportReport export_mpi_routers(const MoeModel& model, const fs::path& out_dir,
                                      const RouterExportOptions& options,
                                      const Progress& progress) {
  const ModelInfo& info = model.info();
  const std::vector<RouterLocation> routers = router_locations(model);
  const std::vector<fs::path> files = checkpoint_files(model);
  const fs::path src_root = files.front().parent_path();
  std::error_code ec;
  if (fs::exists(out_dir) && fs::equivalent(out_dir, src_root, ec))
    throw_input_error("export-router: --out " + out_dir.string() +
                      " is the source checkpoint folder; choose a new folder");
  // The export is built in a hidden sibling folder and swapped in when complete, so a failure or
  // Ctrl-C leaves the old folder (or none) and never a partial export.
  fs::path final_dir = fs::absolute(out_dir).lexically_normal();
  if (final_dir.filename().empty())
    final_dir = final_dir.parent_path();
  if (fs::exists(final_dir, ec) &&
      (!fs::is_directory(final_dir, ec) ||
       (!fs::is_empty(final_dir, ec) && !fs::exists(final_dir / "routerscope_export.json", ec))))
    throw_input_error("export-router: --out " + out_dir.string() +
                      " exists and is not an earlier export (no routerscope_export.json); choose "
                      "a new folder");
  const fs::path work =
      final_dir.parent_path() / ("." + final_dir.filename().string() + ".partial-" +
                                 std::to_string(static_cast<long>(::getpid())));
  fs::remove_all(work, ec);
  fs::create_directories(work, ec);
  if (ec)
    throw_input_error("cannot create " + work.string() + ": " + ec.message());
  struct RemoveUnlessKept {
    fs::path dir;
    bool keep = false;
    ~RemoveUnlessKept() {
      std::error_code ignored;
      if (!keep)
        fs::remove_all(dir, ignored);
    }
  } partial{work};

  RouterExportReport report;
  std::map<fs::path, std::map<std::uint64_t, std::vector<std::byte>>> patches;
  std::size_t done = 0;
  for (const auto& loc : routers) {
    progress.check();
    const LayerInfo& li = info.layer(loc.layer);
    const DType dtype = parse_dtype(loc.dtype).value_or(DType::BOOL);
    if (!can_encode(dtype))
      throw_input_error("export-router: router " + loc.tensor + " in " + loc.file.string() +
                        " is " + loc.dtype +
                        "; only F32, BF16, F16 and FP8 routers can be rewritten");
    MatrixF r = model.router(loc.layer);
    MatrixF out(r.rows(), r.cols());
    for (int e = 0; e < li.experts; ++e) {
      MatrixF g = direction_operator(model, loc.layer, e, options.mpi.matrix);
      try {
        out.row(e) =
            mpi_router_row(r.row(e).transpose(), g, options.mpi, li.experts, e).transpose();
      } catch (const Error& err) {
        throw_input_error("export-router: layer " + std::to_string(loc.layer) + ": " + err.what());
      }
      progress((static_cast<double>(done) + (e + 1.0) / li.experts) /
                   static_cast<double>(routers.size()),
               "layer " + std::to_string(loc.layer));
    }
    auto bytes = encode_floats(dtype, std::span<const float>(out.data(), out.size()));
    if (bytes.size() != loc.end - loc.begin)
      throw_internal_error("export-router: encoded router " + loc.tensor + " has " +
                           std::to_string(bytes.size()) + " bytes, the file holds " +
                           std::to_string(loc.end - loc.begin));
    patches[loc.file][data_start(loc.file) + loc.begin] = std::move(bytes);
    report.routers.push_back(loc.tensor);
    ++done;
  }

  for (const auto& f : files) {
    progress.check();
    const fs::path dst = work / f.filename();
    if (auto it = patches.find(f); it != patches.end()) {
      copy_with_patches(f, dst, it->second, progress);
      report.rewritten.push_back(final_dir / f.filename());
    } else {
      if (options.copy_unchanged)
        copy_with_patches(f, dst, {}, progress);
      else
        fs::create_symlink(fs::absolute(f), dst);
      report.linked.push_back(final_dir / f.filename());
    }
  }
  // Side files (config.json, the shard index, tokenizer files): small, copied as they are.
  const std::set<fs::path> weight_files(files.begin(), files.end());
  for (const auto& entry : fs::directory_iterator(src_root)) {
    if (!entry.is_regular_file() || weight_files.count(entry.path()) ||
        entry.path().extension() == ".safetensors" ||
        entry.path().filename() == "routerscope_export.json")
      continue;
    const fs::path dst = work / entry.path().filename();
    fs::copy_file(entry.path(), dst, fs::copy_options::overwrite_existing, ec);
    if (ec)
      throw_input_error("cannot copy " + entry.path().string() + " to " + dst.string() + ": " +
                        ec.message());
    report.other_files.push_back(final_dir / entry.path().filename());
  }

  nlohmann::ordered_json j;
  j["source"] = fs::absolute(info.path).string();
  j["family"] = info.family;
  j["router"] = "mpi";
  j["formula"] = "R'[i] = C * normalize((G_i^T G_i)^k R[i]), C = c_prime / sqrt(N)";
  j["matrix"] = std::string(to_string(options.mpi.matrix));
  j["c_prime"] = options.mpi.c_prime;
  j["power_steps"] = options.mpi.power_steps;
  j["ablation"] = std::string(to_string(options.mpi.ablation));
  j["routers"] = report.routers;
  j["routerscope_version"] = routerscope_version();
  std::string text = j.dump(2) + "\n";
  AtomicFile meta(work / "routerscope_export.json");
  meta.write(text.data(), text.size());
  meta.commit();

  progress.check();
  const fs::path old = work.string() + ".old";
  const bool replacing = fs::exists(final_dir, ec);
  if (replacing) {
    fs::rename(final_dir, old, ec);
    if (ec)
      throw_input_error("cannot replace " + final_dir.string() + ": " + ec.message());
  }
  fs::rename(work, final_dir, ec);
  if (ec) {
    const std::string why = ec.message();
    if (replacing)
      fs::rename(old, final_dir, ec);
    throw_input_error("cannot rename " + work.string() + " to " + final_dir.string() + ": " + why);
  }
  partial.keep = true;
  fs::remove_all(old, ec);
  return report;
}

} // namespace routerscope::io
