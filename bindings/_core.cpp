// The one pybind11 file: turns numpy buffers into pointers, releases the GIL
// around every kernel, and hands results back without copying. Validation with
// friendly messages lives in the Python layer; the checks here only guard memory.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "nash_index/cluster_scan.hpp"
#include "nash_index/dedup.hpp"
#include "nash_index/index_file.hpp"
#include "nash_index/index_kinds.hpp"
#include "nash_index/mih.hpp"
#include "nash_index/mih_builder.hpp"
#include "nash_index/search_gate.hpp"
#include "nash_index/simd.hpp"
#include "nash_index/threads.hpp"

namespace py = pybind11;
namespace ni = nash_index;

namespace {

// dtype equality, not identity: numpy guarantees only equal dtypes, and arrays
// that went through pickle carry their own (equal) descriptor. A byte-swapped
// dtype is not equivalent, so '>i8' ids are refused, never misread.
template <class T>
bool has_dtype(const py::array& a) {
  return py::detail::npy_api::get().PyArray_EquivTypes_(a.dtype().ptr(), py::dtype::of<T>().ptr());
}

// Codes: uint8, C-contiguous, shape (n, code_size). Never converted or copied.
const uint8_t* code_rows(const py::array& a, size_t code_size, const char* name, size_t* n) {
  if (!has_dtype<uint8_t>(a)) throw py::type_error(std::string(name) + " must have dtype uint8");
  if (a.ndim() != 2 || static_cast<size_t>(a.shape(1)) != code_size)
    throw py::value_error(std::string(name) + " must have shape (n, " + std::to_string(code_size) + ")");
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
  *n = static_cast<size_t>(a.shape(0));
  return static_cast<const uint8_t*>(a.data());
}

const ni::idx_t* id_values(const py::array& a, size_t expected, const char* name) {
  if (!has_dtype<int64_t>(a)) throw py::type_error(std::string(name) + " must have dtype int64");
  if (a.ndim() != 1 || static_cast<size_t>(a.shape(0)) != expected)
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(expected) + ",)");
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be contiguous");
  return static_cast<const ni::idx_t*>(a.data());
}

// Moves a vector into a numpy array that owns it (no copy); `shape` defaults to 1-D.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape = {}) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  if (shape.empty()) shape = {static_cast<py::ssize_t>(heap->size())};
  return py::array_t<T>(shape, heap->data(), owner);
}

py::tuple range_tuple(ni::RangeResult&& r) {
  std::vector<int64_t> lims(r.lims.begin(), r.lims.end());
  return py::make_tuple(to_numpy(std::move(lims)), to_numpy(std::move(r.distances)), to_numpy(std::move(r.ids)));
}

// Per-query work of a search as numpy arrays (probes, candidates, scanned).
py::tuple work_arrays(const std::vector<ni::SearchWork>& work) {
  std::vector<int64_t> probes, candidates;
  std::vector<uint8_t> scanned;
  for (const ni::SearchWork& w : work) {
    probes.push_back(static_cast<int64_t>(w.probes));
    candidates.push_back(static_cast<int64_t>(w.candidates));
    scanned.push_back(w.scanned ? 1 : 0);
  }
  return py::make_tuple(to_numpy(std::move(probes)), to_numpy(std::move(candidates)), to_numpy(std::move(scanned)));
}

// An index of any kind plus a reader/writer lock: searches run concurrently,
// mutations alone. Polymorphic, so that pybind11 hands Python the most derived
// binding class (PyMih for a MultiIndexHashing).
struct PyIndex {
  std::unique_ptr<ni::CodeIndex> index;
  mutable std::shared_mutex lock;
  explicit PyIndex(std::unique_ptr<ni::CodeIndex> i) : index(std::move(i)) {}
  virtual ~PyIndex() = default;
};

// A MultiIndexHashing: what every kind has, plus its tables and fallback settings.
struct PyMih : PyIndex {
  using PyIndex::PyIndex;
  ni::MultiIndexHashing& mih() const { return static_cast<ni::MultiIndexHashing&>(*index); }
};

// A ClusterScan: what every kind has, plus the clusters in use.
struct PyClusterScan : PyIndex {
  using PyIndex::PyIndex;
  const ni::ClusterScan& scan() const { return static_cast<const ni::ClusterScan&>(*index); }
};

