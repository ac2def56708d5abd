"""TF Serving warmup requests: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays these ``PredictionLog`` records (tensorflow-serving-api protos,
in a TFRecord file) when it loads a version, so the first live request does not pay
for graph initialisation. mtlzoo writes one ``PredictRequest`` per signature with a
small batch of valid inputs.
"""

import numpy as np

WARMUP_FILE = "tf_serving_warmup_requests"


def _vocab_size(model, tokenizer):
    from mtlzoo.export.tokenizers import embedding_size

    if tokenizer is not None:
        return len(tokenizer.vocab)
    return embedding_size(model, ("embedding", "token_embedding")) or 2


def example_inputs(module, batch=3, time=8, seed=0):
    """Valid example inputs per signature of a :class:`ServingModule`: ``{signature: {input: array}}``.

    Raw-text signatures get short texts of vocabulary words (``text``), pair signatures
    ``text_a`` / ``text_b`` pairs of them. Floats are uniform in [0, 1); token ids are in [1, vocab) with padding (0) at the
    end of all rows but the first; BERT's ``padding_mask`` follows its ``token_ids``.
    """
    rng = np.random.default_rng(seed)
    vocab = _vocab_size(module.model, module.tokenizer)
    arrays = {}
    lengths = rng.integers(1, time + 1, size=batch)
    lengths[0] = time
    for name, spec in module.input_specs.items():
        shape = [batch] + [time if d is None else d for d in spec.shape[1:]]
        if spec.dtype.is_floating:
            arrays[name] = rng.random(shape).astype(spec.dtype.as_numpy_dtype)
        elif spec.dtype.is_integer and name in ("tokens", "token_ids"):
            ids = rng.integers(1, max(vocab, 2), size=shape)
            if len(shape) == 2:
                ids[np.arange(shape[1])[None, :] >= np.minimum(lengths, shape[1])[:, None]] = 0
            arrays[name] = ids.astype(spec.dtype.as_numpy_dtype)
        else:
            arrays[name] = np.zeros(shape, spec.dtype.as_numpy_dtype)
    if "padding_mask" in arrays and "token_ids" in arrays:
        arrays["padding_mask"] = (arrays["token_ids"] != 0).astype(arrays["padding_mask"].dtype)
    out = {}
    texts = np.array(module.tokenizer.sample_texts(batch, rng), dtype=object) if module.tokenizer else None
    pairs = None
    if module.pairs:
        first, second = module.tokenizer.sample_pairs(batch, rng)
        pairs = {"text_a": np.array(first, dtype=object), "text_b": np.array(second, dtype=object)}
    for sig in module.signature_names():
        mode = module.input_mode(sig)
        out[sig] = {"text": texts} if mode == "text" else dict(pairs) if mode == "pair" else dict(arrays)
    return out


def write_warmup(path, model_name, examples):
    """Writes one ``PredictionLog`` per signature to ``path``; returns the record count."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    n = 0
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in examples.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
            n += 1
    return n


def read_warmup(path):
    """The records of a warmup file as ``[(signature, {input: ndarray})]``."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    out = []
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        request = log.predict_log.request
        out.append((request.model_spec.signature_name, {k: tf.make_ndarray(v) for k, v in request.inputs.items()}))
    return out
