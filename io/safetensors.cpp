#include "io/safetensors.h"

#include "core/error.h"

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace routerscope::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000; // the reference reader's limit

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw_input_error(file.string() + ": " + what);
}

// The SIGBUS guard of read_mapped: the innermost guarded read of this thread (a bus error is
// delivered to the thread that touched the missing page), and the action that was installed
// before ours, for bus errors outside any guard.
thread_local sigjmp_buf* t_bus_jump = nullptr;
struct sigaction g_previous_bus_action {};

void on_bus_error(int sig, siginfo_t* info, void* context) {
  if (sigjmp_buf* jump = t_bus_jump)
    siglongjmp(*jump, 1);
  if (g_previous_bus_action.sa_flags & SA_SIGINFO) {
    g_previous_bus_action.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous_bus_action.sa_handler != SIG_DFL && g_previous_bus_action.sa_handler != SIG_IGN) {
    g_previous_bus_action.sa_handler(sig);
    return;
  }
  ::signal(SIGBUS, SIG_DFL); // returning re-executes the faulting access: default action
}

void install_bus_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_bus_error;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous_bus_action);
  });
}

std::string range_text(std::uint64_t a, std::uint64_t b) {
  std::string out = "[";
  out += std::to_string(a);
  out += ", ";
  out += std::to_string(b);
  out += "]";
  return out;
}

// Returns the byte offset of the first invalid UTF-8 sequence, or npos when `s` is valid UTF-8
// (no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t find_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return i;
    }
    if (i + static_cast<std::size_t>(len) > n)
      return i;
    for (int k = 1; k < len; ++k) {
      unsigned char d = p[i + static_cast<std::size_t>(k)];
      if ((d & 0xc0) != 0x80)
        return i;
      cp = (cp << 6) | (d & 0x3fu);
    }
    static constexpr std::uint32_t kMinForLen[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLen[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return i;
    i += static_cast<std::size_t>(len);
  }
  return std::string_view::npos;
}

constexpr int kMaxJsonDepth = 64; // a header needs 3 levels; deep nesting only exhausts the stack

// Checks what nlohmann's parser accepts but the reference reader (the safetensors crate,
// serde_json) rejects, and bounds the nesting depth before any recursive parse or print: a UTF-8
// byte-order mark, NUL bytes (e.g. NUL padding), nesting deeper than kMaxJsonDepth, and \u escapes
// that encode a lone UTF-16 surrogate. `what` names the document ("header", "index").
void check_json_text(std::string_view text, const fs::path& file, const std::string& what,
                     std::uint64_t base_offset) {
  auto at = [&](std::size_t i) { return " at byte " + std::to_string(base_offset + i); };
  if (text.substr(0, 3) == "\xEF\xBB\xBF")
    fail(file, what + " starts with a UTF-8 byte-order mark (not allowed in JSON text)");
  auto hex4 = [&](std::size_t i) -> long {
    if (i + 4 > text.size())
      return -1;
    long v = 0;
    for (std::size_t k = i; k < i + 4; ++k) {
      const char c = text[k];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
    return v;
  };
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0')
      fail(file, what + " holds a NUL byte" + at(i) + " (padding must be spaces)");
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\' && i + 1 < text.size()) {
        if (text[i + 1] == 'u') {
          const long u = hex4(i + 2);
          if (u >= 0xdc00 && u <= 0xdfff)
            fail(file, what + " has a lone UTF-16 low surrogate \\u" +
                           std::string(text.substr(i + 2, 4)) + at(i));
          if (u >= 0xd800 && u <= 0xdbff) {
            const long low = i + 11 < text.size() && text[i + 6] == '\\' && text[i + 7] == 'u'
                                 ? hex4(i + 8)
                                 : -1;
            if (low < 0xdc00 || low > 0xdfff)
              fail(file, what + " has a lone UTF-16 high surrogate \\u" +
                             std::string(text.substr(i + 2, 4)) + at(i));
            i += 10; // past the pair's low half, which is not lone
          }
        }
        ++i; // the escaped character
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        fail(file, what + " nests arrays or objects deeper than " + std::to_string(kMaxJsonDepth) +
                       " levels" + at(i));
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

// A JSON value for a message, cut to a readable length.
std::string brief(const json& v) {
  std::string text = v.dump();
  if (text.size() > 80)
    text = text.substr(0, 77) + "...";
  return text;
}

// nlohmann's parser keeps the last of duplicate keys silently, so a SAX pass finds them first.
// (A parse callback would do it in one pass but costs time quadratic in the tensor count.)
class DuplicateKeyFinder : public json::json_sax_t {
public:
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    open_objects.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!open_objects.back().insert(k).second) {
      duplicate = k;
      return false; // stop: one duplicate is enough to reject
    }
    return true;
  }
  bool end_object() override {
    open_objects.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const json::exception&) override {
    return false; // reported by the full parse below
  }
};

