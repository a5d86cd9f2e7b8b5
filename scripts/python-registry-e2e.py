#!/usr/bin/env python3
"""Determined's Python SDK v0.38.1 driving a whole model-registry lifecycle against a master;
run by packages/master/test/python-registry.test.ts, which checks the JSON it prints.

  python3 scripts/python-registry-e2e.py seed '{"storage": ..., "staging": ...}'
  python3 scripts/python-registry-e2e.py registry '{"master": ..., "uuids": [...], "downloads": ...}'
"""
import json
import pathlib
import sys
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)


def seed(storage, staging):
    from determined import core
    from determined.experimental import core_v2

    core_v2.init(
        config=core_v2.Config(
            name="registry-interop",
            hparams={"lr": 0.1},
            searcher={"name": "single", "metric": "validation_loss", "smaller_is_better": True},
            checkpoint_storage={"type": "directory", "container_path": storage},
        ),
        tensorboard_mode=core.TensorboardMode.MANUAL,
    )
    trial = core_v2.info.trial
    uuids = []
    for steps, loss in ((10, 0.5), (20, 0.25)):
        core_v2.train.report_training_metrics(steps_completed=steps, metrics={"loss": loss})
        src = pathlib.Path(staging) / ("step-%d" % steps)
        uuids.append(core_v2.checkpoint.upload(src, {"steps_completed": steps}))
        core_v2.train.report_validation_metrics(
            steps_completed=steps, metrics={"validation_loss": loss}
        )
    core_v2.close()
    return {"trialId": trial.trial_id, "experimentId": trial.experiment_id, "uuids": uuids}


def failure(fn):
    """What fn raised: the SDK's exception class, HTTP status and message; None if nothing."""
    from determined.common.api import errors

    try:
        fn()
    except errors.APIException as err:
        return {"type": type(err).__name__, "status": err.status_code, "message": str(err)}
    return None


def model_view(m):
    return {
        "id": m.model_id,
        "name": m.name,
        "description": m.description,
        "metadata": m.metadata,
        "labels": m.labels,
        "username": m.username,
        "workspaceId": m.workspace_id,
        "archived": m.archived,
        "hasTimes": m.creation_time is not None and m.last_updated_time >= m.creation_time,
    }


def version_view(v):
    c = v.checkpoint
    return {
        "version": v.model_version,
        "modelId": v.model_id,
        "modelName": v.model_name,
        "name": v.name,
        "notes": v.notes,
        "comment": v.comment,
        "metadata": v.metadata,
        "uuid": c.uuid,
        "state": c.state.name,
        "checkpointMetadata": c.metadata,
        "trialId": c.training.trial_id,
        "experimentId": c.training.experiment_id,
        "storageType": c.training.experiment_config["checkpoint_storage"]["type"],
    }


