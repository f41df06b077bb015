"""``gig`` pipeline (namespace ``gig``): ``features`` -> ``attribute`` -> ``evaluate``.

features: images, the classifier (trained here, or pretrained weights at paper scale), PFVs
sampled per layer. attribute: concept vectors and Lasso coefficients, GIG between consecutive
layers and to the classes, the completeness sweep. evaluate: deletion/insertion, C-insertion -
C-deletion, reconstruction, ERF alignment with ground-truth masks, pictures, metrics.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.pipelines.gig import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                nodes.select_images,
                inputs=["shapes", "params:data"],
                outputs="images",
                name="select_images",
                tags=["features"],
            ),
            node(
                nodes.train_model,
                inputs=["images", "params:train", "params:data", "params:device"],
                outputs="model",
                name="train_model",
                tags=["features"],
            ),
            node(
                nodes.sample_features,
                inputs=["model", "images", "params:features", "params:device"],
                outputs="pfvs",
                name="sample_pfvs",
                tags=["features"],
            ),
            node(
                nodes.fit_concepts,
                inputs=["pfvs", "params:concepts"],
                outputs="concepts",
                name="fit_concepts",
                tags=["attribute"],
            ),
            node(
                nodes.attribute_pathways,
                inputs=["model", "images", "concepts", "params:attribute", "params:device"],
                outputs="pathways",
                name="attribute_pathways",
                tags=["attribute"],
            ),
            node(
                nodes.evaluate_faithfulness,
                inputs=["model", "images", "concepts", "pathways", "params:evaluate", "params:device"],
                outputs="faithfulness",
                name="evaluate_faithfulness",
                tags=["evaluate"],
            ),
            node(
                nodes.encode_alignment_images,
                inputs=["model", "images", "concepts", "params:evaluate", "params:device"],
                outputs="alignment_codes",
                name="encode_alignment_images",
                tags=["evaluate"],
            ),
            node(
                nodes.evaluate_alignment,
                inputs=["model", "images", "concepts", "alignment_codes", "params:evaluate", "params:device"],
                outputs="alignment",
                name="evaluate_alignment",
                tags=["evaluate"],
            ),
            node(
                nodes.draw_concept_atlas,
                inputs=[
                    "model",
                    "images",
                    "concepts",
                    "pathways",
                    "alignment_codes",
                    "alignment",
                    "params:evaluate",
                    "params:device",
                ],
                outputs="plot_concept_atlas",
                name="draw_concept_atlas",
                tags=["evaluate"],
            ),
            node(
                nodes.draw_concept_graph,
                inputs=["images", "pathways", "alignment", "params:evaluate"],
                outputs="plot_concept_graph",
                name="draw_concept_graph",
                tags=["evaluate"],
            ),
            node(
                nodes.draw_completeness,
                inputs="pathways",
                outputs="plot_completeness",
                name="draw_completeness",
                tags=["evaluate"],
            ),
            node(
                nodes.draw_deletion_insertion,
                inputs="faithfulness",
                outputs="plot_deletion_insertion",
                name="draw_deletion_insertion",
                tags=["evaluate"],
            ),
            node(
                nodes.summarise,
                inputs=["model", "concepts", "pathways", "faithfulness", "alignment", "params:attribute"],
                outputs="metrics",
                name="summarise",
                tags=["evaluate"],
            ),
        ],
        namespace="gig",
        inputs={"shapes": "world.shapes"},
    )