std::unique_ptr<PyIndex> wrap(std::unique_ptr<ni::CodeIndex> index) {
  if (dynamic_cast<ni::MultiIndexHashing*>(index.get())) return std::make_unique<PyMih>(std::move(index));
  if (dynamic_cast<ni::ClusterScan*>(index.get())) return std::make_unique<PyClusterScan>(std::move(index));
  return std::make_unique<PyIndex>(std::move(index));
}

// Runs fn(index) without the GIL, under the read (shared) or write lock.
template <class Fn>
auto read_locked(const PyIndex& self, Fn&& fn) {
  py::gil_scoped_release release;
  std::shared_lock<std::shared_mutex> guard(self.lock);
  return fn(static_cast<const ni::CodeIndex&>(*self.index));
}
// read_locked for a search: it first waits for a slot of the search gate (asleep, without the
// lock, when more searches run than the gate admits).
template <class Fn>
auto search_locked(const PyIndex& self, Fn&& fn) {
  py::gil_scoped_release release;
  const ni::SearchGate::Pass pass(ni::SearchGate::global());
  std::shared_lock<std::shared_mutex> guard(self.lock);
  return fn(static_cast<const ni::CodeIndex&>(*self.index));
}
template <class Fn>
auto write_locked(PyIndex& self, Fn&& fn) {
  py::gil_scoped_release release;
  std::unique_lock<std::shared_mutex> guard(self.lock);
  return fn(*self.index);
}

// k-NN of nq query rows at q (already checked), the results as new numpy arrays.
py::tuple knn_rows(const PyIndex& self, const uint8_t* q, size_t nq, size_t k, int num_threads, bool with_work) {
  py::array_t<ni::dist_t> distances({nq, k});
  py::array_t<ni::idx_t> ids({nq, k});
  ni::dist_t* d = distances.mutable_data();
  ni::idx_t* i = ids.mutable_data();
  std::vector<ni::SearchWork> work(with_work ? nq : 0);
  ni::SearchWork* w = with_work ? work.data() : nullptr;
  search_locked(self, [&](const ni::CodeIndex& ix) { ix.search(q, nq, k, d, i, num_threads, w); });
  if (!with_work) return py::make_tuple(distances, ids);
  return py::make_tuple(distances, ids, work_arrays(work));
}

py::tuple knn_search(const PyIndex& self, const py::array& queries, size_t k, int num_threads, bool with_work) {
  size_t nq = 0;
  const uint8_t* q = code_rows(queries, self.index->code_size(), "queries", &nq);
  if (k == 0 || k > ni::kMaxK) throw py::value_error("k must be between 1 and " + std::to_string(ni::kMaxK));
  return knn_rows(self, q, nq, k, num_threads, with_work);
}

// A plain int (not a bool or a subclass) in [low, high], else false.
bool plain_int_in(py::handle h, long long low, long long high, long long* out) {
  if (!PyLong_CheckExact(h.ptr())) return false;
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
  if (overflow != 0 || v < low || v > high) return false;
  *out = v;
  return true;
}

// The common call of a web service, answered without a Python-level check (each one costs
// the caller the GIL for longer, and many callers then queue on it): queries exactly a numpy
// uint8 array, C-contiguous, one row or rows of code_size bytes; k and num_threads plain ints
// in range (num_threads may be None); a result under 16 MiB. Anything else returns None, and
// the Python layer runs its full checks and messages (index/base.py).
py::object search_common(const PyIndex& self, py::handle queries, py::handle k, py::handle num_threads) {
  if (Py_TYPE(queries.ptr()) != py::detail::npy_api::get().PyArray_Type_) return py::none();
  const auto a = py::reinterpret_borrow<py::array>(queries);
  const size_t code_size = self.index->code_size();
  if (!has_dtype<uint8_t>(a) || !(a.flags() & py::array::c_style)) return py::none();
  if ((a.ndim() != 1 && a.ndim() != 2) || static_cast<size_t>(a.shape(a.ndim() - 1)) != code_size) return py::none();
  const size_t nq = a.ndim() == 2 ? static_cast<size_t>(a.shape(0)) : 1;
  long long kk = 0, threads = 0;
  if (!plain_int_in(k, 1, static_cast<long long>(ni::kMaxK), &kk)) return py::none();
  if (!num_threads.is_none() && !plain_int_in(num_threads, 1, ni::kMaxThreads, &threads)) return py::none();
  constexpr size_t kSmallResult = size_t{16} << 20;  // bytes of distances + ids
  if (nq * static_cast<size_t>(kk) * 12 >= kSmallResult) return py::none();
  return knn_rows(self, static_cast<const uint8_t*>(a.data()), nq, static_cast<size_t>(kk),
                  static_cast<int>(threads), false);
}

