"""The mini world: procedurally generated data with known ground truth, written in real formats."""
