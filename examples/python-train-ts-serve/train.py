#!/usr/bin/env python3
"""Trains with Determined's own Python SDK; Node serves the result.

A logistic regression on two Gaussian blobs, in numpy, trained as an unmanaged trial through
`determined.experimental.core_v2` against a Determined-TS master (or Determined's). Every epoch
reports training and validation metrics and stores a checkpoint written as a TF.js layers model
(`model.json` and `weights.bin`, plus the SDK's `metadata.json`), which Node loads with
`@determined-ts/sdk` or serves with `examples/serve-best`. No TensorFlow needed: the format is
a JSON topology and little-endian float32 weights.

Usage:
    DET_MASTER=http://127.0.0.1:8080 PYTHONPATH=<determined>/harness \\
        python3 examples/python-train-ts-serve/train.py --storage DIR [--epochs N]

The last line of stdout is JSON: the trial, the best checkpoint by validation_loss, and what
that checkpoint's model predicts for PROBE, for whoever serves it to compare with.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

SEARCHER_METRIC = "validation_loss"
PROBE = [[-1.0, -1.0], [0.2, 0.1], [1.5, 1.0]]


def blobs(rng: np.random.Generator, n: int):
    """Two classes around (-1, -1) and (1, 1); labels 0 and 1."""
    x0 = rng.normal(-1.0, 0.8, size=(n // 2, 2))
    x1 = rng.normal(1.0, 0.8, size=(n - n // 2, 2))
    x = np.concatenate([x0, x1]).astype(np.float32)
    y = np.concatenate([np.zeros(len(x0)), np.ones(len(x1))]).astype(np.float32)
    order = rng.permutation(len(x))
    return x[order], y[order]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def loss_of(w, b, x, y) -> float:
    p = np.clip(sigmoid(x @ w + b), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def write_tfjs(directory: pathlib.Path, w, b) -> None:
    """A TF.js layers model: one Dense unit with a sigmoid, as tf.sequential would save it."""
    topology = {
        "class_name": "Sequential",
        "config": {
            "name": "logistic",
            "layers": [
                {
                    "class_name": "Dense",
                    "config": {
                        "name": "dense",
                        "units": 1,
                        "activation": "sigmoid",
                        "use_bias": True,
                        "batch_input_shape": [None, 2],
                        "dtype": "float32",
                    },
                }
            ],
        },
        "keras_version": "tfjs-layers 4.22.0",
        "backend": "tensor_flow.js",
    }
    manifest = [
        {
            "paths": ["weights.bin"],
            "weights": [
                {"name": "dense/kernel", "shape": [2, 1], "dtype": "float32"},
                {"name": "dense/bias", "shape": [1], "dtype": "float32"},
            ],
        }
    ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.json").write_text(
        json.dumps({"format": "layers-model", "modelTopology": topology, "weightsManifest": manifest})
    )
    weights = np.concatenate([w.reshape(-1), b.reshape(-1)]).astype("<f4")
    (directory / "weights.bin").write_bytes(weights.tobytes())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, help="checkpoint storage directory")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args(argv)

    from determined import core
    from determined.experimental import core_v2

    rng = np.random.default_rng(11)
    x_train, y_train = blobs(rng, 400)
    x_val, y_val = blobs(rng, 200)
    w = np.zeros((2, 1), dtype=np.float32)
    b = np.zeros((1,), dtype=np.float32)

    core_v2.init(
        config=core_v2.Config(
            name="python-train-ts-serve",
            hparams={"lr": args.lr, "epochs": args.epochs},
            searcher={"name": "single", "metric": SEARCHER_METRIC, "smaller_is_better": True},
            checkpoint_storage={"type": "directory", "container_path": args.storage},
        ),
        tensorboard_mode=core.TensorboardMode.MANUAL,
    )
    trial_id = core_v2.info.trial.trial_id
    best = None
    steps = 0
    for epoch in range(1, args.epochs + 1):
        for start in range(0, len(x_train), 50):
            xb, yb = x_train[start : start + 50], y_train[start : start + 50].reshape(-1, 1)
            p = sigmoid(xb @ w + b)
            w -= args.lr * (xb.T @ (p - yb) / len(xb))
            b -= args.lr * np.mean(p - yb, axis=0)
            steps += 1
        train_loss = loss_of(w, b, x_train, y_train.reshape(-1, 1))
        val_loss = loss_of(w, b, x_val, y_val.reshape(-1, 1))
        accuracy = float(np.mean((sigmoid(x_val @ w + b).reshape(-1) > 0.5) == (y_val > 0.5)))
        core_v2.train.report_training_metrics(steps_completed=steps, metrics={"loss": train_loss})
        metadata = {"steps_completed": steps, "framework": "tfjs", "format": "layers-model"}
        with core_v2.checkpoint.store_path(metadata) as (path, uuid):
            write_tfjs(pathlib.Path(path), w, b)
        core_v2.train.report_validation_metrics(
            steps_completed=steps, metrics={SEARCHER_METRIC: val_loss, "accuracy": accuracy}
        )
        print(f"epoch {epoch}: loss {train_loss:.4f}, validation_loss {val_loss:.4f}, checkpoint {uuid}")
        if best is None or val_loss < best["validation_loss"]:
            probe = sigmoid(np.array(PROBE, dtype=np.float32) @ w + b)
            best = {"uuid": uuid, "validation_loss": val_loss, "probe": probe.tolist()}
    core_v2.close()
    print(json.dumps({"trial_id": trial_id, "best": best, "probe_inputs": PROBE}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
