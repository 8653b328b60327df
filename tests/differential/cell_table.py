"""Print the cell table of the differential suite: client, server, transport → how many of its
cells are expected equal, and the known differences (``known.py``) of the others.

    PYTHONPATH=python:tests python -m differential.cell_table
"""

from __future__ import annotations

from collections import defaultdict

from . import known
from .test_other_clients import cells as other_cells
from .test_sdk_client import cells as sdk_cells

Row = tuple[str, str, str]


def table() -> dict[Row, tuple[int, dict[str, list[str]]]]:
    names = {id(v): k for k, v in vars(known).items() if isinstance(v, known.Known)}
    rows: dict[Row, tuple[int, dict[str, list[str]]]] = {}
    counts: dict[Row, int] = defaultdict(int)
    diffs: dict[Row, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for param in sdk_cells():
        server, transport, mode, scenario = param.values[0]
        row = (f"mcp-{mode}", server, transport)
        counts[row] += 1
        for entry in known.known_for("sdk", server, transport, mode, scenario):
            diffs[row][names[id(entry)]].append(scenario)
    for param in other_cells():
        server, transport, client = param.values[0]
        row = (client, server, transport)
        counts[row] += 1
        for entry in known.known_for(client, server, transport, "default", "smoke"):
            diffs[row][names[id(entry)]].append("smoke")
    for row, count in counts.items():
        rows[row] = (count, dict(diffs[row]))
    return rows


def main() -> None:
    for (client, server, transport), (count, found) in table().items():
        differing = len({s for scenarios in found.values() for s in scenarios})
        text = "; ".join(f"{name}({','.join(s)})" for name, s in found.items())
        print(
            f"{client:10} {server:10} {transport:10} {count - differing:2}/{count:2} equal  {text}"
        )


if __name__ == "__main__":
    main()
