// The one pybind11 file: turns numpy buffers into pointers, releases the GIL
// around every kernel, and hands results back without copying. Validation with
// friendly messages lives in the Python layer; the checks here only guard memory.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "nash_index/flat_index.hpp"
#include "nash_index/index_file.hpp"
#include "nash_index/mih.hpp"
#include "nash_index/simd.hpp"
#include "nash_index/thread_pool.hpp"

namespace py = pybind11;
namespace ni = nash_index;

namespace {

// Codes: uint8, C-contiguous, shape (n, code_size). Never converted or copied.
const uint8_t* code_rows(const py::array& a, size_t code_size, const char* name, size_t* n) {
  if (!a.dtype().is(py::dtype::of<uint8_t>())) throw py::type_error(std::string(name) + " must have dtype uint8");
  if (a.ndim() != 2 || static_cast<size_t>(a.shape(1)) != code_size)
    throw py::value_error(std::string(name) + " must have shape (n, " + std::to_string(code_size) + ")");
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
  *n = static_cast<size_t>(a.shape(0));
  return static_cast<const uint8_t*>(a.data());
}

const ni::idx_t* id_values(const py::array& a, size_t expected, const char* name) {
  if (!a.dtype().is(py::dtype::of<int64_t>())) throw py::type_error(std::string(name) + " must have dtype int64");
  if (a.ndim() != 1 || static_cast<size_t>(a.shape(0)) != expected)
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(expected) + ",)");
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be contiguous");
  return static_cast<const ni::idx_t*>(a.data());
}

// Moves a vector into a numpy array that owns it (no copy).
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({heap->size()}, {sizeof(T)}, heap->data(), owner);
}

py::tuple range_tuple(ni::RangeResult&& r) {
  std::vector<int64_t> lims(r.lims.begin(), r.lims.end());
  return py::make_tuple(to_numpy(std::move(lims)), to_numpy(std::move(r.distances)), to_numpy(std::move(r.ids)));
}

// An index plus a reader/writer lock: searches run concurrently, mutations alone.
template <class Index>
struct Guarded {
  std::unique_ptr<Index> index;
  mutable std::shared_mutex lock;
  explicit Guarded(std::unique_ptr<Index> i) : index(std::move(i)) {}
};

using PyFlat = Guarded<ni::FlatIndex>;

py::tuple flat_search(const PyFlat& self, const py::array& queries, size_t k, int num_threads) {
  size_t nq = 0;
  const uint8_t* q = code_rows(queries, self.index->code_size(), "queries", &nq);
  py::array_t<ni::dist_t> distances({nq, k});
  py::array_t<ni::idx_t> ids({nq, k});
  ni::dist_t* d = distances.mutable_data();
  ni::idx_t* i = ids.mutable_data();
  {
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> guard(self.lock);
    self.index->search(q, nq, k, d, i, num_threads);
  }
  return py::make_tuple(distances, ids);
}

py::tuple flat_range(const PyFlat& self, const py::array& queries, int radius, int num_threads) {
  size_t nq = 0;
  const uint8_t* q = code_rows(queries, self.index->code_size(), "queries", &nq);
  ni::RangeResult r;
  {
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> guard(self.lock);
    r = self.index->range_search(q, nq, radius, num_threads);
  }
  return range_tuple(std::move(r));
}

void flat_add(PyFlat& self, const py::array& codes, const py::object& ids) {
  size_t n = 0;
  const uint8_t* c = code_rows(codes, self.index->code_size(), "codes", &n);
  const ni::idx_t* id = ids.is_none() ? nullptr : id_values(ids.cast<py::array>(), n, "ids");
  py::gil_scoped_release release;
  std::unique_lock<std::shared_mutex> guard(self.lock);
  self.index->add(c, n, id);
}

size_t flat_remove(PyFlat& self, const py::array& ids) {
  const ni::idx_t* id = id_values(ids, static_cast<size_t>(ids.shape(0)), "ids");
  const size_t n = static_cast<size_t>(ids.shape(0));
  py::gil_scoped_release release;
  std::unique_lock<std::shared_mutex> guard(self.lock);
  return self.index->remove(id, n);
}

// A copy of the stored codes, taken under the read lock: a view would dangle
// once add() grows (reallocates) the store.
template <class Index>
py::array codes_copy(const Guarded<Index>& self) {
  std::shared_lock<std::shared_mutex> guard(self.lock);
  const ni::CodeStore& store = self.index->store();
  py::array_t<uint8_t> out({store.size(), store.code_size()});
  if (store.size() > 0) std::memcpy(out.mutable_data(), store.codes(), store.size() * store.code_size());
  return out;
}

template <class Index>
py::array ids_copy(const Guarded<Index>& self) {
  std::vector<ni::idx_t> ids;
  {
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> guard(self.lock);
    ids = self.index->store().ids_copy();
  }
  return to_numpy(std::move(ids));
}

template <class Index>
void save_index(const Guarded<Index>& self, const std::string& path) {
  py::gil_scoped_release release;
  std::shared_lock<std::shared_mutex> guard(self.lock);
  self.index->save(path);
}

