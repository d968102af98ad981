"""The pipelines behind ``surrogate demo``.

- :mod:`surrogate.demo.water`: the default, periodic water with GFN2-xTB as the expensive reference
  (shipped frames; EGNN, force-input LSTM operator, cost table);
- :mod:`surrogate.demo.argon`: liquid argon with a Lennard-Jones reference (``--system argon``).
"""
