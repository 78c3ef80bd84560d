"""The image mode: MNIST-like IDX sets, folders of images or arrays as P_data, a small DCGAN, and classifier-based scores of P_G."""

from ganviz.core.mnist.data import (DatasetError, ImageDataset, bundled_path, cache_dir, load_dataset, load_images,
                                    mnist_cache_dir)
from ganviz.core.mnist.download import DownloadCancelled, DownloadError, download_mnist

__all__ = [
    "DatasetError", "ImageDataset", "bundled_path", "cache_dir", "load_dataset", "load_images", "mnist_cache_dir",
    "DownloadCancelled", "DownloadError", "download_mnist",
]
