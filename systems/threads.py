"""OpenMP wait policy shared by Numba's and torch's thread pools.

Numba's parallel kernels and torch both run on OpenMP. With GNU OpenMP's
default (active) waiting, threads spin after each parallel region; when the
other runtime then starts its own parallel work, the spinning threads steal
the cores it needs, and on a 2-core machine a 5 ms step can take 200 ms.
Passive waiting (threads sleep between regions) costs a few µs of wake-up per
region and removes that collapse. The variable must be set before either
OpenMP runtime is loaded, so every package of this project imports this module
first; a value the user has set is kept.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
