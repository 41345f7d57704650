"""`python -m kregs ...`: the `kregs` command; `kregs tune --workers N` starts its children so."""

from kregs.cli.main import main

if __name__ == "__main__":
    main(prog_name="kregs")