// Parses JSON text, rejecting duplicate keys in any object. `what` names the document in messages
// ("header", "index").
json parse_json_no_duplicates(std::string_view text, const fs::path& file, const std::string& what,
                              std::uint64_t base_offset = 0) {
  check_json_text(text, file, what, base_offset);
  DuplicateKeyFinder finder;
  json::sax_parse(text.begin(), text.end(), &finder, json::input_format_t::json, false);
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(file, what + " is not valid JSON: " + e.what());
  }
  if (!finder.duplicate.empty())
    fail(file, what + " has duplicate key '" + finder.duplicate + "' (a name may appear once)");
  return j;
}

// A JSON non-negative integer, or nullopt (negative, fractional, not a number).
std::optional<std::uint64_t> as_unsigned(const json& v) {
  if (v.is_number_unsigned())
    return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    auto s = v.get<std::int64_t>();
    if (s >= 0)
      return static_cast<std::uint64_t>(s);
  }
  return std::nullopt;
}

TensorInfo parse_tensor_entry(const fs::path& file, const std::string& name, const json& v) {
  if (name.find('\0') != std::string::npos)
    fail(file,
         "tensor name '" + name.substr(0, name.find('\0')) + "\\u0000...' holds a NUL character");
  const std::string who = "tensor '" + name + "'";
  if (!v.is_object())
    fail(file, who + " entry is " + std::string(v.type_name()) +
                   ", expected an object with dtype, shape and data_offsets");
  TensorInfo t;
  t.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string())
    fail(file, who + " has no string \"dtype\"");
  auto parsed = parse_dtype(dt->get<std::string>());
  if (!parsed)
    fail(file, who + " has unknown dtype '" + dt->get<std::string>() + "'");
  t.dtype = *parsed;

  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array())
    fail(file, who + " has no \"shape\" array");
  // Element count with overflow detection (kept within int64 so numel() is exact).
  std::uint64_t elements = 1;
  bool overflow = false;
  for (const auto& d : *sh) {
    if (d.is_number_integer() && !d.is_number_unsigned() && d.get<std::int64_t>() < 0)
      fail(file, who + " has negative dimension " + std::to_string(d.get<std::int64_t>()) +
                     " in shape " + brief(*sh));
    auto u = as_unsigned(d);
    if (!u)
      fail(file, who + " has a non-integer dimension in shape " + brief(*sh));
    if (*u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(file,
           who + " has dimension " + std::to_string(*u) + " too large in shape " + brief(*sh));
    t.shape.push_back(static_cast<std::int64_t>(*u));
    if (*u != 0 &&
        elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / *u)
      overflow = true;
    elements *= *u;
  }
  // Like the reference reader, an overflowing left-to-right prefix is rejected even if a later
  // dimension is 0.
  if (overflow)
    fail(file, who + " shape " + brief(*sh) + " has an element count that overflows 64 bits");

  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2)
    fail(file, who + " needs \"data_offsets\" [begin, end], found " +
                   (off == v.end() ? std::string("nothing") : brief(*off)));
  auto b = as_unsigned((*off)[0]);
  auto e = as_unsigned((*off)[1]);
  if (!b || !e)
    fail(file, who + " data_offsets " + brief(*off) + " are not non-negative integers");
  t.begin = *b;
  t.end = *e;
  if (t.end < t.begin)
    fail(file, who + " data_offsets " + range_text(t.begin, t.end) + " end before begin");

  const auto bits = static_cast<std::uint64_t>(dtype_bits(t.dtype));
  if (elements > std::numeric_limits<std::uint64_t>::max() / bits)
    fail(file, who + " shape " + brief(*sh) + " byte size overflows 64 bits");
  const std::uint64_t expected = (elements * bits + 7) / 8;
  if (t.end - t.begin != expected)
    fail(file, who + " data_offsets " + range_text(t.begin, t.end) + " hold " +
                   std::to_string(t.end - t.begin) + " bytes, but " +
                   std::string(dtype_name(t.dtype)) + " shape " + brief(*sh) + " needs " +
                   std::to_string(expected));
  return t;
}

} // namespace

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape)
    n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr)
    ::munmap(const_cast<std::byte*>(map_), size_);
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const fs::path& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  f->size_ = static_cast<std::uint64_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    fail(path,
         "file is " + std::to_string(f->size_) + " bytes, shorter than the 8-byte header length");
  }
  void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
  int map_err = errno;
  ::close(fd);
  if (m == MAP_FAILED)
    fail(path, std::string("cannot memory-map: ") + std::strerror(map_err));
  f->map_ = static_cast<const std::byte*>(m);

  std::uint64_t n = 0;
  const std::byte* map = f->map_;
  read_mapped(path.string(), "the header length", [&n, map] {
    for (int i = 7; i >= 0; --i)
      n = (n << 8) | std::to_integer<std::uint64_t>(map[i]);
  });
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  if (8 + n > f->size_)
    fail(path, "header bytes " + range_text(8, 8 + n) + " extend beyond the file size " +
                   std::to_string(f->size_));
  f->data_start_ = 8 + n;
  // The header is copied out of the map (under the bus-error guard) before it is parsed.
  std::string header_copy(static_cast<std::size_t>(n), '\0');
  read_mapped(path.string(), "the header", [&header_copy, map] {
    std::memcpy(header_copy.data(), map + 8, header_copy.size());
  });
  std::string_view text(header_copy);
  if (auto bad = find_invalid_utf8(text); bad != std::string_view::npos)
    fail(path, "header is not valid UTF-8 (byte " + std::to_string(8 + bad) + " of the file)");

  json header = parse_json_no_duplicates(text, path, "header", 8);
  if (!header.is_object())
    fail(path, "header is " + std::string(header.type_name()) + ", expected a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      const json& md = it.value();
      if (md.is_null())
        continue;
      if (!md.is_object())
        fail(path, "__metadata__ is " + std::string(md.type_name()) + ", expected an object");
      for (auto m2 = md.begin(); m2 != md.end(); ++m2) {
        if (!m2.value().is_string())
          fail(path, "__metadata__ key '" + m2.key() + "' is " +
                         std::string(m2.value().type_name()) + ", expected a string");
        f->metadata_[m2.key()] = m2.value().get<std::string>();
      }
      continue;
    }
    f->tensors_.push_back(parse_tensor_entry(path, it.key(), it.value()));
  }

  // Contiguity: sorted by offsets, the tensors tile [0, data size) with no gap or overlap.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(f->tensors_.size());
  for (const auto& t : f->tensors_)
    by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t cursor = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : by_offset) {
    if (t->begin != cursor) {
      std::string after =
          prev ? " after tensor '" + prev->name + "' " + range_text(prev->begin, prev->end)
               : std::string(" (data starts at 0)");
      fail(path, "tensor '" + t->name + "' data_offsets " + range_text(t->begin, t->end) +
                     (t->begin > cursor
                          ? " leave a gap of " + std::to_string(t->begin - cursor) + " bytes"
                          : " overlap the previous tensor") +
                     after);
    }
    cursor = t->end;
    prev = t;
  }
  const std::uint64_t data_size = f->size_ - f->data_start_;
  if (cursor != data_size)
    fail(path, "tensors cover data bytes " + range_text(0, cursor) + " but the file holds " +
                   std::to_string(data_size) + " data bytes after the " + std::to_string(n) +
                   "-byte header (" +
                   (cursor < data_size ? std::to_string(data_size - cursor) + " trailing bytes"
                                       : std::to_string(cursor - data_size) + " bytes missing") +
                   ")");

  std::sort(f->tensors_.begin(), f->tensors_.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  return f;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it == tensors_.end() || it->name != name)
    return nullptr;
  return &*it;
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo& t) const {
  if (t.end < t.begin || data_start_ + t.end > size_)
    throw_internal_error(path_.string() + ": tensor '" + t.name + "' range " +
                         range_text(t.begin, t.end) + " is not inside this file");
  return {map_ + data_start_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

// ---------------------------------------------------------------------------------------------
// TensorStore

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_text_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      ::close(fd);
      fail(path, std::string("read error: ") + std::strerror(err));
    }
    if (r == 0)
      break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return out;
}

} // namespace

