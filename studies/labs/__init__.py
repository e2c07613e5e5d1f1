"""Teaching labs: step-by-step exercises with hints and executable solutions.

    python -m infersim.studies.labs.lab1_roofline          # print the lab with hints
    python -m infersim.studies.labs.lab1_roofline --solve  # ... answers and worked whys
    python -m infersim.studies.labs.lab1_roofline --solve --plots DIR   # ... and plots
    python -m infersim.studies.labs.notebooks -o labs/     # the labs as Jupyter notebooks

Each lab module has `EXERCISES: tuple[Exercise, ...]`; each solution is a plain function that
returns its answer, so CI runs them and checks them against independently derived values.
"""

from infersim.studies.labs._lab import Exercise, main

__all__ = ["Exercise", "main"]
