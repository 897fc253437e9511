"""minigan.nn: layers with hand-written forward and backward passes."""

from .activation import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .augment import DiffAugment
from .container import Sequential
from .conv import Conv2d, ConvTranspose2d, conv2d, conv_transpose2d
from .embed import Projection
from .layer import Layer
from .linear import Flatten, Linear, Reshape
from .loss import BCEWithLogitsLoss, SoftmaxCrossEntropyLoss, log_softmax, softmax
from .norm import BatchNorm2d, ConditionalBatchNorm2d

__all__ = [
    "Layer", "Sequential", "Conv2d", "ConvTranspose2d", "conv2d", "conv_transpose2d",
    "BatchNorm2d", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "sigmoid", "Linear", "Flatten",
    "Reshape", "BCEWithLogitsLoss", "SoftmaxCrossEntropyLoss", "log_softmax", "softmax",
    "DiffAugment", "Projection", "ConditionalBatchNorm2d",
]
