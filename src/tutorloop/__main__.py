"""``python -m tutorloop``: the same command line as the ``tutorloop`` script."""

from tutorloop.cli.main import main

if __name__ == "__main__":
    main()
