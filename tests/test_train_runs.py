"""Runs you can trust, through `sassl train` where the user meets it: one run per folder, checked
resumes, config reruns, SIGTERM then resume, checkpoint retention, TensorBoard and the kNN monitor."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from click.testing import CliRunner
from imagegen import write_image_folder

from sassl.cli import main
from sassl.backbone import load_backbone
from sassl.train.checkpoint import load_checkpoint, prune_epoch_checkpoints
from sassl.train.knn_monitor import KnnMonitor
from sassl.train.metrics import read_metrics
from sassl.train.optim import lr_at
from sassl.train.preempt import EXIT_SIGINT, EXIT_SIGTERM, StopSignals
from sassl.train.run_dir import EXTEND_RULE

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: on a shared 2-core machine two torch threads spin against each other (~5x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny run's options as a config file (method_options has no CLI option: the file carries it)."""
    tmp = tmp_path_factory.mktemp("runs")
    folder = write_image_folder(tmp / "img", classes=2, per_class=8, size=32)
    options = dict(method="moco", images=str(folder), style="none", arch="resnet18", small_stem=True, image_size=16,
                   batch_size=4, workers=0, log_every=1, lr=0.05, ckpt_every=100, progress=False,
                   method_options={"proj_hidden": 32, "proj_dim": 16, "queue_size": 8})
    path = tmp / "base.json"
    path.write_text(json.dumps(options))
    return path


def train_cli(base, out, *args):
    return CliRunner().invoke(main, ["train", "--config", str(base), "--out", str(out), *map(str, args)])


def losses(run):
    return [r["loss"] for r in read_metrics(run / "metrics.jsonl")]


def test_a_folder_holding_a_run_is_refused_and_overwrite_clears_it(base, tmp_path):
    run = tmp_path / "run"
    assert train_cli(base, run, "--steps", 2).exit_code == 0
    metrics = (run / "metrics.jsonl").read_bytes()
    (run / "ckpt-epoch9.pt").write_bytes(b"from another run")
    (run / "notes.txt").write_text("mine")

    res = train_cli(base, run, "--steps", 2)
    assert res.exit_code == 1
    assert res.output.count("\n") == 1 and "already holds a run" in res.output and "--overwrite" in res.output
    assert (run / "metrics.jsonl").read_bytes() == metrics and (run / "ckpt-epoch9.pt").exists()

    assert train_cli(base, run, "--steps", 1, "--overwrite").exit_code == 0
    assert not (run / "ckpt-epoch9.pt").exists() and (run / "notes.txt").read_text() == "mine"
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1]

    res = train_cli(base, tmp_path / "fresh", "--steps", 2, "--resume")
    assert res.exit_code == 1 and "no checkpoint last.pt to resume from" in res.output
    assert not (tmp_path / "fresh").exists()


def test_resume_with_other_settings_is_refused_naming_them_unless_extending(base, tmp_path):
    run = tmp_path / "run"
    assert train_cli(base, run, "--steps", 3).exit_code == 0

    res = train_cli(base, run, "--steps", 5, "--resume")
    assert res.exit_code == 1 and res.output.count("\n") == 1
    assert "steps: 3 -> 5" in res.output and "schedule.total_steps: 3 -> 5" in res.output and "--extend" in res.output

    res = train_cli(base, run, "--steps", 3, "--resume", "--lr", 0.1, "--batch-size", 8, "--seed", 4)
    assert res.exit_code == 1
    assert all(k in res.output for k in ("lr: 0.05 -> 0.1", "batch_size: 4 -> 8", "seed: 0 -> 4", "schedule.peak_lr"))
    res = train_cli(base, run, "--steps", 5, "--resume", "--extend", "--lr", 0.1)
    assert res.exit_code == 1 and "lr: 0.05 -> 0.1" in res.output  # --extend allows the length only

    # --extend (and a free option: --log-every) continue the run, and the rule is recorded
    assert train_cli(base, run, "--steps", 5, "--resume", "--extend", "--log-every", 2).exit_code == 0
    record = json.loads((run / "config.json").read_text())
    assert record["config"]["steps"] == 5 and record["schedule"]["total_steps"] == 5
    [entry] = record["schedule_history"]
    assert entry == {"previous_total_steps": 3, "total_steps": 5, "from_step": 3, "rule": EXTEND_RULE}
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    sched = record["schedule"]
    assert rows[3]["lr"] == pytest.approx(lr_at(3, 5, sched["warmup_steps"], sched["peak_lr"]))
    assert load_checkpoint(run / "last.pt")["step"] == 5


