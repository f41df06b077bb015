"""Dataset-wide concept attribution: PFVs, gradient ERFs, concept vectors, GIG (paper gig)."""