def registry(master, uuids, trial_id, downloads):
    from determined.experimental import client

    d = client.Determined(master=master)
    out = {}
    name = "registry e2e"
    m = d.create_model(
        name,
        description="first description",
        metadata={"team": "vision", "stage": 1},
        labels=["prod", "resnet"],
    )
    out["created"] = model_view(m)
    other = d.create_model("other model", labels=["resnet"])
    out["duplicate"] = failure(lambda: d.create_model(name))
    out["emptyLatest"] = m.get_version() is None

    v1 = m.register_version(uuids[0])
    v2 = m.register_version(uuids[1])
    out["registered"] = [version_view(v1), version_view(v2)]

    # What an inference task does (core_context.experimental): link its trial to a version, so
    # the metrics it reports show up under the version.
    from determined.core._experimental import ExperimentalCoreContext

    ExperimentalCoreContext(d._session, trial_id).report_task_using_model_version(v1)
    out["versionMetrics"] = [
        {"trialId": x.trial_id, "steps": x.steps_completed, "metrics": x.metrics, "group": x.group}
        for x in v1.iter_metrics("validation")
    ]
    out["otherVersionMetrics"] = len(list(v2.iter_metrics()))
    out["latest"] = version_view(m.get_version())
    out["first"] = version_view(m.get_version(1))
    out["listDesc"] = [v.model_version for v in m.list_versions()]
    out["listAsc"] = [v.model_version for v in m.list_versions(client.OrderBy.ASC)]
    out["listUuids"] = [v.checkpoint.uuid for v in m.list_versions()]

    out["models"] = [x.name for x in d.list_models()]
    out["modelsDesc"] = [x.name for x in d.list_models(order_by=client.OrderBy.DESC)]
    out["modelsNamed"] = [x.name for x in d.list_models(name="E2E")]
    out["modelsById"] = [x.name for x in d.list_models(model_id=other.model_id)]
    out["byName"] = model_view(d.get_model(name))
    out["byId"] = model_view(d.get_model(m.model_id))
    out["labels"] = d.get_model_labels()

    m.add_metadata({"owner": "ml"})
    m.remove_metadata(["stage"])
    m.set_labels(["prod", "v2"])
    m.set_description("second description")
    m.move_to_workspace("Uncategorized")
    m.reload()
    out["reloaded"] = model_view(m)
    out["fetchedAfterEdits"] = model_view(d.get_model(name))
    out["labelsAfterEdits"] = d.get_model_labels()

    v1.set_name("baseline")
    v1.set_notes("# Baseline\nfirst run")
    v1.reload()
    out["v1Reloaded"] = version_view(v1)
    out["v1Fetched"] = version_view(m.get_version(1))
    out["v2Untouched"] = version_view(m.get_version(2))

    out["downloads"] = {}
    for v in (m.get_version(1), m.get_version()):
        for mode in (client.DownloadMode.AUTO, client.DownloadMode.MASTER):
            key = "%s-v%d" % (mode.value, v.model_version)
            target = str(pathlib.Path(downloads) / key)
            out["downloads"][key] = {"uuid": v.checkpoint.uuid, "path": v.checkpoint.download(target, mode=mode) == target}

    out["deleteRegistered"] = failure(lambda: v1.checkpoint.delete())
    out["deleteRegisteredFetched"] = failure(lambda: d.get_checkpoint(uuids[1]).delete())

    m.archive()
    m.reload()
    out["archived"] = m.archived
    out["registerWhileArchived"] = failure(lambda: m.register_version(uuids[0]))
    out["patchWhileArchived"] = failure(lambda: m.set_description("nope"))
    out["modelsWhileArchived"] = [x.name for x in d.list_models()]
    out["latestWhileArchived"] = m.get_version().model_version
    m.unarchive()
    m.reload()
    out["unarchived"] = m.archived
    out["descriptionAfterArchive"] = m.description

    v3 = m.register_version(uuids[0])
    out["v3"] = version_view(v3)
    v3.delete()
    out["getDeletedVersion"] = failure(lambda: m.get_version(3))
    out["afterVersionDelete"] = [v.model_version for v in m.list_versions()]
    out["reRegistered"] = m.register_version(uuids[1]).model_version

    model_id = m.model_id
    m.delete()
    out["getDeletedByName"] = failure(lambda: d.get_model(name))
    out["getDeletedById"] = failure(lambda: d.get_model(model_id))
    out["versionOfDeleted"] = failure(lambda: m.get_version(1))
    other.delete()
    out["modelsAfterDelete"] = [x.name for x in d.list_models()]
    out["labelsAfterDelete"] = d.get_model_labels()
    return out


if __name__ == "__main__":
    mode, arg = sys.argv[1], json.loads(sys.argv[2])
    if mode == "seed":
        result = seed(arg["storage"], arg["staging"])
    else:
        result = registry(arg["master"], arg["uuids"], arg["trialId"], arg["downloads"])
    print(json.dumps(result, sort_keys=True))
