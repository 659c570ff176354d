"""Build the compiled fast path in place: `python setup.py build_ext --inplace`.

`scripts/bootstrap` runs this after installing the requirements. The extensions are optional:
every module in `stream/native/` has a pure-Python counterpart that the service uses when the
build is missing (see `stream/native/__init__.py`), and the tests compare the two.
"""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

EXTENSIONS = [
    Extension("stream.native._lines", ["stream/native/_lines.pyx"]),
    Extension("stream.native._windows", ["stream/native/_windows.pyx"]),
    Extension("stream.native._hst", ["stream/native/_hst.pyx"], include_dirs=[numpy.get_include()]),
]

setup(
    name="centinela-native",
    packages=[],
    py_modules=[],
    ext_modules=cythonize(
        [ext for ext in EXTENSIONS if __import__("os").path.exists(ext.sources[0])],
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
        quiet=True,
    ),
)
