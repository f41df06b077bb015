"""``whitebear`` pipeline (namespace ``whitebear``): ``train`` (negation ablation) -> ``evaluate``."""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_evaluate, nodes_train = node_modules("revis.pipelines.whitebear", "evaluate", "train")
    return pipeline(
        [
            node(
                nodes_train.train_ablation,
                ["t2i_model", "t2i_replicates", "captions", "params:seeds", "params:ablation", "params:compute"],
                ["negation_models", "control_models", "ablation_history"],
                name="train_ablation",
                tags=["train"],
            ),
            node(
                nodes_evaluate.analyze_representations,
                ["t2i_model", "params:representations", "params:compute"],
                "representations",
                name="analyze_representations",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.run_attack,
                [
                    "t2i_model",
                    "t2i_replicates",
                    "judge",
                    "params:seeds",
                    "params:prompts",
                    "params:attack",
                    "params:compute",
                ],
                "attack_results",
                name="run_attack",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.run_attention,
                ["t2i_model", "judge", "params:seeds", "params:prompts", "params:attack", "params:compute"],
                "attention",
                name="run_attention",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.run_ablation,
                [
                    "negation_models",
                    "control_models",
                    "judge",
                    "params:seeds",
                    "params:prompts",
                    "params:attack",
                    "params:compute",
                ],
                "ablation_counts",
                name="run_ablation",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.report_metrics,
                [
                    "representations",
                    "attack_results",
                    "attention",
                    "ablation_counts",
                    "ablation_history",
                    "captions",
                    "judge",
                    "params:seeds",
                    "params:prompts",
                    "params:attack",
                ],
                ["metrics", "plot_samples", "plot_attack_success", "plot_similarity", "plot_attention"],
                name="report_metrics",
                tags=["evaluate"],
            ),
        ],
        namespace="whitebear",
        inputs={
            "t2i_model": "t2i.model",
            "t2i_replicates": "t2i.replicates",
            "captions": "t2i.captions",
            "judge": "t2i.judge",
        },
    )
