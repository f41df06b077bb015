"""``orthoemb`` pipeline (namespace ``orthoemb``): ``train`` (subject encoders) -> ``evaluate`` (six arms, judged)."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_train = node_modules("revis.pipelines.orthoemb", "evaluate", "train")
    return pipeline(
        [
            node(
                nodes_train.train_subject_encoders,
                ["t2i_model", "params:seeds", "params:train", "params:compute"],
                ["encoders", "history"],
                name="train_subject_encoders",
                tags=["train"],
            ),
            node(
                nodes_evaluate.run_arms,
                [
                    "encoders",
                    "t2i_model",
                    "judge",
                    "params:seeds",
                    "params:train",
                    "params:fixes",
                    "params:evaluate",
                    "params:compute",
                ],
                "results",
                name="run_arms",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.report_metrics,
                ["results", "history", "params:train", "params:evaluate"],
                ["metrics", "plot_samples", "plot_tradeoff", "plot_attention", "plot_training_loss"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="orthoemb",
        inputs={"t2i_model": "t2i.model", "judge": "t2i.judge"},
    )
