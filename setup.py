"""Build the compiled parts: the order-book core, the venue's engine and its state export, and
the journal's frame queue; all other metadata lives in pyproject.toml."""
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# MSVC spells optimisation /O2 (cibuildwheel builds Windows wheels with it)
OPTIMISE = ["/O2"] if sys.platform == "win32" else ["-O3"]
NUMPY = dict(include_dirs=[numpy.get_include(), "src"],
             define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])

extensions = [
    Extension("exchange._book", ["src/exchange/_book.pyx"], extra_compile_args=OPTIMISE,
              **NUMPY),
    # risk, the order index and trade staging in C; cimports the book
    Extension("exchange.venue._engine", ["src/exchange/venue/_engine.pyx"],
              extra_compile_args=OPTIMISE, **NUMPY),
    # the engine's state as numpy arrays and back (snapshots); cimports the engine
    Extension("exchange.venue._state", ["src/exchange/venue/_state.pyx"],
              extra_compile_args=OPTIMISE, **NUMPY),
    # the journal writer's hot half (framing, CRC-32, the queue); no numpy
    Extension("exchange.journal._frames", ["src/exchange/journal/_frames.pyx"],
              extra_compile_args=OPTIMISE),
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"embedsignature": True},
    )
)
