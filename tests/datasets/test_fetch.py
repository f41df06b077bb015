import numpy as np
import pytest

from revis.datasets import fetch
from revis.datasets.cifar import write_cifar10
from revis.datasets.imageset import ImageSet


def _set(n):
    return ImageSet(np.zeros((n, 8, 8, 3), dtype=np.uint8), np.arange(n) % 2, ["a", "b"])


def test_fetch_cifar10_uses_torchvisions_downloader_and_checks_the_folder(tmp_path, monkeypatch, capsys):
    calls = []

    class FakeCIFAR10:  # stands in for the network download
        base_folder = "cifar-10-batches-py"

        def __init__(self, root, train, download):
            calls.append((root, train, download))
            write_cifar10(f"{root}/{self.base_folder}", _set(4), _set(2))

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    assert fetch.main(["cifar10", "--to", str(tmp_path / "cifar")]) == 0
    assert calls == [(str(tmp_path / "cifar"), True, True)]
    assert "dsv.data.cifar10_root" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        fetch.main(["imagenet", "--to", str(tmp_path)])
