"""Run folders you can trust: one run per folder, its full configuration recorded, resumes checked.

A run folder holds one run. Starting a run in a folder that already holds one (without ``--resume``)
is refused, because writing into it would mix two runs' metrics and checkpoints; ``--overwrite``
deletes the old run's files first. ``--resume`` needs a checkpoint and the *same* run: every option
that shapes the trajectory (model, method, augmentation, data, schedule) is compared with the folder's
``config.json`` and a difference is refused with the keys named. Only the run's length may change,
and only with ``--extend``; the rule used for the lr from then on is written into ``config.json``.

``config.json`` (written atomically at the start of every invocation) holds every ``TrainConfig``
option, the package version, the resolved schedule and the inputs' fingerprints (content hashes,
not paths, so a run moved to another machine still resumes). ``sassl train --config FILE`` reads it
(or a JSON/YAML mapping of option names) back: :func:`load_options`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from sassl import __version__
from sassl.atomic import atomic_write_text
from sassl.evaluate.features import file_digest
from sassl.train.checkpoint import LAST, epoch_checkpoints
from sassl.train.metrics import TENSORBOARD_DIR

CONFIG = "config.json"
# What a run writes into its folder; --overwrite deletes exactly these (never unrelated files).
RUN_FILES = (CONFIG, LAST, "metrics.jsonl", "metrics.csv", "views.png")
RUN_DIRS = (TENSORBOARD_DIR, "eval")

# Options that do not change what the run computes: free to differ on --resume.
FREE_KEYS = frozenset({
    "out", "resume", "overwrite", "extend", "stop_after", "workers", "device", "log_every", "ckpt_every",
    "progress", "keep_checkpoints", "tensorboard", "knn_monitor", "knn_every", "allow_random_weights",
    # inputs are compared by content (``inputs``), so a moved bank or decoder still resumes
    "bank", "images", "stylizer_weights", "decoder", "encoder_weights", "epoch_samples", "generated",
})
# Options of one invocation, never read back from a --config file.
INVOCATION_KEYS = frozenset({"resume", "overwrite", "extend", "stop_after"})
# Recorded in config.json but derived from an option (--recipe), never read back as one.
DERIVED_KEYS = frozenset({"recipe_settings"})
# What --extend may change: the run's length.
LENGTH_KEYS = frozenset({"steps", "epochs", "schedule.total_steps"})
EXTEND_RULE = ("from the resume step on, lr follows the warmup+cosine schedule of a run of the new "
               "total length (same peak lr and warmup)")


class RunDirError(ValueError):
    """A run folder that cannot be used as asked (one line naming the folder and the way out)."""


@dataclass(frozen=True)
class Schedule:
    """The resolved optimisation schedule (what the options and the data amount to)."""

    total_steps: int
    warmup_steps: int
    peak_lr: float
    steps_per_epoch: int
    global_batch: int


def run_files(out: Path) -> list[Path]:
    """The files and folders of a run present in ``out`` (empty for a new or unrelated folder)."""
    found = [out / n for n in (*RUN_FILES, *RUN_DIRS) if (out / n).exists()]
    return found + epoch_checkpoints(out)


def prepare_out_dir(out: str | Path, resume: bool, overwrite: bool, delete: bool = True) -> None:
    """Refuse a folder holding another run, clear it with ``overwrite``, demand a checkpoint to resume.

    ``delete`` is False on DDP ranks other than 0: they check the same things but only rank 0 deletes.
    """
    out = Path(out)
    if resume and overwrite:
        raise RunDirError("--resume and --overwrite contradict each other; pass one")
    if resume:
        if not (out / LAST).is_file():
            raise RunDirError(f"{out}: --resume but there is no checkpoint {LAST} to resume from")
        return
    found = run_files(out)
    if not found:
        return
    if not overwrite:
        names = ", ".join(sorted(p.name for p in found)[:4]) + (", ..." if len(found) > 4 else "")
        raise RunDirError(f"{out} already holds a run ({names}); pass --resume to continue it, "
                          "--overwrite to delete it first, or another --out")
    if delete:
        for p in found:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


def _digest_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode() + b"\n")
    return h.hexdigest()


def _file_fingerprint(source: str | None) -> str | None:
    """A weights source by content: files by SHA-256, names ('random', 'torchvision') as they are."""
    if source is None:
        return None
    return f"sha256:{file_digest(source)}" if Path(source).is_file() else source


def inputs_fingerprint(cfg: Any, spec: Any, style_dir: str | None, stylizer: Any | None) -> dict[str, Any]:
    """Fingerprints of what the run reads, independent of where it lies: data (bank.json + shard
    names, shard names, or a folder's relative file names and labels), style bank, generated bank
    (``--generated``: its bank.json, which names the generator, its settings and seed), and the stylizer
    (its own weights fingerprint; AdaIN's decoder file by SHA-256, which that fingerprint omits)."""
    data: dict[str, Any] = {"kind": spec.kind, "num_samples": spec.num_samples}
    if spec.bank is not None:
        data["bank_json_sha256"] = file_digest(Path(spec.bank.root) / "bank.json")
    if spec.kind in ("bank", "shards"):
        data["units_sha256"] = _digest_lines(Path(s).name for s in spec.units)
    else:  # an image folder: file names relative to it, with labels
        root = Path(cfg.images)
        data["units_sha256"] = _digest_lines(f"{Path(p).relative_to(root)}\t{lab}" for p, lab in spec.units)
    inputs: dict[str, Any] = {"data": data}
    if stylizer is not None:
        inputs["stylizer"] = {"name": cfg.stylizer, "fingerprint": stylizer.fingerprint,
                              "decoder": _file_fingerprint(cfg.decoder) if cfg.stylizer == "adain" else None}
    if style_dir is not None:
        inputs["style_bank"] = {"bank_json_sha256": file_digest(Path(style_dir) / "bank.json")}
    if spec.generated is not None:
        inputs["generated_bank"] = {"bank_json_sha256": file_digest(Path(spec.generated.info.root) / "bank.json")}
    return inputs


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """The compared view of a record: options (minus the free ones), schedule.*, inputs.*."""
    flat = {k: v for k, v in record["config"].items() if k not in FREE_KEYS}
    flat.update({f"schedule.{k}": v for k, v in record["schedule"].items()})
    for k, v in record["inputs"].items():
        if isinstance(v, dict):
            flat.update({f"inputs.{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[f"inputs.{k}"] = v
    return flat


def differences(saved: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose value differs between two run records: ``{key: (saved, new)}``. Keys the saved
    record lacks are skipped: its run predates that option (a newer sassl), which it did not use."""
    a, b = _flatten(saved), _flatten(new)
    return {k: (a[k], b.get(k)) for k in sorted(a) if a[k] != b.get(k)}


@dataclass
class RunRecord:
    """What ``config.json`` holds; :meth:`write` stamps a new extension with the step it starts at."""

    config: dict[str, Any]
    schedule: Schedule
    inputs: dict[str, Any]
    history: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"sassl_version": __version__, "config": self.config, "schedule": asdict(self.schedule),
                "inputs": self.inputs, "schedule_history": self.history}

    def write(self, out: str | Path, step: int) -> Path:
        """Write ``config.json`` atomically; ``step`` is where this invocation starts (0 or the resumed step)."""
        for entry in self.history:
            entry.setdefault("from_step", step)
        path = Path(out) / CONFIG
        atomic_write_text(path, json.dumps(self.as_json(), indent=2) + "\n")
        return path


def read_record(out: str | Path) -> dict[str, Any] | None:
    path = Path(out) / CONFIG
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable run configuration ({exc})") from None
    if not isinstance(record, dict) or not {"config", "schedule", "inputs"} <= set(record):
        raise RunDirError(f"{path}: not a sassl run configuration (needs config, schedule, inputs)")
    return record


def open_run(config: dict[str, Any], schedule: Schedule, inputs: dict[str, Any], resume: bool, extend: bool,
             warmup_given: bool) -> RunRecord:
    """The record of this invocation; on ``resume`` checked against the folder's ``config.json``.

    With ``extend`` only the length may differ; the warmup a derived default gave the run is kept
    (it would otherwise move with the total) and the extension is appended to ``schedule_history``.
    Runs from before ``config.json`` existed resume unchecked (the checkpoint still checks the model).
    """
    out = config["out"]
    saved = read_record(out) if resume else None
    if saved is None:
        if extend:
            raise RunDirError(f"{out}: --extend continues a recorded run; it needs --resume and {CONFIG}")
        return RunRecord(config, schedule, inputs, [])
    history = list(saved.get("schedule_history", []))
    if extend and not warmup_given:
        schedule = Schedule(**{**asdict(schedule), "warmup_steps": saved["schedule"]["warmup_steps"]})
    new = RunRecord(config, schedule, inputs, history)
    diff = differences(saved, new.as_json())
    refused = {k: v for k, v in diff.items() if not (extend and k in LENGTH_KEYS)}
    if refused:
        shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in refused.items())
        hint = "" if extend or set(refused) - LENGTH_KEYS else " (pass --extend to lengthen the run)"
        raise RunDirError(f"{out}: --resume with settings that differ from the run's {CONFIG}: {shown}{hint}")
    old_total = saved["schedule"]["total_steps"]
    if diff and old_total != schedule.total_steps:
        new.history.append({"previous_total_steps": old_total, "total_steps": schedule.total_steps,
                            "rule": EXTEND_RULE})
    return new


def load_options(path: str | Path) -> dict[str, Any]:
    """Options from a run's ``config.json`` (its ``config`` entry) or a JSON/YAML mapping of option
    names (YAML by the .yaml/.yml suffix). Options of one invocation (resume, overwrite, extend,
    stop_after) are dropped: a rerun starts a run of its own."""
    path = Path(path)
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    if yaml_file:
        import yaml  # PyYAML comes with Ray, a dependency

        errors: tuple[type[Exception], ...] = (OSError, UnicodeDecodeError, yaml.YAMLError)
    else:
        errors = (OSError, UnicodeDecodeError, json.JSONDecodeError)
    try:
        text = path.read_text()
        data = yaml.safe_load(text) if yaml_file else json.loads(text)
    except errors as exc:
        raise RunDirError(f"{path}: cannot read options ({type(exc).__name__}: {exc})") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a mapping of option names to values")
    return {k: v for k, v in data.items() if k not in INVOCATION_KEYS | DERIVED_KEYS}
