"""python -m tessel: the `tessel` command (tessel.cli). Also
`python -m tessel --cmake-dir | --include-dir | --version`."""
from tessel.cli import main

if __name__ == "__main__":
    main(prog_name="tessel")
