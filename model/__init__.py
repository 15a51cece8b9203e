"""The classifier: training, evaluation, ONNX export, quantization and the inference engine.

Public API (stable)::

    from model import load_classifier
    clf = load_classifier()            # the shipped model; provider="auto"|"cuda"|"cpu"
    preds = clf.classify(["Shares plunge after profit warning"])
    preds[0].label, preds[0].probs, preds[0].score, preds[0].topics

Importing this package never imports torch or transformers (training lives in model.train/export).
"""

from model.engine import Classifier, Prediction, load_classifier

__all__ = ["Classifier", "Prediction", "load_classifier"]
