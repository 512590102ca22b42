"""The one home of argument checks below every layer (like ``sklearn.utils.validation``).

* :func:`check_array`: a data matrix, dense, scipy.sparse or torch; :func:`check_stored_array`:
  an array read back from a file or a fitted state.
* :func:`to_numpy`: the one torch-to-numpy conversion (its GPU rule in ``convert.py``).
* :func:`unit_rows`: unit-norm rows, dense and sparse.
* ``check_int`` & co. for scalars; :func:`check_params` with ``Integer``, ``Real``, ``Options``,
  ``IntSequence`` and ``Checked`` for the constraints an estimator declares.

Numpy only: scipy, scikit-learn and torch are never imported here (import-linter forbids it).
"""
from .arrays import check_array, check_stored_array
from .constraints import Checked, Constraint, Integer, IntSequence, Options, Real, check_params
from .convert import as_numpy, is_sparse, is_torch_tensor, to_numpy
from .params import check_choice, check_fraction, check_int, check_positive_int, is_real_number
from .rows import unit_rows

__all__ = ["Checked", "Constraint", "IntSequence", "Integer", "Options", "Real", "as_numpy", "check_array",
           "check_choice", "check_fraction", "check_int", "check_params", "check_positive_int",
           "check_stored_array", "is_real_number", "is_sparse", "is_torch_tensor", "to_numpy", "unit_rows"]
