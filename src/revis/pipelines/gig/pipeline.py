"""``gig`` pipeline (namespace ``gig``): ``features`` -> ``attribute`` -> ``evaluate``, every seed a whole chain.

features: images, one classifier per seed (trained here, or pretrained weights at paper scale),
PFVs sampled per layer. attribute: concept vectors and Lasso coefficients, GIG between
consecutive layers and to the classes, the completeness sweep. evaluate: deletion/insertion,
C-insertion - C-deletion, reconstruction, ERF alignment with ground-truth masks, metrics, pictures.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines import node_modules


def create_pipeline(**kwargs) -> Pipeline:
    # a stage imports only its own kind's node module (revis.pipelines.node_modules)
    nodes_attribute, nodes_evaluate, nodes_features = node_modules(
        "revis.pipelines.gig", "attribute", "evaluate", "features"
    )
    return pipeline(
        [
            node(
                nodes_features.select_images,
                inputs=["shapes", "params:data"],
                outputs="images",
                name="select_images",
                tags=["features"],
            ),
            node(
                nodes_features.train_and_sample,
                inputs=["images", "params:seeds", "params:train", "params:features", "params:data", "params:compute"],
                outputs=["models", "pfvs"],
                name="train_and_sample",
                tags=["features"],
            ),
            node(
                nodes_attribute.attribute_pathways,
                inputs=["models", "pfvs", "images", "params:concepts", "params:attribute", "params:compute"],
                outputs=["concepts", "pathways"],
                name="attribute_pathways",
                tags=["attribute"],
            ),
            node(
                nodes_evaluate.evaluate_pathways,
                inputs=["models", "images", "shapes", "concepts", "pathways", "params:evaluate", "params:compute"],
                outputs="evaluation",
                name="evaluate_pathways",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.report_metrics,
                inputs=["models", "images", "shapes", "concepts", "pathways", "evaluation", "params:attribute"],
                outputs="metrics",
                name="report_metrics",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.draw_concept_pictures,
                inputs=["models", "images", "concepts", "pathways", "params:evaluate"],
                outputs=["plot_concept_atlas", "plot_concept_graph"],
                name="draw_concept_pictures",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.draw_completeness,
                inputs="pathways",
                outputs="plot_completeness",
                name="draw_completeness",
                tags=["evaluate"],
            ),
            node(
                nodes_evaluate.draw_deletion_insertion,
                inputs="evaluation",
                outputs="plot_deletion_insertion",
                name="draw_deletion_insertion",
                tags=["evaluate"],
            ),
        ],
        namespace="gig",
        inputs={"shapes": "world.shapes"},
    )
