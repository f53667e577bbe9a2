"""Fashion-MNIST (Zalando Research, MIT licence): 70,000 28x28 grayscale garments, 10 classes."""

from hourglass.datasets.base import register_dataset
from hourglass.datasets.files import Resource
from hourglass.datasets.idx import load_idx_dataset

NAME = "fashion-mnist"
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# sha256 of the official files, as pinned by tensorflow/datasets (url_checksums/fashion_mnist.txt).
RESOURCES = {
    "train_images": Resource(
        "train-images-idx3-ubyte.gz",
        URL + "train-images-idx3-ubyte.gz",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    "train_labels": Resource(
        "train-labels-idx1-ubyte.gz",
        URL + "train-labels-idx1-ubyte.gz",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    "test_images": Resource(
        "t10k-images-idx3-ubyte.gz",
        URL + "t10k-images-idx3-ubyte.gz",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    "test_labels": Resource(
        "t10k-labels-idx1-ubyte.gz",
        URL + "t10k-labels-idx1-ubyte.gz",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@register_dataset(NAME)
def load(**fetch_kw):
    """Load Fashion-MNIST: 60,000 train and 10,000 test images, float32 (n, 1, 28, 28) in [0, 1]."""
    return load_idx_dataset(NAME, NAME, RESOURCES, CLASSES, **fetch_kw)
