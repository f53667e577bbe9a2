"""``python -m hourglass``: the same command line as ``hourglass``."""

from hourglass.cli import main

if __name__ == "__main__":
    main(prog_name="hourglass")
