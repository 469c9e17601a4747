"""Builds the compiled timeline, setup table, set-up and dispatch loops
(``prodsched.engine._native.timeline``, ``.setups``, ``.load``, ``.dispatch``) when a C++
compiler is there; without one the package installs and runs on the pure-Python reference."""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A failed compile is a warning, never a failed install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure
            print(f"prodsched: compiled timeline not built ({exc}); using the Python one",
                  file=sys.stderr)


try:
    from Cython.Build import cythonize
except ImportError:  # no Cython: the Python timeline only
    extensions = []
else:
    extensions = cythonize(
        [Extension(f"prodsched.engine._native.{name}", [f"prodsched/engine/_native/{name}.pyx"],
                   language="c++", extra_compile_args=["-O2"])
         for name in ("setups", "timeline", "load", "dispatch", "retime")],
        quiet=True,
    )

setup(ext_modules=extensions, cmdclass={"build_ext": OptionalBuildExt})
