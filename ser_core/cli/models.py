"""``python -m ser_core models [--json]``: list the model zoo.

One row per registered model: its name, the seed and section that describe it, the feature
kind it eats, and its parameter count when built for the seed's class count. ``--json``
prints a list of objects with keys ``name``, ``seed``, ``section``, ``input``, ``classes``,
``params`` (``seed`` is the seed number, e.g. ``"000"``).
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models", help="list the model zoo (seed, input, parameter count)",
        description="List every registered model: name, seed and section, input feature "
                    "kind, and parameter count at the seed's number of classes.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_run)


def model_rows() -> list[dict]:
    """One dict per registered model (sorted by name); parameter counts without weights."""
    import torch

    from ser_core.models import count_parameters, create_model, list_models, model_class

    rows = []
    for name in list_models():
        cls = model_class(name)
        classes = int(cls.seed_num_classes)
        try:
            with torch.device("meta"):  # shapes only: no memory, no initialisation cost
                model = create_model(name, classes)
        except (RuntimeError, NotImplementedError):
            model = create_model(name, classes)
        rows.append({"name": name, "seed": cls.seed, "section": cls.section,
                     "input": cls.input_spec.feature, "classes": classes,
                     "params": count_parameters(model)})
    return rows


def _run(args) -> int:
    rows = model_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = ("model", "seed", "section", "input", "classes", "params")
    table = [(r["name"], r["seed"], r["section"], r["input"], str(r["classes"]),
              f"{r['params']:,}") for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    right = {4, 5}
    for line in [headers, tuple("-" * w for w in widths), *table]:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths))]
        print("  ".join(cells).rstrip())
    return 0
