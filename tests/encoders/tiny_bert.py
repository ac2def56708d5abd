"""A tiny random BERT written in Hugging Face transformers format, and a numpy forward pass of it.

The weight names and shapes are transformers' ``BertModel`` ones (``nn.Linear`` weights are
``[out, in]``); the forward pass is written from the BERT paper (Devlin et al. 2019) with
keras-hub's two choices: LayerNorm epsilon 1e-12 and the tanh approximation of GELU.
"""

import json
import os

import numpy as np

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "##s",
    "a",
    "dog",
    "ran",
    "is",
    "good",
    "bad",
    "movie",
    "not",
    "very",
    ".",
    ",",
    "!",
    "?",
    "it",
    "was",
    "and",
    "he",
    "she",
    "said",
    '"',
    "'",
]
SIZES = {"vocab": len(VOCAB), "hidden": 16, "heads": 2, "inter": 32, "layers": 2, "positions": 64}


def tiny_weights(seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    h, i, v, p = sizes["hidden"], sizes["inter"], sizes["vocab"], sizes["positions"]

    def r(*shape, scale=0.2):
        return (scale * rng.normal(size=shape)).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": r(v, h),
        "embeddings.position_embeddings.weight": r(p, h),
        "embeddings.token_type_embeddings.weight": r(2, h),
        "embeddings.LayerNorm.weight": 1 + r(h, scale=0.1),
        "embeddings.LayerNorm.bias": r(h, scale=0.1),
        "pooler.dense.weight": r(h, h),
        "pooler.dense.bias": r(h, scale=0.1),
    }
    for n in range(sizes["layers"]):
        pre = f"encoder.layer.{n}."
        for name in ("query", "key", "value"):
            w[f"{pre}attention.self.{name}.weight"] = r(h, h)
            w[f"{pre}attention.self.{name}.bias"] = r(h, scale=0.1)
        w[f"{pre}attention.output.dense.weight"] = r(h, h)
        w[f"{pre}attention.output.dense.bias"] = r(h, scale=0.1)
        w[f"{pre}attention.output.LayerNorm.weight"] = 1 + r(h, scale=0.1)
        w[f"{pre}attention.output.LayerNorm.bias"] = r(h, scale=0.1)
        w[f"{pre}intermediate.dense.weight"] = r(i, h)
        w[f"{pre}intermediate.dense.bias"] = r(i, scale=0.1)
        w[f"{pre}output.dense.weight"] = r(h, i)
        w[f"{pre}output.dense.bias"] = r(h, scale=0.1)
        w[f"{pre}output.LayerNorm.weight"] = 1 + r(h, scale=0.1)
        w[f"{pre}output.LayerNorm.bias"] = r(h, scale=0.1)
    return w


def write_transformers_bert(directory, seed=0, lowercase=True, weights=True, vocab=True, layers=SIZES["layers"]):
    """Writes config.json, model.safetensors, vocab.txt and tokenizer_config.json; returns the weights.

    ``layers``: the encoder's depth (SIZES' 2 by default). One layer is the same code path at about
    half the cost of building, tracing and training the encoder: for tests of what is built around
    BERT (studies, benchmarks, exports), not of BERT itself (tests/encoders keep two layers).
    """
    from safetensors.numpy import save_file

    os.makedirs(directory, exist_ok=True)
    s = {**SIZES, "layers": layers}
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": s["vocab"],
        "hidden_size": s["hidden"],
        "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"],
        "intermediate_size": s["inter"],
        "max_position_embeddings": s["positions"],
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    w = tiny_weights(seed, s)
    if weights:
        save_file(w, os.path.join(directory, "model.safetensors"))
    if vocab:
        with open(os.path.join(directory, "vocab.txt"), "w") as f:
            f.writelines(t + "\n" for t in VOCAB)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": lowercase, "tokenizer_class": "BertTokenizer"}, f)
    return w


def _layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def numpy_bert(w, token_ids, segment_ids, padding_mask, heads=SIZES["heads"], layers=SIZES["layers"]):
    """(sequence output [b, T, h], [CLS] pooled output [b, h]) of the BERT encoder, in float64."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    t = token_ids.shape[1]
    x = (
        w["embeddings.word_embeddings.weight"][token_ids]
        + w["embeddings.position_embeddings.weight"][:t][None]
        + w["embeddings.token_type_embeddings.weight"][segment_ids]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    b, _, h = x.shape
    d = h // heads
    blocked = np.where(padding_mask[:, None, None, :] > 0, 0.0, -1e9)  # keys that are padding

    def lin(z, name):
        return z @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    for n in range(layers):
        pre = f"encoder.layer.{n}."
        q, k, v = (lin(x, f"{pre}attention.self.{m}").reshape(b, t, heads, d) for m in ("query", "key", "value"))
        scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d) + blocked
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        att = scores / scores.sum(-1, keepdims=True)
        ctx = np.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, h)
        x = _layer_norm(
            x + lin(ctx, f"{pre}attention.output.dense"),
            w[f"{pre}attention.output.LayerNorm.weight"],
            w[f"{pre}attention.output.LayerNorm.bias"],
        )
        ff = lin(_gelu_tanh(lin(x, f"{pre}intermediate.dense")), f"{pre}output.dense")
        x = _layer_norm(x + ff, w[f"{pre}output.LayerNorm.weight"], w[f"{pre}output.LayerNorm.bias"])
    pooled = np.tanh(x[:, 0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
    return x, pooled
