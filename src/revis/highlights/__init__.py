"""Video highlight detection: the QVHighlights evaluation, saliency pooling, HL-CLIP fine-tuning.

- ``evaluation``: the official QVHighlights metrics (highlight detection mAP / HIT@1 at
  Fair / Good / VeryGood; moment retrieval R1@IoU and mAP@[0.5:0.95]) with input validation.
- ``pooling``: the window mean of per-clip scores (HL-CLIP's saliency pooling).
- ``hlclip``: fine-tuning a dual encoder's last layers with an MSE to normalised saliency.
"""
