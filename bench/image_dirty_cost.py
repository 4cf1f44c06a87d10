"""What the figures change log (alembic 0016: image_dirty, triggers on `images` and `quality_scores`) costs a
writer, in the same run with the triggers and without them (dropped), CPU time of this process.

    uv run python bench/image_dirty_cost.py [--images 20000] [--rounds 3]

A fresh project schema (Base.metadata.create_all; every other trigger kept in both) in a temporary folder. What
is timed is what import, annotate and review write: image rows inserted (an import, batches of 100), one score
and one model rating per image (an annotate run: the rating updates `images.last_rating` through 0015's
triggers, which fires the log's image trigger), both deleted and inserted again (a re-run), a manual rating set
on 10 % of the images (review). Both databases are written alternately `--rounds` times; medians are printed.
"""

from __future__ import annotations

from trigger_cost import annotate_main

from lorairo.database import counters

if __name__ == "__main__":
    annotate_main(__doc__, counters.FIGURES_DIRTY_TRIGGERS, "0016's image_dirty")
