"""Small things several test modules build: one definition each."""
import torch

from iqalign.models import Preprocessing, TorchClassifier


def tiny_classifier(name: str, seed: int) -> TorchClassifier:
    """A 1000-class network of a few hundred weights, seeded: fast stand-in for a real ImageNet model."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 1000))
    return TorchClassifier(net, name, Preprocessing(input_size=64), num_classes=1000)
