"""orthoemb on the caption world: subjects, pose-changing prompts and their scoring, pictures, paper-scale loaders and scorers."""
