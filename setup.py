"""Build the compiled order-book core and the venue's compiled engine; all other metadata lives
in pyproject.toml."""
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        name,
        [source],
        include_dirs=[numpy.get_include(), "src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # MSVC spells optimisation /O2 (cibuildwheel builds Windows wheels with it)
        extra_compile_args=["/O2"] if sys.platform == "win32" else ["-O3"],
    )
    for name, source in (("exchange._book", "src/exchange/_book.pyx"),
                         ("exchange.venue._engine", "src/exchange/venue/_engine.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"embedsignature": True},
    )
)