def test_config_json_reruns_the_run_and_command_line_options_override_it(base, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert train_cli(base, a, "--steps", 3, "--seed", 1).exit_code == 0
    record = json.loads((a / "config.json").read_text())
    assert record["sassl_version"] and record["inputs"]["data"]["units_sha256"]
    assert record["config"]["method_options"] == {"proj_hidden": 32, "proj_dim": 16, "queue_size": 8}

    res = CliRunner().invoke(main, ["train", "--config", str(a / "config.json"), "--out", str(b)])
    assert res.exit_code == 0, res.output
    assert losses(b) == pytest.approx(losses(a), rel=1e-6)
    rerun = json.loads((b / "config.json").read_text())
    assert {**rerun["config"], "out": None} == {**record["config"], "out": None}
    assert rerun["inputs"] == record["inputs"] and rerun["schedule"] == record["schedule"]

    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text(yaml.safe_dump({**record["config"], "out": str(c)}))
    res = CliRunner().invoke(main, ["train", "--config", str(yaml_file), "--steps", "2"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((c / "config.json").read_text())["config"]
    assert cfg["steps"] == 2 and cfg["seed"] == 1 and losses(c) == pytest.approx(losses(a)[:2], rel=1e-6)

    yaml_file.write_text("steps: 2\nbatchsize: 8\n")
    res = CliRunner().invoke(main, ["train", "--config", str(yaml_file), "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "unknown option(s) batchsize" in res.output


@pytest.mark.slow
def test_sigterm_checkpoints_and_the_resumed_run_matches_the_uninterrupted_one(base, tmp_path):
    run, ref = tmp_path / "run", tmp_path / "ref"
    cmd = [sys.executable, "-c", "from sassl.cli import main; main()", "train", "--config", str(base),
           "--out", str(run), "--steps", "200"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 300
        while not ((run / "metrics.jsonl").exists() and len(losses(run)) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_SIGTERM == 143
    stopped = load_checkpoint(run / "last.pt")["step"]
    assert 3 <= stopped < 200 and f"SIGTERM received: stopped at step {stopped}" in err.strip().splitlines()[-1]

    assert train_cli(base, run, "--steps", 200, "--resume", "--stop-after", stopped + 3).exit_code == 0
    assert train_cli(base, ref, "--steps", 200, "--stop-after", stopped + 3).exit_code == 0
    assert len(losses(ref)) == stopped + 3
    assert losses(run) == pytest.approx(losses(ref), rel=1e-5, abs=1e-6)


def test_stop_signals_turn_ctrl_c_into_a_request_and_restore_the_handler():
    before = signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs between bytecodes
        assert stop.requested == signal.SIGINT
        assert signal.getsignal(signal.SIGINT) is before  # a second Ctrl-C acts as usual
    assert signal.getsignal(signal.SIGINT) is before and EXIT_SIGINT == 130


def test_retention_keeps_exactly_the_newest_epoch_checkpoints(base, tmp_path):
    run = tmp_path / "run"
    res = train_cli(base, run, "--batch-size", 8, "--epochs", 4, "--keep-checkpoints", 2)  # 2 steps per epoch
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in run.glob("*.pt")) == ["ckpt-epoch3.pt", "ckpt-epoch4.pt", "last.pt"]
    assert load_checkpoint(run / "ckpt-epoch4.pt")["step"] == 8

    names = [f"ckpt-epoch{i}.pt" for i in (1, 2, 9, 10)]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    assert [p.name for p in prune_epoch_checkpoints(tmp_path, 2)] == names[:2]  # by epoch number, not name
    assert prune_epoch_checkpoints(tmp_path, 0) == [] and len(list(tmp_path.glob("ckpt-*"))) == 2


def test_tensorboard_and_knn_monitor_log_beside_the_metrics_without_changing_the_run(base, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    held = tmp_path / "held"
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        write_image_folder(held / split, classes=2, per_class=n, size=32)
    run, plain = tmp_path / "run", tmp_path / "plain"
    res = train_cli(base, run, "--steps", 4, "--tensorboard", "--knn-monitor", held, "--knn-every", 2)
    assert res.exit_code == 0, res.output
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["knn_acc"] is None for r in rows] == [True, False, True, False]
    net, _, _ = load_backbone(run / "last.pt")
    assert rows[-1]["knn_acc"] == pytest.approx(KnnMonitor(str(held), 16, 0)(net, torch.device("cpu")))

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(losses(run), rel=1e-6)
    assert [e.step for e in events.Scalars("train/knn_acc")] == [2, 4]

    assert train_cli(base, plain, "--steps", 4).exit_code == 0
    assert losses(plain) == pytest.approx(losses(run), rel=1e-6)  # monitoring draws no random numbers

    res = train_cli(base, tmp_path / "bad", "--steps", 1, "--knn-monitor", tmp_path / "nowhere")
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "data root not found" in res.output


def test_tensorboard_missing_is_one_line_naming_the_extra(base, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    res = train_cli(base, tmp_path / "run", "--steps", 1, "--tensorboard")
    assert res.exit_code == 1 and "pip install 'sassl[tensorboard]'" in res.output
    assert not (tmp_path / "run").exists()


def test_resume_at_an_epoch_boundary_then_inside_a_later_epoch_reproduces_the_losses(base, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert train_cli(base, full, "--steps", 8).exit_code == 0
    assert train_cli(base, cut, "--steps", 8, "--stop-after", 4).exit_code == 0  # 4 steps per epoch
    assert train_cli(base, cut, "--steps", 8, "--stop-after", 6, "--resume").exit_code == 0
    assert train_cli(base, cut, "--steps", 8, "--resume").exit_code == 0
    assert losses(cut) == pytest.approx(losses(full), rel=1e-5, abs=1e-6)


def test_records_differ_only_in_keys_the_saved_run_knew():
    from sassl.train.run_dir import differences

    saved = {"config": {"lr": 0.1, "out": "a"}, "schedule": {"total_steps": 3}, "inputs": {"data": {"n": 1}}}
    newer = {"config": {"lr": 0.2, "out": "b", "new_option": 1}, "schedule": {"total_steps": 3}, "inputs": {"data": {"n": 2}}}
    assert differences(saved, newer) == {"lr": (0.1, 0.2), "inputs.data.n": (1, 2)}
