"""Builds a TF Serving REST request from Fashion-MNIST test images and shows the response.

The request is what `POST /v1/models/<name>:predict` takes; the response is
computed by loading the same SavedModel with TensorFlow and calling its
`serving_default` signature (the computation TF Serving runs), written in TF
Serving's row format. kregs is not needed to run this.

Usage: python examples/serving_request.py EXPORT_VERSION_DIR [N] [request.json]
"""

import json
import sys

import numpy as np
import tensorflow as tf


def main():
    export_dir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    request_file = sys.argv[3] if len(sys.argv) > 3 else "request.json"
    from kregs.data import load_dataset  # only to read the test images

    x, y = load_dataset("fashion_mnist", validation_split=0.0).test
    images = x[:n]
    with open(request_file, "w") as f:
        json.dump({"instances": images.tolist()}, f)
    model = tf.saved_model.load(export_dir)
    out = model.signatures["serving_default"](images=tf.constant(images))
    names = [s.decode() for s in model.signatures["class_names"]()["class_names"].numpy()]
    predictions = [
        {"class_ids": int(c), "probabilities": [round(float(p), 4) for p in probs]}
        for c, probs in zip(out["class_ids"].numpy(), out["probabilities"].numpy(), strict=True)
    ]
    print(f"request: {request_file} ({n} images of {images.shape[1:]} uint8)")
    print(json.dumps({"predictions": predictions}, indent=1))
    for i, p in enumerate(predictions):
        print(f"image {i}: {names[p['class_ids']]} (true: {names[int(y[i])]})", file=sys.stderr)
    return np.array([p["class_ids"] for p in predictions])


if __name__ == "__main__":
    main()