py::tuple range_search(const PyIndex& self, const py::array& queries, int radius, int num_threads, bool with_work) {
  size_t nq = 0;
  const uint8_t* q = code_rows(queries, self.index->code_size(), "queries", &nq);
  std::vector<ni::SearchWork> work(with_work ? nq : 0);
  ni::SearchWork* w = with_work ? work.data() : nullptr;
  py::tuple out = range_tuple(search_locked(
      self, [&](const ni::CodeIndex& ix) { return ix.range_search(q, nq, radius, num_threads, w); }));
  if (!with_work) return out;
  return py::make_tuple(out[0], out[1], out[2], work_arrays(work));
}

// The upkeep protocol of CodeIndex: prepared under the read lock, installed
// under the write lock. A change in between voids it; it is redone a few
// times at most (the index is exact without it, only slower). Returns whether
// the index is up to date. What install replaced is freed here, unlocked.
bool upkeep_aside(PyIndex& s, bool force) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<ni::CodeIndex::Upkeep> prepared =
        read_locked(s, [&](const ni::CodeIndex& ix) { return ix.prepare_upkeep(force); });
    if (!prepared) return true;
    if (write_locked(s, [&](ni::CodeIndex& ix) { return ix.install_upkeep(*prepared); })) force = false;
  }
  return !force;
}

void add_codes(PyIndex& self, const py::array& codes, const py::object& ids) {
  size_t n = 0;
  const uint8_t* c = code_rows(codes, self.index->code_size(), "codes", &n);
  const ni::idx_t* id = ids.is_none() ? nullptr : id_values(ids.cast<py::array>(), n, "ids");
  write_locked(self, [&](ni::CodeIndex& ix) { ix.add(c, n, id); });
  upkeep_aside(self, false);
}

size_t remove_ids(PyIndex& self, const py::array& ids) {
  const size_t n = ids.ndim() == 1 ? static_cast<size_t>(ids.shape(0)) : 0;  // shape(0) of a 0-d array throws
  const ni::idx_t* id = id_values(ids, n, "ids");
  const size_t removed = write_locked(self, [&](ni::CodeIndex& ix) { return ix.remove(id, n); });
  upkeep_aside(self, false);
  return removed;
}

// A copy of the stored codes, taken under the read lock: a view would dangle
// once add() grows (reallocates) the store.
py::array codes_copy(const PyIndex& self) {
  size_t n = 0, cs = 0;
  std::vector<uint8_t> codes = read_locked(self, [&](const ni::CodeIndex& ix) {
    n = ix.ntotal();
    cs = ix.code_size();
    return std::vector<uint8_t>(ix.codes(), ix.codes() + n * cs);
  });
  return to_numpy(std::move(codes), {static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(cs)});
}

py::object reconstruct(const PyIndex& s, ni::idx_t id) {
  std::vector<uint8_t> code(s.index->code_size());
  const bool found = read_locked(s, [&](const ni::CodeIndex& ix) { return ix.reconstruct(id, code.data()); });
  if (!found) return py::none();
  return to_numpy(std::move(code));
}

