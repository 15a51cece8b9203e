"""The classifier: training, evaluation, ONNX export, quantization and the inference engine.

Public API (stable)::

    from model import load_classifier
    clf = load_classifier()            # the shipped model
    preds = clf.classify(["Shares plunge after profit warning"])
    preds[0].label, preds[0].probs, preds[0].score, preds[0].topics
"""
