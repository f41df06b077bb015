"""``dsv`` pipeline (namespace ``dsv``): features -> select -> distill -> train -> evaluate.

The teacher θ* is a ``features`` node (the frozen model every later stage reads), so that
retraining on the selected / synthesised sets (``train``) is its own DVC stage after
``select`` and ``distill``: changing a retraining parameter never retrains the teacher.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.dsv import nodes

DATA = {"shapes": "shapes", "digits": "digits", "data": "params:data"}


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                nodes.train_teacher,
                inputs={**DATA, "runtime": "params:runtime", "teacher": "params:teacher"},
                outputs="teacher",
                name="train_teacher",
                tags=["features"],
            ),
            node(
                nodes.rank_training_set,
                inputs={"teacher": "teacher", **DATA, "runtime": "params:runtime", "select": "params:select"},
                outputs=["lambdas", "subsets"],
                name="rank_training_set",
                tags=["select"],
            ),
            node(
                nodes.choose_shots,
                inputs={**DATA, "distill": "params:distill"},
                outputs="shots",
                name="choose_shots",
                tags=["distill"],
            ),
            node(
                nodes.synthesize_dsvs,
                inputs={
                    "teacher": "teacher",
                    "shots": "shots",
                    **DATA,
                    "runtime": "params:runtime",
                    "distill": "params:distill",
                },
                outputs="dsvs",
                name="synthesize_dsvs",
                tags=["distill"],
            ),
            node(
                nodes.distill_dm_at_shots,
                inputs={"shots": "shots", **DATA, "runtime": "params:runtime", "dm": "params:dm"},
                outputs="dm_sets",
                name="distill_dm_at_shots",
                tags=["distill"],
            ),
            node(
                nodes.retrain_on_sets,
                inputs={
                    "subsets": "subsets",
                    "dsvs": "dsvs",
                    "dm_sets": "dm_sets",
                    **DATA,
                    "runtime": "params:runtime",
                    "retrain": "params:retrain",
                },
                outputs="retrained",
                name="retrain_on_sets",
                tags=["train"],
            ),
            node(
                nodes.evaluate_dsv,
                inputs={
                    "retrained": "retrained",
                    "teacher": "teacher",
                    "lambdas": "lambdas",
                    "dsvs": "dsvs",
                    "dm_sets": "dm_sets",
                    **DATA,
                },
                outputs=["metrics", "plot_dsv_grids", "plot_entropy", "plot_lambda", "plot_retrain"],
                name="evaluate_dsv",
                tags=["evaluate"],
            ),
        ],
        namespace="dsv",
        inputs={"shapes": "world.shapes", "digits": "world.digits"},
    )
