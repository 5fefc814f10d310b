"""``python -m arty`` runs the ``art`` CLI."""

from arty.cli import main

if __name__ == "__main__":
    main()
