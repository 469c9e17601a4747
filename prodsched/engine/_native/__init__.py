"""Compiled twins of the engine's hot paths (Cython, C++): ``setups`` (the setup table),
``timeline`` (the machine lines), ``load`` (an instance's columns), ``dispatch`` (``Core.best``
and the ``window`` loop) and ``retime`` (the optimiser's re-timing). The Python modules one
level up are the reference; built with ``python setup.py build_ext --inplace`` or on install
when a C++ compiler is there."""
