"""Shared encoders (module B, with the embedding layer E before it), by name.

``ENCODERS.get(name)`` returns the encoder class; see :mod:`mtlzoo.encoders.base`.
"""

from mtlzoo.encoders.base import Encoder
from mtlzoo.encoders.bert import BertEncoder
from mtlzoo.encoders.image_cnn import ImageCNNEncoder
from mtlzoo.encoders.mlp import MLPEncoder
from mtlzoo.encoders.text import LSTMEncoder, TaggerEncoder, TextCNNEncoder, TextMLPEncoder
from mtlzoo.registry import Registry

ENCODERS = Registry("encoder")
for _cls in (MLPEncoder, TextMLPEncoder, TextCNNEncoder, LSTMEncoder, TaggerEncoder, BertEncoder, ImageCNNEncoder):
    ENCODERS.register(_cls.name)(_cls)

__all__ = ["ENCODERS", "Encoder"]
