"""scikit-learn estimators: :class:`AutoencoderDetector` (an outlier detector) and
:class:`AutoencoderTransformer` (latent codes as features).

They follow scikit-learn's conventions, unlike :class:`hourglass.Detector` (PyOD's): ``__init__``
only stores its arguments, ``fit`` validates and learns, fitted state ends in ``_``; for the
detector, ``score_samples`` is higher for normal samples, ``decision_function`` is negative for
outliers and ``predict`` returns -1 for outliers and +1 for inliers, as in IsolationForest.
"""

from hourglass.estimators.base import AutoencoderBase, member_features, member_scaling, tabular_architecture
from hourglass.estimators.detector import AutoencoderDetector
from hourglass.estimators.transformer import AutoencoderTransformer

__all__ = [
    "AutoencoderBase",
    "AutoencoderDetector",
    "AutoencoderTransformer",
    "member_features",
    "member_scaling",
    "tabular_architecture",
]
