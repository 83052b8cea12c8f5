"""Experiment 2: adversarial robustness of BU and TD networks (paper §4.2, appendix A.a).

- :mod:`~tdlib.robustness.model`: :class:`Classifier`, the attacked network (raw [0, 1]
  images, the training mean subtracted inside, batched, forward passes counted);
- :mod:`~tdlib.robustness.attacks`: the ten attacks with the semantics of the paper's
  foolbox 2.2.1 runs (:func:`list_attacks`, :func:`get_attack`), all batched by hand: foolbox 3
  lacks some of them, differs from fb2 in others, and evaluates every sample at every step
  in the rest; where foolbox 3 has the same attack, a test checks ours against it (each
  attack's docstring says which case it is);
- :mod:`~tdlib.robustness.evaluate`: :func:`minimal_l2` (worst case over repeats),
  :func:`accuracy_loss_curve`, :func:`summarize`;
- :mod:`~tdlib.robustness.ablation`: :func:`per_scale_ablation` (Figures 6 and 12).

Example::

    from tdlib.robustness import minimal_l2, accuracy_loss_curve
    res = minimal_l2(model, images, labels, "additive_gaussian", repeats=3)
    curve = accuracy_loss_curve(res.l2)
"""

from .ablation import feeds, per_scale_ablation
from .attacks import FAMILIES, Attack, AttackOutput, get_attack, list_attacks
from .evaluate import MinimalPerturbation, accuracy_loss_curve, loss_area, minimal_l2, robust_accuracy, summarize
from .model import Classifier, MeanSubtracted, check_images

__all__ = [
    "FAMILIES",
    "Attack",
    "AttackOutput",
    "Classifier",
    "MeanSubtracted",
    "MinimalPerturbation",
    "accuracy_loss_curve",
    "check_images",
    "feeds",
    "get_attack",
    "list_attacks",
    "loss_area",
    "minimal_l2",
    "per_scale_ablation",
    "robust_accuracy",
    "summarize",
]