py::bytes serialize(const PyIndex& self) {
  const std::vector<uint8_t> bytes = read_locked(self, [](const ni::CodeIndex& ix) { return ix.serialize(); });
  return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Every kind's methods, bound once.
void bind_index(py::module_& m) {
  using G = PyIndex;
  py::class_<G>(m, "CodeIndex")
      .def_property_readonly("nbits", [](const G& s) { return s.index->nbits(); })
      .def_property_readonly("code_size", [](const G& s) { return s.index->code_size(); })
      .def_property_readonly("ntotal", [](const G& s) { return s.index->ntotal(); })
      .def_property_readonly("is_mapped", [](const G& s) { return s.index->is_mapped(); })
      .def_property_readonly("kind", [](const G& s) { return ni::find_kind(s.index->kind())->name; })
      .def("add", &add_codes, py::arg("codes"), py::arg("ids") = py::none())
      .def("remove", &remove_ids, py::arg("ids"))
      .def("reset", [](G& s) { write_locked(s, [](ni::CodeIndex& ix) { ix.reset(); }); })
      .def("search", &knn_search, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0,
           py::arg("with_work") = false)
      .def("search_common", &search_common, py::arg("queries"), py::arg("k"), py::arg("num_threads"))
      .def("range_search", &range_search, py::arg("queries"), py::arg("radius"), py::arg("num_threads") = 0,
           py::arg("with_work") = false)
      .def("codes", &codes_copy)
      .def("ids", [](const G& s) { return to_numpy(read_locked(s, [](const ni::CodeIndex& ix) { return ix.ids(); })); })
      .def("reconstruct", &reconstruct, py::arg("id"))
      .def("save", [](const G& s, const std::string& path) {
        read_locked(s, [&](const ni::CodeIndex& ix) { ix.save(path); });
      }, py::arg("path"))
      .def("serialize", &serialize);
}

// The registry: which kinds exist, and any of them made or loaded by name or file.
void bind_kinds(py::module_& m) {
  m.def("index_kinds", [] {
    std::vector<std::pair<uint32_t, std::string>> kinds;
    for (const ni::IndexKindInfo& kind : ni::index_kinds()) kinds.emplace_back(kind.tag, kind.name);
    return kinds;
  });
  m.def("create_index", [](const std::string& kind, int nbits, const std::map<std::string, int64_t>& options) {
    return wrap(ni::create_index(kind, nbits, ni::IndexOptions(options)));
  }, py::arg("kind"), py::arg("nbits"), py::arg("options") = std::map<std::string, int64_t>{});
  // A dedup kind's groups (None for other kinds): distinct codes, groups with dead ones, id-list bytes.
  m.def("dedup_info", [](const PyIndex& s) -> py::object {
    const auto* dedup = dynamic_cast<const ni::DedupIndex*>(s.index.get());
    if (!dedup) return py::none();
    const auto info = read_locked(s, [&](const ni::CodeIndex&) {
      return std::array<size_t, 3>{dedup->distinct(), dedup->groups(), dedup->list_bytes()};
    });
    py::dict d;
    d["distinct"] = info[0];
    d["groups"] = info[1];
    d["list_bytes"] = info[2];
    return d;
  }, py::arg("index"));
  m.def("load_index", [](const std::shared_ptr<ni::IndexFile>& file) {
    std::unique_ptr<ni::CodeIndex> index;
    {
      py::gil_scoped_release release;
      index = ni::load_index(file);
    }
    return wrap(std::move(index));
  }, py::arg("file"));
}

py::dict mih_params(const PyMih& s) {
  const ni::MihParams p = s.mih().params();
  py::dict d;
  d["fallback"] = ni::scan_fallback_name(p.fallback);
  d["probe_cost"] = p.probe_cost;
  d["scan_cost_single"] = p.scan_cost_single;
  d["scan_cost_batch"] = p.scan_cost_batch;
  return d;
}

void mih_set_params(PyMih& s, const std::string& fallback, double probe_cost, double scan_single, double scan_batch) {
  ni::MihParams p;
  p.fallback = ni::parse_scan_fallback(fallback);
  p.probe_cost = probe_cost;
  p.scan_cost_single = scan_single;
  p.scan_cost_batch = scan_batch;
  write_locked(s, [&](ni::CodeIndex&) { s.mih().set_params(p); });
}

void mih_optimize(PyMih& s, int m) {
  write_locked(s, [&](ni::CodeIndex&) { s.mih().request_m(m); });
  if (!upkeep_aside(s, true)) write_locked(s, [&](ni::CodeIndex&) { s.mih().optimize(-1); });
}

// What only MultiIndexHashing has; made by create_index("mih", ...).
void bind_mih(py::module_& m) {
  using Mih = ni::MultiIndexHashing;
  py::class_<PyMih, PyIndex>(m, "MultiIndexHashing")
      .def_property_readonly("m", [](const PyMih& s) { return s.mih().m(); })
      .def_property_readonly("m_is_auto", [](const PyMih& s) { return s.mih().m_is_auto(); })
      .def_property_readonly("max_key_bits", [](const PyMih& s) { return s.mih().max_key_bits(); })
      .def_property_readonly("indexed", [](const PyMih& s) { return s.mih().indexed(); })
      .def_property_readonly("tombstones", [](const PyMih& s) { return s.mih().tombstones(); })
      .def_property_readonly("segments", [](const PyMih& s) { return s.mih().segments(); })
      .def_property_readonly("table_bytes", [](const PyMih& s) { return s.mih().table_bytes(); })
      .def("substring_bits", [](const PyMih& s) {
        std::vector<int> bits;
        for (int j = 0; j < s.mih().m(); ++j) bits.push_back(s.mih().substring_bits(j));
        return bits;
      })
      .def_static("auto_m", &Mih::auto_m, py::arg("nbits"), py::arg("n"))
      .def("get_params", &mih_params)
      .def("set_params", &mih_set_params, py::arg("fallback"), py::arg("probe_cost"), py::arg("scan_cost_single"),
           py::arg("scan_cost_batch"))
      .def("optimize", &mih_optimize, py::arg("m") = -1)
      .def_property_static(
          "visited_bitmap_limit", [](py::object) { return Mih::visited_bitmap_limit(); },
          [](py::object, size_t n) { Mih::set_visited_bitmap_limit(n); })
      .def_property_static(
          "probe_pipeline", [](py::object) { return Mih::probe_pipeline(); },
          [](py::object, int mode) { Mih::set_probe_pipeline(mode); })
      .def_property_static(
          "split_min_probes", [](py::object) { return Mih::split_min_probes(); },
          [](py::object, size_t n) { Mih::set_split_min_probes(n); })
      .def_property_readonly_static("split_radii", [](py::object) { return Mih::split_radii(); })
      .def_property_static(
          "max_tail", [](py::object) { return Mih::max_tail(); }, [](py::object, size_t n) { Mih::set_max_tail(n); });
}

// What only ClusterScan has; made by create_index("cluster", ...).
void bind_cluster_scan(py::module_& m) {
  py::class_<PyClusterScan, PyIndex>(m, "ClusterScan")
      .def_property_readonly("clusters", [](const PyClusterScan& s) {
        return read_locked(s, [&](const ni::CodeIndex&) { return s.scan().clusters(); });
      });
}

void bind_files(py::module_& m) {
  py::class_<ni::IndexFile, std::shared_ptr<ni::IndexFile>>(m, "IndexFile")
      .def_property_readonly("kind", [](const ni::IndexFile& f) { return static_cast<uint32_t>(f.info().kind); })
      .def_property_readonly("nbits", [](const ni::IndexFile& f) { return f.info().nbits; })
      .def_property_readonly("ntotal", [](const ni::IndexFile& f) { return f.info().ntotal; })
      .def_property_readonly("is_mapped", &ni::IndexFile::is_mapped)
      .def("has_section", &ni::IndexFile::has_section, py::arg("tag"))
      .def("damaged_sections", [](const ni::IndexFile& f) {
        py::gil_scoped_release release;
        return f.damaged_sections();
      });
  m.def("open_index_file", [](const std::string& path, bool mmap, bool verify, bool populate) {
    py::gil_scoped_release release;
    return ni::IndexFile::open(path, mmap, verify, populate);
  }, py::arg("path"), py::arg("mmap") = false, py::arg("verify") = true, py::arg("populate") = false);
  // Any contiguous bytes-like object (bytes, bytearray, memoryview), copied once into the index.
  m.def("index_file_from_bytes", [](const py::buffer& data) {
    const py::buffer_info info = data.request();
    if (info.ndim != 1 || info.itemsize != 1 || info.strides[0] != 1)
      throw py::type_error("data must be contiguous bytes");
    const uint8_t* p = static_cast<const uint8_t*>(info.ptr);
    py::gil_scoped_release release;  // the caller keeps `data` alive; parsing verifies every checksum
    return ni::IndexFile::from_bytes(p, static_cast<size_t>(info.size));
  }, py::arg("data"));
  // For tests of the writer: a file of these (tag, bytes) sections, as an index would write it.
  m.def("_write_index_file", [](const std::string& path, uint32_t kind, uint32_t nbits, uint64_t ntotal,
                                const std::vector<std::pair<uint32_t, std::string>>& sections) {
    py::gil_scoped_release release;
    ni::write_sections_file(path, {kind, nbits, ntotal, 0}, sections);
  }, py::arg("path"), py::arg("kind"), py::arg("nbits"), py::arg("ntotal"), py::arg("sections"));
  m.attr("FORMAT_VERSION") = ni::kFormatVersion;
  m.attr("MAX_SECTIONS") = ni::kMaxSections;
}

// The builder is used by one thread at a time (the Python layer's contract);
// progress counters may be read from any thread.
void bind_mih_builder(py::module_& m) {
  using B = ni::MihFileBuilder;
  py::class_<B>(m, "MihFileBuilder")
      .def(py::init<const std::string&, int, int, int>(), py::arg("path"), py::arg("nbits"), py::arg("m") = 0,
           py::arg("max_key_bits") = 0)
      .def("append", [](B& b, const py::array& codes) {
        size_t n = 0;
        const uint8_t* rows = code_rows(codes, ni::code_size_for(b.nbits()), "codes", &n);
        py::gil_scoped_release release;
        b.append(rows, n);
      }, py::arg("codes"))
      .def("finish", [](B& b) {
        py::gil_scoped_release release;
        b.finish();
      })
      .def("cancel", [](B& b) {
        py::gil_scoped_release release;  // waits for a commit under way
        return b.cancel();
      })
      .def("close", &B::close)
      .def_property_readonly("count", &B::count)
      .def_property_readonly("progress_done", &B::progress_done)
      .def_property_readonly("progress_total", &B::progress_total);
}

void bind_runtime(py::module_& m) {
  // The automatic count (`count`), its two choices and what picked one (ClusterScanIndex.auto_clusters,
  // bench/bench_cluster_count.py).
  m.def("cluster_auto_choice", [](const py::array& codes, size_t code_size) {
    size_t n = 0;
    const uint8_t* rows = code_rows(codes, code_size, "codes", &n);
    ni::ClusterScan::AutoChoice c{};
    {
      py::gil_scoped_release release;
      c = ni::ClusterScan::auto_choice(rows, n, static_cast<int>(code_size * 8));
    }
    return py::dict(py::arg("from_groups") = c.from_groups, py::arg("from_size") = c.from_size,
                    py::arg("tight_share") = c.tight_share, py::arg("tight") = c.tight,
                    py::arg("visited_share") = c.visited_share, py::arg("groups_cost") = c.groups_cost,
                    py::arg("size_cost") = c.size_cost, py::arg("fell_back") = c.fell_back, py::arg("count") = c.count());
  }, py::arg("codes"), py::arg("code_size"));
  // For tests of the kernels at positions past 2^31 (codes: any buffer, e.g. a sparse memmap).
  m.def("_gather_distances", [](const py::array& codes, const py::array& positions, const py::array& query) {
    size_t n = 0;
    const size_t code_size = static_cast<size_t>(query.size());
    if (!has_dtype<uint8_t>(query) || query.ndim() != 1 || !(query.flags() & py::array::c_style))
      throw py::type_error("query must be a contiguous 1-D uint8 array");
    const uint8_t* rows = code_rows(codes, code_size, "codes", &n);
    if (!has_dtype<uint32_t>(positions) || positions.ndim() != 1 || !(positions.flags() & py::array::c_style))
      throw py::type_error("positions must be a contiguous 1-D uint32 array");
    const uint32_t* pos = static_cast<const uint32_t*>(positions.data());
    const size_t count = static_cast<size_t>(positions.shape(0));
    for (size_t i = 0; i < count; ++i)
      if (pos[i] >= n) throw py::value_error("positions must be < len(codes)");
    std::vector<int32_t> out(count);
    {
      py::gil_scoped_release release;
      ni::gather_distances(static_cast<const uint8_t*>(query.data()), rows, pos, count, code_size, out.data());
    }
    return to_numpy(std::move(out));
  }, py::arg("codes"), py::arg("positions"), py::arg("query"));
  // For tests of the centre kernels, int32 or (as_bytes, codes of at most 248 bits) bytes:
  // (distances, least, first code at the least).
  m.def("_all_distances", [](const py::array& codes, const py::array& query, bool as_bytes) -> py::tuple {
    size_t n = 0;
    const size_t code_size = static_cast<size_t>(query.size());
    if (!has_dtype<uint8_t>(query) || query.ndim() != 1 || !(query.flags() & py::array::c_style))
      throw py::type_error("query must be a contiguous 1-D uint8 array");
    const uint8_t* rows = code_rows(codes, code_size, "codes", &n);
    if (n == 0) throw py::value_error("codes must hold at least one code");
    if (as_bytes && code_size > 31) throw py::value_error("as_bytes needs codes of at most 248 bits");
    const auto* q = static_cast<const uint8_t*>(query.data());
    size_t nearest = 0;
    if (as_bytes) {
      std::vector<uint8_t> out((n + 31) / 32 * 32);  // the kernel writes whole vectors
      uint8_t least = 0;
      {
        py::gil_scoped_release release;
        least = ni::distances_to_all_u8(q, rows, n, code_size, out.data(), &nearest);
      }
      out.resize(n);
      return py::make_tuple(to_numpy(std::move(out)), int(least), nearest);
    }
    std::vector<int32_t> out(n);
    int32_t least = 0;
    {
      py::gil_scoped_release release;
      least = ni::distances_to_all(q, rows, n, code_size, out.data(), &nearest);
    }
    return py::make_tuple(to_numpy(std::move(out)), least, nearest);
  }, py::arg("codes"), py::arg("query"), py::arg("as_bytes") = false);
  // For tests of the candidate kernel: the indexes i with lower[i] - minus[i] <= tau.
  m.def("_within_u8", [](const py::array_t<uint8_t, py::array::c_style>& lower,
                         const py::array_t<uint8_t, py::array::c_style>& minus, int32_t tau) {
    if (lower.ndim() != 1 || minus.ndim() != 1 || lower.size() != minus.size())
      throw py::value_error("lower and minus must be 1-D arrays of one length");
    std::vector<uint32_t> out(static_cast<size_t>(lower.size()));
    const size_t m = ni::indexes_within_u8(lower.data(), minus.data(), out.size(), tau, out.data());
    out.resize(m);
    return to_numpy(std::move(out));
  }, py::arg("lower"), py::arg("minus"), py::arg("tau"));
  m.def("simd_level", [] { return std::string(ni::simd_level_name(ni::active_simd_level())); });
  m.def("detected_simd_level", [] { return std::string(ni::simd_level_name(ni::detected_simd_level())); });
  m.def("set_simd_level", [](const std::string& name) { ni::set_simd_level(ni::parse_simd_level(name)); },
        py::arg("name"));
  // Limits of the core, for the Python checks (one home: these constants).
  m.attr("MAX_BITS") = ni::kMaxBits;
  m.attr("MAX_K") = ni::kMaxK;
  m.attr("MAX_THREADS") = ni::kMaxThreads;
  m.attr("MAX_SUBSTRING_BITS") = ni::kMaxSubstringBits;
  m.attr("SCAN_FALLBACKS") = py::tuple(py::cast(ni::scan_fallback_names()));
  m.def("get_num_threads", [] { return ni::num_threads(); });
  m.def("set_num_threads", [](int n) {
    py::gil_scoped_release release;
    ni::set_num_threads(n);
  }, py::arg("n"));
  m.def("get_search_slots", [] { return ni::SearchGate::global().slots(); });
  m.def("set_search_slots", [](int n) { ni::SearchGate::global().set_slots(n); }, py::arg("n"));
  m.def("search_gate_waits", [] { return ni::SearchGate::global().waits(); });
  m.def("sliced_batch_from", [](int nbits, size_t codes_bytes) { return ni::sliced_batch_from(nbits, codes_bytes); },
        py::arg("nbits"), py::arg("codes_bytes") = 0);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "nash_index C++ core (private; use the nash_index package)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ni::IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });
  bind_runtime(m);
  bind_files(m);
  bind_index(m);
  bind_kinds(m);
  bind_mih(m);
  bind_cluster_scan(m);
  bind_mih_builder(m);
}
