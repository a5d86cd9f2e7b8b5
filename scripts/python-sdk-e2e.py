#!/usr/bin/env python3
"""Runs Determined's own Python SDK (v0.38.x) against a master, end to end.

It trains an unmanaged trial with core_v2 (training and validation metrics, one checkpoint per
step written to `directory` storage), then reads everything back with
`determined.experimental.client`: the trial, every checkpoint listing the SDK offers, best and
latest, downloads in AUTO and MASTER mode (compared byte for byte with what was uploaded), the
stored metrics and the shipped task logs.

Usage:
    DET_MASTER=http://127.0.0.1:8080 PYTHONPATH=<determined>/harness \\
        python3 scripts/python-sdk-e2e.py [--work-dir DIR] [--keep]

The work dir (default: a new temp dir, env DET_E2E_WORK_DIR) holds the checkpoint storage, the
downloads and the SDK's token cache. On success the last line of stdout is one JSON summary; on
any failure the script prints `FAIL: <reason>` to stderr and exits 1 (2 for a usage problem).
"""

import argparse
import json
import math
import os
import pathlib
import shutil
import sys
import tempfile
import traceback
import warnings
from typing import Any, Dict, List, Optional

# The SDK deprecates top_checkpoint/select_checkpoint with FutureWarnings; we call them on purpose.
warnings.filterwarnings("ignore", category=FutureWarning)

SEARCHER_METRIC = "validation_loss"
HPARAMS = {"lr": 0.01, "layers": 2, "optimizer": "sgd"}
# (steps_completed, training loss, validation metrics or None, how the checkpoint is written).
# validation_loss is deliberately non-monotonic so that best != latest, accuracy orders the
# checkpoints differently again, and the last checkpoint has no validation at all: it is the
# latest, but it must never be "best" and must sort after every checkpoint that has the metric.
STEPS = [
    (10, 1.00, {"validation_loss": 0.9, "accuracy": 0.5}, "upload"),
    (20, 0.80, {"validation_loss": 0.4, "accuracy": 0.3}, "store_path"),
    (30, 0.70, {"validation_loss": 0.7, "accuracy": 0.9}, "upload"),
    (40, 0.50, {"validation_loss": 0.2, "accuracy": 0.6}, "store_path"),
    (50, 0.45, {"validation_loss": 0.5, "accuracy": 0.1}, "upload"),
    (60, 0.40, None, "upload"),
]
# Reported as a training metric at this step; the SDK sends it as the string "NaN".
NAN_STEP = 30


class CheckFailed(Exception):
    pass


CHECKS = 0


def check(condition: bool, message: str) -> None:
    global CHECKS
    CHECKS += 1
    if not condition:
        raise CheckFailed(message)


def checkpoint_files(step: int) -> Dict[str, bytes]:
    """The files of the checkpoint at `step`: a binary blob, JSON, nested and empty files."""
    blob = bytes((step * 7 + i * 13) % 256 for i in range(4096 + step))
    return {
        "model.bin": blob,
        "config.json": json.dumps({"step": step, "hparams": HPARAMS}).encode(),
        "sub/dir/extra.txt": f"extra file for step {step}\n".encode(),
        "sub/empty.txt": b"",
    }


def write_tree(root: pathlib.Path, files: Dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: pathlib.Path) -> Dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


def train(storage_dir: pathlib.Path, staging_dir: pathlib.Path) -> Dict[str, Any]:
    """Runs the unmanaged training and returns what it reported, keyed for later checks."""
    from determined import core
    from determined.experimental import core_v2

    core_v2.init(
        config=core_v2.Config(
            name="python-sdk-e2e",
            hparams=HPARAMS,
            searcher={"name": "single", "metric": SEARCHER_METRIC, "smaller_is_better": True},
            checkpoint_storage={"type": "directory", "container_path": str(storage_dir)},
        ),
        tensorboard_mode=core.TensorboardMode.MANUAL,
    )
    assert core_v2.info is not None and core_v2.info.trial is not None
    trial_id = core_v2.info.trial.trial_id
    experiment_id = core_v2.info.trial.experiment_id
    uuids: Dict[int, str] = {}
    files: Dict[str, Dict[str, bytes]] = {}
    metadata: Dict[str, Dict[str, Any]] = {}
    for steps, loss, validation, kind in STEPS:
        training_metrics: Dict[str, Any] = {"loss": loss}
        if steps == NAN_STEP:
            training_metrics["grad_norm"] = float("nan")
        core_v2.train.report_training_metrics(steps_completed=steps, metrics=training_metrics)
        ckpt_files = checkpoint_files(steps)
        meta = {"steps_completed": steps, "written_by": kind}
        if kind == "upload":
            src = staging_dir / f"step-{steps}"
            write_tree(src, ckpt_files)
            uuid = core_v2.checkpoint.upload(src, meta)
        else:
            with core_v2.checkpoint.store_path(meta) as (path, uuid):
                write_tree(pathlib.Path(path), ckpt_files)
        # Reported after the checkpoint, so the master must join the two at read time.
        if validation is not None:
            core_v2.train.report_validation_metrics(steps_completed=steps, metrics=validation)
        core_v2.train.report_progress(steps / STEPS[-1][0])
        uuids[steps] = uuid
        files[uuid] = ckpt_files
        metadata[uuid] = meta
        print(f"step {steps}: checkpoint {uuid}")
    core_v2.close()
    return {
        "trial_id": trial_id,
        "experiment_id": experiment_id,
        "uuids": uuids,
        "files": files,
        "metadata": metadata,
    }


