"""python -m tessel --cmake-dir | --include-dir | --version"""
import argparse

import tessel


def main():
    p = argparse.ArgumentParser(prog="python -m tessel")
    p.add_argument("--cmake-dir", action="store_true", help="print the folder of tesselConfig.cmake")
    p.add_argument("--include-dir", action="store_true", help="print the C++ include folder")
    p.add_argument("--version", action="store_true")
    a = p.parse_args()
    if a.cmake_dir:
        print(tessel.cmake_dir())
    elif a.include_dir:
        print(tessel.include_dir())
    else:
        print(tessel.__version__)


if __name__ == "__main__":
    main()
