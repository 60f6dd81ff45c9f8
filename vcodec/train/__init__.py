"""Training: rate-distortion optimisation of a variable-rate model, checkpoints, export of shipped weights.

    python -m vcodec.train run --data FOLDER --out DIR [--time-budget MINUTES] ...
    python -m vcodec.train export DIR/last.pt -o vcodec/weights/vcodec-base.pt
    python -m vcodec.train report DIR

See docs/training.md.
"""
