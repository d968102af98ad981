"""Write init.extxyz (the first frame of the package's GFN2-xTB water, 24 atoms, 6.2 Å box) for input.xml."""

from pathlib import Path

import ase.io

here = Path(__file__).resolve().parent
frame = ase.io.read(here.parents[1] / "surrogate" / "data" / "xtb_water" / "trajectory.extxyz", 0)
frame.calc = None
ase.io.write(here / "init.extxyz", frame, format="extxyz")
print(f"wrote {here / 'init.extxyz'}")
