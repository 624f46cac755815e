"""carpedm20-style entry point: `python main.py --dataset anime --train` (see the README).

A shim over the package's command line (`dcgan.cli`), which the installed `dcgan` command runs
too.
"""

from dcgan.cli import console_main

if __name__ == "__main__":
    console_main()