template <class Index>
py::bytes serialize_index(const Guarded<Index>& self) {
  std::vector<uint8_t> bytes;
  {
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> guard(self.lock);
    bytes = self.index->serialize();
  }
  return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void bind_flat(py::module_& m) {
  py::class_<PyFlat>(m, "FlatIndex")
      .def(py::init([](int nbits) { return new PyFlat(std::make_unique<ni::FlatIndex>(nbits)); }), py::arg("nbits"))
      .def_property_readonly("nbits", [](const PyFlat& s) { return s.index->nbits(); })
      .def_property_readonly("code_size", [](const PyFlat& s) { return s.index->code_size(); })
      .def_property_readonly("ntotal", [](const PyFlat& s) { return s.index->ntotal(); })
      .def_property_readonly("is_mapped", [](const PyFlat& s) { return s.index->store().is_mapped(); })
      .def("add", &flat_add, py::arg("codes"), py::arg("ids") = py::none())
      .def("search", &flat_search, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0)
      .def("range_search", &flat_range, py::arg("queries"), py::arg("radius"), py::arg("num_threads") = 0)
      .def("remove", &flat_remove, py::arg("ids"))
      .def("reset", [](PyFlat& s) { std::unique_lock<std::shared_mutex> g(s.lock); s.index->reset(); })
      .def("codes", &codes_copy<ni::FlatIndex>)
      .def("ids", &ids_copy<ni::FlatIndex>)
      .def("save", &save_index<ni::FlatIndex>)
      .def("serialize", &serialize_index<ni::FlatIndex>)
      .def_static("from_file", [](const std::shared_ptr<ni::IndexFile>& f) { return new PyFlat(ni::FlatIndex::load(f)); });
}

using PyMih = Guarded<ni::MultiIndexHashing>;

// Per-query work of a MIH search as numpy arrays (probes, candidates, scanned).
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

py::tuple mih_search(const PyMih& self, const py::array& queries, size_t k, int num_threads, bool with_work) {
  size_t nq = 0;
  const uint8_t* q = code_rows(queries, self.index->code_size(), "queries", &nq);
  py::array_t<ni::dist_t> distances({nq, k});
  py::array_t<ni::idx_t> ids({nq, k});
  ni::dist_t* d = distances.mutable_data();
  ni::idx_t* i = ids.mutable_data();
  std::vector<ni::SearchWork> work(nq);
  {
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> guard(self.lock);
    self.index->search(q, nq, k, d, i, num_threads, work.data());
  }
  if (!with_work) return py::make_tuple(distances, ids);
  return py::make_tuple(distances, ids, work_arrays(work));
}

py::tuple mih_range(const PyMih& self, const py::array& queries, int radius, int num_threads, bool with_work) {
  size_t nq = 0;
  const uint8_t* q = code_rows(queries, self.index->code_size(), "queries", &nq);
  ni::RangeResult r;
  std::vector<ni::SearchWork> work(nq);
  {
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> guard(self.lock);
    r = self.index->range_search(q, nq, radius, num_threads, work.data());
  }
  py::tuple out = range_tuple(std::move(r));
  if (!with_work) return out;
  return py::make_tuple(out[0], out[1], out[2], work_arrays(work));
}

const char* fallback_name(ni::ScanFallback f) {
  return f == ni::ScanFallback::Auto ? "auto" : (f == ni::ScanFallback::Never ? "never" : "always");
}

ni::ScanFallback parse_fallback(const std::string& s) {
  if (s == "auto") return ni::ScanFallback::Auto;
  if (s == "never") return ni::ScanFallback::Never;
  if (s == "always") return ni::ScanFallback::Always;
  throw py::value_error("fallback must be 'auto', 'never' or 'always', got '" + s + "'");
}

py::dict mih_params(const PyMih& s) {
  const ni::MihParams p = s.index->params();
  py::dict d;
  d["fallback"] = fallback_name(p.fallback);
  d["probe_cost"] = p.probe_cost;
  d["scan_cost_single"] = p.scan_cost_single;
  d["scan_cost_batch"] = p.scan_cost_batch;
  return d;
}

void mih_set_params(PyMih& s, const std::string& fallback, double probe_cost, double scan_single, double scan_batch) {
  ni::MihParams p;
  p.fallback = parse_fallback(fallback);
  p.probe_cost = probe_cost;
  p.scan_cost_single = scan_single;
  p.scan_cost_batch = scan_batch;
  std::unique_lock<std::shared_mutex> guard(s.lock);
  s.index->set_params(p);
}

void bind_mih(py::module_& m) {
  py::class_<PyMih>(m, "MultiIndexHashing")
      .def(py::init([](int nbits, int mm) { return new PyMih(std::make_unique<ni::MultiIndexHashing>(nbits, mm)); }),
           py::arg("nbits"), py::arg("m") = 0)
      .def_property_readonly("nbits", [](const PyMih& s) { return s.index->nbits(); })
      .def_property_readonly("code_size", [](const PyMih& s) { return s.index->code_size(); })
      .def_property_readonly("ntotal", [](const PyMih& s) { return s.index->ntotal(); })
      .def_property_readonly("is_mapped", [](const PyMih& s) { return s.index->store().is_mapped(); })
      .def_property_readonly("m", [](const PyMih& s) { return s.index->m(); })
      .def_property_readonly("m_is_auto", [](const PyMih& s) { return s.index->m_is_auto(); })
      .def_property_readonly("indexed", [](const PyMih& s) { return s.index->indexed(); })
      .def_property_readonly("table_bytes", [](const PyMih& s) { return s.index->table_bytes(); })
      .def("substring_bits", [](const PyMih& s) {
        std::vector<int> bits;
        for (int j = 0; j < s.index->m(); ++j) bits.push_back(s.index->substring_bits(j));
        return bits;
      })
      .def_static("auto_m", &ni::MultiIndexHashing::auto_m, py::arg("nbits"), py::arg("n"))
      .def("get_params", &mih_params)
      .def("set_params", &mih_set_params, py::arg("fallback"), py::arg("probe_cost"), py::arg("scan_cost_single"),
           py::arg("scan_cost_batch"))
      .def("add", [](PyMih& s, const py::array& codes, const py::object& ids) {
        size_t n = 0;
        const uint8_t* c = code_rows(codes, s.index->code_size(), "codes", &n);
        const ni::idx_t* id = ids.is_none() ? nullptr : id_values(ids.cast<py::array>(), n, "ids");
        py::gil_scoped_release release;
        std::unique_lock<std::shared_mutex> guard(s.lock);
        s.index->add(c, n, id);
      }, py::arg("codes"), py::arg("ids") = py::none())
      .def("search", &mih_search, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0,
           py::arg("with_work") = false)
      .def("range_search", &mih_range, py::arg("queries"), py::arg("radius"), py::arg("num_threads") = 0,
           py::arg("with_work") = false)
      .def("remove", [](PyMih& s, const py::array& ids) {
        const size_t n = static_cast<size_t>(ids.shape(0));
        const ni::idx_t* id = id_values(ids, n, "ids");
        py::gil_scoped_release release;
        std::unique_lock<std::shared_mutex> guard(s.lock);
        return s.index->remove(id, n);
      }, py::arg("ids"))
      .def("reset", [](PyMih& s) {
        py::gil_scoped_release release;
        std::unique_lock<std::shared_mutex> g(s.lock);
        s.index->reset();
      })
      .def("optimize", [](PyMih& s, int mm) {
        py::gil_scoped_release release;
        std::unique_lock<std::shared_mutex> g(s.lock);
        s.index->optimize(mm);
      }, py::arg("m") = -1)
      .def("codes", &codes_copy<ni::MultiIndexHashing>)
      .def("ids", &ids_copy<ni::MultiIndexHashing>)
      .def("save", &save_index<ni::MultiIndexHashing>)
      .def("serialize", &serialize_index<ni::MultiIndexHashing>)
      .def_static("from_file", [](const std::shared_ptr<ni::IndexFile>& f) {
        std::unique_ptr<ni::MultiIndexHashing> index;
        {
          py::gil_scoped_release release;
          index = ni::MultiIndexHashing::load(f);
        }
        return new PyMih(std::move(index));
      });
}

void bind_files(py::module_& m) {
  py::class_<ni::IndexFile, std::shared_ptr<ni::IndexFile>>(m, "IndexFile")
      .def_property_readonly("kind", [](const ni::IndexFile& f) { return static_cast<uint32_t>(f.info().kind); })
      .def_property_readonly("nbits", [](const ni::IndexFile& f) { return f.info().nbits; })
      .def_property_readonly("ntotal", [](const ni::IndexFile& f) { return f.info().ntotal; })
      .def_property_readonly("is_mapped", &ni::IndexFile::is_mapped);
  m.def("open_index_file", [](const std::string& path, bool mmap, bool verify) {
    py::gil_scoped_release release;
    return ni::IndexFile::open(path, mmap, verify);
  }, py::arg("path"), py::arg("mmap") = false, py::arg("verify") = true);
  m.def("index_file_from_bytes", [](const py::bytes& data) {
    std::string s = data;
    return ni::IndexFile::from_bytes(std::vector<uint8_t>(s.begin(), s.end()));
  });
  m.attr("KIND_FLAT") = static_cast<uint32_t>(ni::IndexKind::Flat);
  m.attr("KIND_MIH") = static_cast<uint32_t>(ni::IndexKind::MultiIndexHashing);
  m.attr("FORMAT_VERSION") = ni::kFormatVersion;
}

void bind_runtime(py::module_& m) {
  m.def("simd_level", [] { return std::string(ni::simd_level_name(ni::active_simd_level())); });
  m.def("detected_simd_level", [] { return std::string(ni::simd_level_name(ni::detected_simd_level())); });
  m.def("set_simd_level", [](const std::string& name) { ni::set_simd_level(ni::parse_simd_level(name)); });
  m.def("get_num_threads", [] { return ni::ThreadPool::global().num_threads(); });
  m.def("set_num_threads", [](int n) {
    py::gil_scoped_release release;
    ni::ThreadPool::global().set_num_threads(n);
  });
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
  bind_flat(m);
  bind_mih(m);
}
