"""Training-side code: the morphable model, ground-truth position maps, synthetic faces,
the training loop and evaluation. Not needed to run the engine.

The face-model data it uses is derived from the Basel Face Model (BFM): non-commercial
research use only.
"""
