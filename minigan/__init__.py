"""minigan: a DCGAN that draws anime idols, written from scratch.

Every layer has a hand-written forward and backward pass on NumPy arrays (numba kernels on the
CPU, CuPy on a GPU). Start with :mod:`minigan.nn`, then :mod:`minigan.models.dcgan`.
"""

__version__ = "0.1.0"
