"""Install file for mtlzoo, a Keras 3 / TensorFlow model zoo for multi-task learning."""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    # One set that installs and imports together on Python 3.11 (checked on CPU).
    "tensorflow==2.21.0",
    "tensorflow-text==2.21.1",
    "tensorboard>=2.20",  # TensorFlow 2.21 no longer installs it; the trainer writes logs
    "keras>=3.15,<4",
    "keras-hub==0.32.0",
    "safetensors>=0.4",  # keras-hub reads transformers-format checkpoints (model.safetensors) with it
    "tensorflow-datasets==4.9.10",
    "absl-py>=2.1",
    "ml-collections==1.1.0",
    "numpy>=1.26,<3",
    "pyarrow>=15",  # the files source reads CSV for training with its streaming reader (else TensorFlow's)
    "scikit-learn>=1.5",
    "tensorflow-serving-api==2.21.0",  # PredictionLog warmup records for exports
    "matplotlib>=3.8",  # plots in reports
    "nltk>=3.8",  # reading CoNLL and other corpora
    "sympy>=1.12",  # simplifying learned formulas
    "gplearn==0.4.3",  # symbolic regression of MTL performance formulas
    "river>=0.21",  # its bundled Yeast multi-label data set
]

EXTRAS_REQUIRE = {
    "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "hypothesis>=6.100", "ruff>=0.6"],
}

setup(
    name="mtlzoo",
    version="0.1.0",
    description="Keras 3 / TensorFlow model zoo for multi-task learning",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    # mtlzoo.configs (the experiment configs) and mtlzoo.cli (the `mtlzoo` command) are packages too.
    packages=find_packages(include=["mtlzoo", "mtlzoo.*"]),
    entry_points={"console_scripts": ["mtlzoo=mtlzoo.cli:main"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    license="Apache-2.0",
)