TensorStore TensorStore::open(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw_input_error(path.string() + ": no such file or folder");

  TensorStore store;
  fs::path target = path;
  if (fs::is_directory(path, ec)) {
    store.root_ = path;
    if (fs::exists(path / "model.safetensors.index.json")) {
      target = path / "model.safetensors.index.json";
    } else if (fs::exists(path / "model.safetensors")) {
      target = path / "model.safetensors";
    } else {
      std::vector<fs::path> files, indexes;
      for (const auto& e : fs::directory_iterator(path)) {
        const std::string n = e.path().filename().string();
        if (ends_with(n, ".safetensors"))
          files.push_back(e.path());
        else if (ends_with(n, ".safetensors.index.json"))
          indexes.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      std::sort(indexes.begin(), indexes.end());
      if (indexes.size() == 1) {
        target = indexes.front();
      } else if (files.size() == 1 && indexes.empty()) {
        target = files.front();
      } else if (files.empty() && indexes.empty()) {
        throw_input_error(path.string() + ": folder holds no .safetensors file and no index");
      } else {
        std::string list;
        for (const auto& f : indexes.empty() ? files : indexes)
          list += (list.empty() ? "" : ", ") + f.filename().string();
        throw_input_error(path.string() + ": folder holds several " +
                          (indexes.empty() ? std::string(".safetensors files") : "index files") +
                          " and no model.safetensors.index.json; open one of them: " + list);
      }
    }
  } else {
    store.root_ = path.has_parent_path() ? path.parent_path() : fs::path(".");
  }
  store.opened_ = target;

  const std::string tname = target.filename().string();
  if (!ends_with(tname, ".json")) {
    auto file = SafetensorsFile::open(target);
    for (const auto& t : file->tensors())
      store.index_.emplace(t.name, Entry{file.get(), &t});
    store.files_.push_back(std::move(file));
    return store;
  }

  // Sharded: index.json -> {"metadata": ..., "weight_map": {tensor: shard}}.
  json index = parse_json_no_duplicates(read_text_file(target), target, "index");
  if (!index.is_object())
    fail(target, "index is " + std::string(index.type_name()) + ", expected a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object())
    fail(target, "index has no \"weight_map\" object");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");

  // Open each distinct shard once.
  std::map<std::string, const SafetensorsFile*> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      fail(target, "weight_map entry for tensor '" + it.key() + "' is " +
                       std::string(it.value().type_name()) + ", expected a shard file name");
    const std::string shard = it.value().get<std::string>();
    if (shards.count(shard))
      continue;
    const fs::path sp = dir / shard;
    if (!fs::is_regular_file(sp, ec))
      fail(target, "shard '" + shard + "' (mapped for tensor '" + it.key() +
                       "') does not exist at " + sp.string());
    auto file = SafetensorsFile::open(sp);
    shards[shard] = file.get();
    store.files_.push_back(std::move(file));
  }

  // A tensor stored in two shards is ambiguous whichever one the map names.
  std::map<std::string_view, const SafetensorsFile*> stored;
  for (const auto& file : store.files_) {
    for (const auto& t : file->tensors()) {
      auto [pos, inserted] = stored.emplace(t.name, file.get());
      if (!inserted)
        fail(target, "tensor '" + t.name +
                         "' is stored in two shards: " + pos->second->path().filename().string() +
                         " and " + file->path().filename().string());
    }
  }

  for (auto it = wm->begin(); it != wm->end(); ++it) {
    const SafetensorsFile* file = shards.at(it.value().get<std::string>());
    const TensorInfo* info = file->find(it.key());
    if (info == nullptr)
      fail(target, "tensor '" + it.key() + "' is mapped to shard '" +
                       it.value().get<std::string>() + "' but that shard does not contain it");
    store.index_.emplace(it.key(), Entry{file, info});
  }
  // Policy: a shard tensor missing from the weight_map means the index and shards disagree
  // (stale index or wrong folder); it is rejected rather than silently hidden.
  for (const auto& [name, file] : stored)
    if (!store.index_.count(name))
      fail(target, "tensor '" + std::string(name) + "' is stored in shard '" +
                       file->path().filename().string() + "' but missing from the weight_map");
  return store;
}

bool TensorStore::contains(std::string_view name) const {
  return index_.find(name) != index_.end();
}

const TensorInfo& TensorStore::info(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw_input_error("tensor " + std::string(name) + " not found in " + opened_.string());
  return *it->second.info;
}

std::span<const std::byte> TensorStore::bytes(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw_input_error("tensor " + std::string(name) + " not found in " + opened_.string());
  return it->second.file->bytes(*it->second.info);
}

const fs::path& TensorStore::file_of(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw_input_error("tensor " + std::string(name) + " not found in " + opened_.string());
  return it->second.file->path();
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [n, e] : index_)
    out.push_back(n);
  return out;
}

std::uint64_t TensorStore::bytes_on_disk() const {
  std::uint64_t s = 0;
  for (const auto& f : files_)
    s += f->file_size();
  return s;
}

void read_mapped(const std::string& file, const std::string& what, void (*read)(void*),
                 void* context) {
  install_bus_handler();
  sigjmp_buf jump;
  sigjmp_buf* const outer = t_bus_jump;
  if (sigsetjmp(jump, 1) != 0) {
    t_bus_jump = outer;
    throw_input_error(file + ": bus error reading " + what +
                      " from the memory-mapped file: it was truncated or replaced while being "
                      "read (another process wrote to it?)");
  }
  t_bus_jump = &jump;
  try {
    read(context);
  } catch (...) {
    t_bus_jump = outer;
    throw;
  }
  t_bus_jump = outer;
}

void release_pages(std::span<const std::byte> bytes) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<std::uintptr_t>(bytes.data());
  auto end = begin + bytes.size();
  begin = (begin + page - 1) / page * page;
  end = end / page * page;
  if (end > begin) // advice only: a failure changes nothing but memory use
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

} // namespace routerscope::io
