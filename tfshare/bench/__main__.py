"""``python -m tfshare.bench <app> [flags]``: the same as ``tfshare-bench`` (see ``tfshare.bench.cli``)."""

from tfshare.bench.cli import main

if __name__ == "__main__":
    main()
