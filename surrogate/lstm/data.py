"""Training data for the LSTM operators: many short Verlet trajectories, then windows.

Generation runs in the fused Numba Verlet kernels of
:mod:`integrators.fused_verlet`, in parallel over trajectories (all cores
Numba is given). As in Kadupitiya, Fox and Jadhao (arXiv 2004.06493):

* 1D: one particle per trajectory, mass in [1, 10] amu, x0 and (harmonic) k
  swept uniformly, v0 = 0; 500 trajectories per potential by default;
* 3D: N Lennard-Jones particles in the periodic cube of
  :func:`systems.catalogue.lj_cluster` from random positions at rest.

States are kept every ``save_every`` Verlet steps. A model of stride
Δ_R = ``stride_steps``·Δ learns from :func:`make_windows`: W states spaced
Δ_R apart → the state Δ_R after the last one.

Files: :func:`save_operator_data` writes an ``.npz`` (the arrays, read back by
:func:`load_operator_data`) and, beside it, an extended-XYZ trajectory that
:func:`systems.trajectory_reader.read_frames` opens (positions, velocities,
masses, potential energy, time). For 1D data each frame holds every
trajectory's particle at one time (particle i = trajectory i, motion along x);
for 3D data the trajectories follow one another, frame by frame.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from dataclasses import dataclass, field

import numpy as np

from integrators.fused_verlet import PeriodicLJ, params_1d, verlet_1d, verlet_lj
from systems.atomic_file import atomic_copy, atomic_write
from systems.errors import InputError

#: The paper's reference step Δ (reduced LJ time = ASE time with σ = 1 Å, ε = 1 eV, m = 1 amu).
PAPER_TIMESTEP = 0.001

#: Default initial-position ranges (Å) of the 1D sweeps.
X0_RANGES = {"harmonic": (-1.0, 1.0), "double_well": (-2.0, 2.0), "lj": (0.95, 1.6), "rugged": (-2.0, 3.0)}
_FUSED_NAMES = {"harmonic": "harmonic", "double_well": "double_well", "lj": "lennard_jones", "rugged": "rugged"}


@dataclass
class OperatorData:
    """Trajectories sampled every ``save_every`` Verlet steps of length ``timestep``.

    positions, velocities : float64 [n_traj, n_frames, N, dim] (Å, Å/ASE time; never wrapped)
    masses : float64 [n_traj, N] amu
    potential_energy : float64 [n_traj, n_frames] eV
    parameters : float64 [n_traj, P] per-trajectory potential parameters (harmonic: k eV/Å²), may be [n_traj, 0]
    timestep : Δ, ASE time; save_every : Verlet steps between kept states
    system : JSON-able description (``kind`` "oscillator_1d" or "lj_periodic", potential, box ...)
    """

    positions: np.ndarray
    velocities: np.ndarray
    masses: np.ndarray
    potential_energy: np.ndarray
    parameters: np.ndarray
    timestep: float
    save_every: int
    system: dict = field(default_factory=dict)

    @property
    def n_trajectories(self) -> int:
        return self.positions.shape[0]

    @property
    def n_frames(self) -> int:
        return self.positions.shape[1]

    @property
    def n_particles(self) -> int:
        return self.positions.shape[2]

    @property
    def dim(self) -> int:
        return self.positions.shape[3]

    @property
    def frame_interval(self) -> float:
        """Time between kept states (ASE time)."""
        return self.timestep * self.save_every

    def states(self) -> np.ndarray:
        """Flat states [n_traj, n_frames, 2·N·dim]: positions then velocities."""
        t, f = self.n_trajectories, self.n_frames
        return np.concatenate([self.positions.reshape(t, f, -1), self.velocities.reshape(t, f, -1)], axis=-1)

    def kinetic_energy(self) -> np.ndarray:
        """[n_traj, n_frames] eV."""
        return 0.5 * np.einsum("tn,tfnd->tf", self.masses, self.velocities**2)


# ------------------------------------------------------------------ generation
def generate_oscillator_data(potential: str = "harmonic", n_trajectories: int = 500, t_max: float = 100.0,
                             timestep: float = PAPER_TIMESTEP, save_every: int = 100, mass_range=(1.0, 10.0),
                             x0_range=None, k_range=(1.0, 10.0), seed: int = 0) -> OperatorData:
    """Independent 1D particles in one of the paper's potentials (fused Verlet, parallel over particles).

    potential : "harmonic" | "double_well" | "lj" | "rugged" (forms of
        :mod:`systems.potentials.external_1d`); t_max : simulated time per
        trajectory (ASE time = τ); timestep : Δ; save_every : steps between kept
        states; mass_range amu, x0_range Å (default :data:`X0_RANGES`), k_range
        eV/Å² (harmonic only) are swept uniformly with ``seed``; v0 = 0.
    """
    if potential not in _FUSED_NAMES:
        raise InputError(f"generate_oscillator_data: unknown potential {potential!r}; choose one of {sorted(_FUSED_NAMES)}")
    n = _positive_int(n_trajectories, "n_trajectories")
    n_steps = _steps(t_max, timestep, save_every)
    rng = np.random.default_rng(seed)
    masses = rng.uniform(*mass_range, n)
    x0 = rng.uniform(*(x0_range or X0_RANGES[potential]), n)
    if potential == "harmonic":
        k = rng.uniform(*k_range, n)
        params, parameters = params_1d("harmonic", n, k=k), k[:, None]
    else:
        params, parameters = params_1d(_FUSED_NAMES[potential], n), np.zeros((n, 0))
    tr = verlet_1d(x0, np.zeros(n), masses, _FUSED_NAMES[potential], params, timestep, n_steps, save_every)
    system = {"kind": "oscillator_1d", "potential": potential, "n_particles": 1, "dim": 1,
              "mass_range": [float(masses.min()), float(masses.max())],
              "parameter_names": ["k"] if potential == "harmonic" else [],
              "parameter_ranges": [[float(k.min()), float(k.max())]] if potential == "harmonic" else [],
              "translation_invariant": False, "units": "reduced LJ (σ=1 Å, ε=1 eV, m=1 amu)"}
    return OperatorData(tr.positions.T[:, :, None, None].copy(), tr.velocities.T[:, :, None, None].copy(),
                        masses[:, None], tr.potential_energy.T.copy(), parameters, float(timestep), int(save_every),
                        system)


def generate_lj_data(n_particles: int = 16, n_trajectories: int = 200, t_max: float = 100.0,
                     timestep: float = PAPER_TIMESTEP, save_every: int = 100, seed: int = 0,
                     epsilon: float | None = None, box_length: float | None = None, cutoff: float = 2.5,
                     t_discard: float = 0.0) -> OperatorData:
    """N LJ particles in the periodic cube of :func:`systems.catalogue.lj_cluster`, from
    random positions at rest (trajectory i uses seed ``seed + i``), parallel over trajectories.

    epsilon eV (default: the catalogue's, 2 for N = 16), box_length Å (default:
    reduced density 0.2), cutoff Å; t_discard : initial time dropped from each
    trajectory (ASE time; 0 keeps the start from rest, as in the paper).
    """
    from systems.catalogue import lj_cluster, lj_cluster_potential

    n = _positive_int(n_trajectories, "n_trajectories")
    n_steps = _steps(t_max + t_discard, timestep, save_every)
    systems = [lj_cluster(n_particles, box_length=box_length, epsilon=epsilon, seed=seed + i) for i in range(n)]
    provider = lj_cluster_potential(n_particles, epsilon=epsilon, cutoff=cutoff)
    pot = PeriodicLJ.from_system(systems[0], provider)
    x0 = np.stack([s.positions for s in systems])
    tr = verlet_lj(x0, np.zeros_like(x0), systems[0].masses, pot, timestep, n_steps, save_every)
    skip = int(round(t_discard / (timestep * save_every)))
    positions = np.ascontiguousarray(tr.positions[skip:].transpose(1, 0, 2, 3))
    velocities = np.ascontiguousarray(tr.velocities[skip:].transpose(1, 0, 2, 3))
    system = lj_description(pot, systems[0].masses)
    return OperatorData(positions, velocities, np.repeat(systems[0].masses[None], n, 0),
                        np.ascontiguousarray(tr.potential_energy[skip:].T), np.zeros((n, 0)), float(timestep),
                        int(save_every), system)


def lj_description(pot: PeriodicLJ, masses) -> dict:
    """The JSON system description of a periodic LJ system (what a model is tied to)."""
    return {"kind": "lj_periodic", "potential": "lennard_jones", "n_particles": int(len(masses)), "dim": 3,
            "masses": [float(m) for m in masses], "box": [float(b) for b in pot.box], "sigma": pot.sigma,
            "epsilon": pot.epsilon, "cutoff": pot.cutoff, "energy_shift": pot.shift,
            "translation_invariant": True, "units": "reduced LJ (σ=1 Å, ε=1 eV, m=1 amu)"}


# --------------------------------------------------------------------- windows
def default_conditions(data: OperatorData) -> tuple[str, ...]:
    """The parameters a model of ``data`` should be conditioned on: those that vary between trajectories.

    1D oscillators: ("mass",) plus the swept potential parameters (harmonic: "k");
    systems whose masses and potential are fixed (the periodic LJ cube): ().
    """
    if data.system.get("kind") != "oscillator_1d":
        return ()
    return ("mass",) + tuple(data.system.get("parameter_names", ()))


def condition_values(data: OperatorData, names) -> np.ndarray:
    """Per-trajectory condition values [n_traj, C]: "mass" (amu), "omega" = √(k/m) (harmonic, 1/ASE time),
    "energy" (1D: total energy of the first frame, eV) and potential parameters (their units)."""
    columns = []
    for name in names:
        if name == "mass":
            if data.n_particles != 1:
                raise InputError("condition 'mass' is defined for one-particle (1D oscillator) data only")
            columns.append(data.masses[:, 0])
        elif name == "omega" and data.n_particles == 1 and "k" in data.system.get("parameter_names", ()):
            # The harmonic frequency √(k/m) (ASE time⁻¹): the one parameter the harmonic stride map depends on.
            k = data.parameters[:, list(data.system["parameter_names"]).index("k")]
            columns.append(np.sqrt(k / data.masses[:, 0]))
        elif name == "energy" and data.n_particles == 1:
            # The orbit's total energy (eV) at its first frame: with the mass it fixes a 1D conservative
            # orbit, so x_{n+1} + x_{n−1} is a function of (x_n, E, m) alone (time reversal maps v → −v).
            kinetic = 0.5 * data.masses[:, 0] * np.sum(data.velocities[:, 0, 0] ** 2, axis=-1)
            columns.append(data.potential_energy[:, 0] + kinetic)
        elif name in data.system.get("parameter_names", ()):
            columns.append(data.parameters[:, list(data.system["parameter_names"]).index(name)])
        else:
            raise InputError(f"unknown condition {name!r}: the data has 'mass', 'omega' (harmonic), 'energy' (1D) "
                             "and parameters "
                             f"{list(data.system.get('parameter_names', ()))}")
    return np.stack(columns, axis=1) if columns else np.zeros((data.n_trajectories, 0))


def make_windows(data: OperatorData, stride_steps: int, window: int = 5, max_windows: int | None = None,
                 seed: int = 0, trajectories=None, return_trajectory: bool = False):
    """Training pairs for stride Δ_R = ``stride_steps``·Δ.

    Returns ``(inputs [S, window, D], targets [S, D])`` float64: every run of
    ``window`` states spaced Δ_R apart in one trajectory, and the state Δ_R after
    its last one. ``stride_steps`` must be a multiple of ``data.save_every``.
    ``max_windows`` keeps a seeded random subset; ``trajectories`` selects
    trajectory indices (for a split by trajectory). With ``return_trajectory``
    a third array [S] gives each window's trajectory index in ``data``.
    """
    stride_steps = _positive_int(stride_steps, "stride_steps")
    if stride_steps % data.save_every:
        raise InputError(f"stride_steps={stride_steps} is not a multiple of the data's save_every={data.save_every}")
    k = stride_steps // data.save_every
    states = data.states()
    if trajectories is not None:
        states = states[np.asarray(trajectories)]
    n_traj, n_frames, d = states.shape
    n_start = n_frames - window * k
    if n_start < 1:
        raise InputError(f"trajectories of {n_frames} states are too short for {window}+1 states spaced {k} apart "
                         f"(stride {stride_steps} steps); generate longer trajectories (t_max)")
    offsets = np.arange(window + 1) * k  # [W+1]
    pairs = np.array([(t, s) for t in range(n_traj) for s in range(n_start)])
    if max_windows is not None and len(pairs) > max_windows:
        pairs = pairs[np.sort(np.random.default_rng(seed).choice(len(pairs), int(max_windows), replace=False))]
    seq = states[pairs[:, 0][:, None], pairs[:, 1][:, None] + offsets[None]]  # [S, W+1, D]
    inputs, targets = np.ascontiguousarray(seq[:, :window]), np.ascontiguousarray(seq[:, window])
    if return_trajectory:
        index = pairs[:, 0] if trajectories is None else np.asarray(trajectories)[pairs[:, 0]]
        return inputs, targets, index
    return inputs, targets


# ------------------------------------------------------------------------ files
def save_operator_data(data: OperatorData, path, trajectory: bool = True) -> pathlib.Path:
    """Write ``path`` (.npz, atomic) and, if ``trajectory``, ``path`` with suffix .extxyz.

    Returns the .npz path.
    """
    path = pathlib.Path(path).with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"timestep": data.timestep, "save_every": data.save_every, "system": data.system,
            "format": "surrogate-md lstm operator data", "version": 1}
    atomic_write(path, lambda handle: np.savez(
        handle, positions=data.positions, velocities=data.velocities, masses=data.masses,
        potential_energy=data.potential_energy, parameters=data.parameters,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)))
    if trajectory:
        write_trajectory(data, path.with_suffix(".extxyz"))
    return path


def write_trajectory(data: OperatorData, path) -> pathlib.Path:
    """The data as an extended-XYZ trajectory (see the module docstring for the layout)."""
    from systems.forces import ForceResult
    from systems.state import System
    from systems.trajectory_writer import TrajectoryWriter

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # TrajectoryWriter writes to a path, not a handle: a scratch file in the same folder, then copied
    # into place atomically (fsynced, 0666 less the umask); the scratch folder goes in any case.
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as scratch:
        tmp = pathlib.Path(scratch) / path.name
        with TrajectoryWriter(tmp, format="extxyz") as writer:
            if data.system.get("kind") == "oscillator_1d":
                n = data.n_trajectories
                pos, vel = np.zeros((n, 3)), np.zeros((n, 3))
                for f in range(data.n_frames):
                    pos[:, 0], vel[:, 0] = data.positions[:, f, 0, 0], data.velocities[:, f, 0, 0]
                    system = System(np.zeros(n), data.masses[:, 0], pos, vel, None, False, f * data.frame_interval)
                    writer.write(system, ForceResult(float(data.potential_energy[:, f].sum()), np.zeros((n, 3))))
            else:
                cell = np.diag(data.system["box"])
                for t in range(data.n_trajectories):
                    for f in range(data.n_frames):
                        system = System(np.zeros(data.n_particles), data.masses[t], data.positions[t, f],
                                        data.velocities[t, f], cell, True, f * data.frame_interval)
                        writer.write(system, ForceResult(float(data.potential_energy[t, f]),
                                                         np.zeros((data.n_particles, 3))))
        atomic_copy(tmp, path)
    return path


def load_operator_data(path) -> OperatorData:
    """Read an .npz written by :func:`save_operator_data`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"operator data file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            arrays = {k: np.array(z[k]) for k in ("positions", "velocities", "masses", "potential_energy",
                                                  "parameters")}
    except (KeyError, ValueError, OSError) as exc:
        raise InputError(f"{path} is not LSTM operator data ({type(exc).__name__}: {exc})") from exc
    return OperatorData(**arrays, timestep=float(meta["timestep"]), save_every=int(meta["save_every"]),
                        system=meta["system"])


def _positive_int(value, name: str) -> int:
    if int(value) != value or int(value) < 1:
        raise InputError(f"`{name}` must be a positive whole number, got {value!r}")
    return int(value)


def _steps(t_max: float, timestep: float, save_every: int) -> int:
    if not (np.isfinite(t_max) and t_max > 0 and np.isfinite(timestep) and timestep > 0):
        raise InputError(f"need positive `t_max` and `timestep` (ASE time), got {t_max!r}, {timestep!r}")
    _positive_int(save_every, "save_every")
    return int(round(t_max / timestep / save_every)) * int(save_every)