def steps_of(checkpoints: List[Any]) -> List[int]:
    return [int(c.metadata["steps_completed"]) for c in checkpoints]


def check_checkpoint(
    ckpt: Any, trained: Dict[str, Any], storage_dir: pathlib.Path, where: str
) -> None:
    """Checks one checkpoint as the SDK parsed it against what training reported."""
    from determined.experimental import client

    uuid = ckpt.uuid
    check(uuid in trained["files"], f"{where}: unknown checkpoint {uuid}")
    steps = int(trained["metadata"][uuid]["steps_completed"])
    check(
        ckpt.state == client.CheckpointState.COMPLETED,
        f"{where}: {uuid} state {ckpt.state}",
    )
    check(
        ckpt.metadata == trained["metadata"][uuid],
        f"{where}: {uuid} metadata {ckpt.metadata} != {trained['metadata'][uuid]}",
    )
    check(bool(ckpt.task_id), f"{where}: {uuid} has no taskId")
    check(bool(ckpt.report_time), f"{where}: {uuid} has no reportTime")
    resources = ckpt.resources or {}
    for rel, data in trained["files"][uuid].items():
        check(
            rel in resources and int(resources[rel]) == len(data),
            f"{where}: {uuid} resources[{rel!r}] = {resources.get(rel)!r}, want {len(data)}",
        )
    check("metadata.json" in resources, f"{where}: {uuid} resources lack metadata.json")
    training = ckpt.training
    check(training is not None, f"{where}: {uuid} has no training.trialId")
    check(
        training.trial_id == trained["trial_id"],
        f"{where}: {uuid} trialId {training.trial_id} != {trained['trial_id']}",
    )
    check(
        training.experiment_id == trained["experiment_id"],
        f"{where}: {uuid} experimentId {training.experiment_id}",
    )
    storage = training.experiment_config.get("checkpoint_storage", {})
    check(
        storage.get("type") == "directory"
        and pathlib.Path(storage.get("container_path", "")) == storage_dir,
        f"{where}: {uuid} experimentConfig.checkpoint_storage = {storage}",
    )
    check(
        training.hparams == HPARAMS, f"{where}: {uuid} hparams {training.hparams} != {HPARAMS}"
    )
    want = next(v for s, _, v, _ in STEPS if s == steps)
    got = (training.validation_metrics or {}).get("avgMetrics") or {}
    if want is None:
        check(got == {}, f"{where}: {uuid} (step {steps}) has validation metrics {got}")
    else:
        for name, value in want.items():
            check(
                got.get(name) == value,
                f"{where}: {uuid} (step {steps}) validation {name} = {got.get(name)}, want {value}",
            )


def check_download(
    ckpt: Any, mode: Any, trained: Dict[str, Any], downloads_dir: pathlib.Path
) -> None:
    target = downloads_dir / f"{mode.value}-{ckpt.uuid}"
    got_path = pathlib.Path(ckpt.download(str(target), mode=mode))
    check(got_path == target, f"download {mode.value}: returned {got_path}, want {target}")
    got = read_tree(target)
    want = dict(trained["files"][ckpt.uuid])
    check(
        "metadata.json" in got,
        f"download {mode.value} {ckpt.uuid}: no metadata.json among {sorted(got)}",
    )
    meta = json.loads(got.pop("metadata.json"))
    check(
        meta == trained["metadata"][ckpt.uuid],
        f"download {mode.value} {ckpt.uuid}: metadata.json {meta}",
    )
    check(
        sorted(got) == sorted(want),
        f"download {mode.value} {ckpt.uuid}: files {sorted(got)}, want {sorted(want)}",
    )
    for rel, data in want.items():
        check(got[rel] == data, f"download {mode.value} {ckpt.uuid}: {rel} differs")


