"""Parameters: the root params.yaml, how Kedro reads it, and its schema."""
