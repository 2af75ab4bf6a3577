"""Progress of long knowledge-base work (embedding, indexing, training) for people at a terminal."""
from __future__ import annotations

import sys

from knowledge.index import Progress


def progress_bars() -> Progress:
    """A tqdm bar per stage on stderr (none when stderr is not a terminal)."""
    from tqdm import tqdm

    bars = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="it", file=sys.stderr, leave=True,
                                     mininterval=0.5, disable=None)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update
