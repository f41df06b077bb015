"""``orthoemb`` pipeline (namespace ``orthoemb``): ``train`` (subject encoders) -> ``evaluate`` (six arms, judged)."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.orthoemb import nodes_evaluate, nodes_train


def create_pipeline(**kwargs) -> Pipeline:
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