def query(
    master: str, trained: Dict[str, Any], storage_dir: pathlib.Path, downloads_dir: pathlib.Path
) -> Dict[str, Any]:
    from determined.experimental import client

    uuids: Dict[int, str] = trained["uuids"]
    with_validation = [(s, v) for s, _, v, _ in STEPS if v is not None]
    all_steps = [s for s, _, _, _ in STEPS]
    missing = [s for s, _, v, _ in STEPS if v is None]

    # The token cached by the training phase is reused here (GET /api/v1/me).
    client.login(master=master)
    trial = client.get_trial(trained["trial_id"])
    check(
        trial.experiment_id == trained["experiment_id"],
        f"get_trial: experimentId {trial.experiment_id} != {trained['experiment_id']}",
    )
    check(trial.hparams == HPARAMS, f"get_trial: hparams {trial.hparams} != {HPARAMS}")
    check(
        trial.state == client.TrialState.COMPLETED,
        f"get_trial: state {trial.state}, want COMPLETED after close()",
    )

    by_batch = trial.list_checkpoints(
        sort_by=client.CheckpointSortBy.BATCH_NUMBER, order_by=client.OrderBy.ASC
    )
    check(
        steps_of(by_batch) == all_steps,
        f"list_checkpoints(BATCH_NUMBER, ASC): steps {steps_of(by_batch)}, want {all_steps}",
    )
    for ckpt in by_batch:
        check_checkpoint(ckpt, trained, storage_dir, "list_checkpoints(BATCH_NUMBER, ASC)")

    want = [s for s, _ in sorted(with_validation, key=lambda sv: -sv[1][SEARCHER_METRIC])]
    want += missing
    by_loss_desc = trial.list_checkpoints(sort_by=SEARCHER_METRIC, order_by=client.OrderBy.DESC)
    check(
        steps_of(by_loss_desc) == want,
        f"list_checkpoints({SEARCHER_METRIC}, DESC): steps {steps_of(by_loss_desc)}, want {want}",
    )

    # Default: the searcher metric, best first in the searcher's direction (smaller is better).
    best_first = [s for s, _ in sorted(with_validation, key=lambda sv: sv[1][SEARCHER_METRIC])]
    defaults = trial.list_checkpoints()
    check(
        steps_of(defaults) == best_first + missing,
        f"list_checkpoints(): steps {steps_of(defaults)}, want {best_first + missing}",
    )

    by_accuracy = [s for s, _ in sorted(with_validation, key=lambda sv: -sv[1]["accuracy"])]
    top_two = trial.list_checkpoints(
        sort_by="accuracy", order_by=client.OrderBy.DESC, max_results=2
    )
    check(
        steps_of(top_two) == by_accuracy[:2],
        f"list_checkpoints(accuracy, DESC, max_results=2): steps {steps_of(top_two)}, "
        f"want {by_accuracy[:2]}",
    )

    best_uuid = uuids[best_first[0]]
    latest_uuid = uuids[max(all_steps)]
    worst_uuid = uuids[best_first[-1]]
    check(best_uuid != latest_uuid, "test data: best and latest must differ")

    top = trial.top_checkpoint()
    check(top.uuid == best_uuid, f"top_checkpoint(): {top.uuid}, want best {best_uuid}")
    top_desc = trial.top_checkpoint(sort_by=SEARCHER_METRIC, smaller_is_better=False)
    check(
        top_desc.uuid == worst_uuid,
        f"top_checkpoint({SEARCHER_METRIC}, smaller_is_better=False): {top_desc.uuid}, "
        f"want {worst_uuid}",
    )
    best = trial.select_checkpoint(best=True)
    check(best.uuid == best_uuid, f"select_checkpoint(best=True): {best.uuid}, want {best_uuid}")
    latest = trial.select_checkpoint(latest=True)
    check(
        latest.uuid == latest_uuid,
        f"select_checkpoint(latest=True): {latest.uuid}, want {latest_uuid}",
    )
    by_uuid = trial.select_checkpoint(uuid=best_uuid)
    check(by_uuid.uuid == best_uuid, f"select_checkpoint(uuid=...): {by_uuid.uuid}")
    check_checkpoint(by_uuid, trained, storage_dir, "select_checkpoint(uuid=...)")
    fetched = client.get_checkpoint(latest_uuid)
    check(fetched.uuid == latest_uuid, f"get_checkpoint: {fetched.uuid}")
    check_checkpoint(fetched, trained, storage_dir, "get_checkpoint")

    downloads = {"auto": 0, "master": 0}
    for ckpt in by_batch:
        for mode in (client.DownloadMode.AUTO, client.DownloadMode.MASTER):
            check_download(ckpt, mode, trained, downloads_dir)
            downloads[mode.value] += 1

    training = list(trial.iter_metrics("training"))
    check(
        [m.steps_completed for m in training] == all_steps,
        f"iter_metrics('training'): steps {[m.steps_completed for m in training]}",
    )
    for report, (steps, loss, _, _) in zip(training, STEPS):
        check(
            report.metrics.get("loss") == loss and report.group == "training",
            f"iter_metrics('training') step {steps}: {report.group} {report.metrics}",
        )
        check(report.trial_id == trained["trial_id"], f"training report trialId {report.trial_id}")
        if steps == NAN_STEP:
            nan = report.metrics.get("grad_norm")
            check(
                nan == "NaN" or (isinstance(nan, float) and math.isnan(nan)),
                f"iter_metrics('training') step {steps}: grad_norm {nan!r}, want NaN",
            )
    validation = list(trial.iter_metrics("validation"))
    check(
        [m.steps_completed for m in validation] == [s for s, _ in with_validation],
        f"iter_metrics('validation'): steps {[m.steps_completed for m in validation]}",
    )
    for report, (steps, values) in zip(validation, with_validation):
        check(
            report.metrics == values and report.group == "validation",
            f"iter_metrics('validation') step {steps}: {report.group} {report.metrics}",
        )

    # Everything printed after init was shipped to POST /task-logs; the SDK reads it back here.
    logged = [line.rstrip("\n") for line in trial.iter_logs()]
    printed = [f"step {s}: checkpoint {uuids[s]}" for s in all_steps]
    check(
        [line for line in logged if line in printed] == printed,
        f"iter_logs(): {logged}, want the lines {printed} in order",
    )

    return {
        "ok": True,
        "master": master,
        "experimentId": trained["experiment_id"],
        "trialId": trained["trial_id"],
        "checkpoints": len(by_batch),
        "best": best_uuid,
        "latest": latest_uuid,
        "bestValidationLoss": dict(with_validation)[best_first[0]][SEARCHER_METRIC],
        "trainingMetrics": len(training),
        "validationMetrics": len(validation),
        "logLines": len(logged),
        "downloads": downloads,
        "checks": CHECKS,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", default=os.environ.get("DET_MASTER"), help="env DET_MASTER")
    parser.add_argument(
        "--work-dir", default=os.environ.get("DET_E2E_WORK_DIR"), help="env DET_E2E_WORK_DIR"
    )
    parser.add_argument("--keep", action="store_true", help="keep a temp work dir afterwards")
    args = parser.parse_args(argv)
    if not args.master:
        print("FAIL: no master: pass --master or set DET_MASTER", file=sys.stderr)
        return 2
    made_work_dir = args.work_dir is None
    work_dir = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix="det-sdk-e2e-")).resolve()
    storage_dir = work_dir / "checkpoints"
    downloads_dir = work_dir / "downloads"
    staging_dir = work_dir / "staging"
    for d in (storage_dir, downloads_dir, staging_dir, work_dir / "config"):
        d.mkdir(parents=True, exist_ok=True)
    try:
        import determined  # noqa: F401
    except ImportError as err:
        print(
            f"FAIL: cannot import Determined's SDK ({err}); put its harness/ on PYTHONPATH",
            file=sys.stderr,
        )
        return 2
    # The SDK reads these lazily: its token cache then lives in the work dir, not in ~.
    os.environ["DET_MASTER"] = args.master
    os.environ["DET_DEBUG_CONFIG_PATH"] = str(work_dir / "config")
    try:
        trained = train(storage_dir, staging_dir)
        summary = query(args.master, trained, storage_dir, downloads_dir)
    except CheckFailed as err:
        print(f"FAIL: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - any SDK error is a failed run, with its trace
        traceback.print_exc()
        print(f"FAIL: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        if made_work_dir and not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
