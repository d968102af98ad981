"""Trajectory reading, one concern per module; the public face is :mod:`systems.trajectory_reader`.

- :mod:`.formats`: which library reads a file, and whether its bytes match its suffix.
- :mod:`.damage`: the damaged-file policy (truncation warning, non-finite values, errors from readers).
- :mod:`.ase_reader`: extxyz, ``.traj`` and every other ASE format.
- :mod:`.mdtraj_reader`: MDTraj formats (dcd, nc, lammpstrj, pdb, gro, h5, ...), and the dispatch to
- :mod:`.trr_reader`, :mod:`.xtc_scan` (headers walked and checked, frames decoded by
  :mod:`systems.xtc_codec`) and :mod:`.dcd_tail` (the partial last DCD frame MDTraj skips silently).
- :mod:`.topology` and :mod:`.nm_frame`: MDTraj topologies, and nm/ps arrays turned into ASE-unit frames.
"""
