"""MNIST handwritten digits (LeCun, Cortes, Burges): 70,000 28x28 grayscale digits."""

from hourglass.datasets.base import register_dataset
from hourglass.datasets.files import Resource
from hourglass.datasets.idx import load_idx_dataset

NAME = "mnist"
URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# sha256 of the files at that mirror, as pinned by tensorflow/datasets (url_checksums/mnist.txt).
RESOURCES = {
    "train_images": Resource(
        "train-images-idx3-ubyte.gz",
        URL + "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train_labels": Resource(
        "train-labels-idx1-ubyte.gz",
        URL + "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "test_images": Resource(
        "t10k-images-idx3-ubyte.gz",
        URL + "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "test_labels": Resource(
        "t10k-labels-idx1-ubyte.gz",
        URL + "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}
CLASSES = tuple(str(d) for d in range(10))


@register_dataset(NAME)
def load(**fetch_kw):
    """Load MNIST: 60,000 train and 10,000 test images, float32 (n, 1, 28, 28) in [0, 1]."""
    return load_idx_dataset(NAME, NAME, RESOURCES, CLASSES, **fetch_kw)
