"""What the statistics counters (alembic 0015: images.last_rating, rating_stats, score_bins) cost a writer, in the
same run with the triggers and without them (dropped), CPU time of this process.

    uv run python bench/stats_counters_cost.py [--images 20000] [--rounds 3]

A fresh project schema (Base.metadata.create_all, 0013's counters kept in both) in a temporary folder. What is
timed is what import and annotate write: image rows inserted (import), then per image one aesthetic score and one
model rating inserted (a first annotate run), then the model's score and rating deleted and inserted again (a
re-run of the model, as annotation_store.save does), then a manual rating set on 10 % of the images. Both
databases are written alternately `--rounds` times; the medians are printed.
"""

from __future__ import annotations

from trigger_cost import annotate_main

from lorairo.database import counters

if __name__ == "__main__":
    annotate_main(__doc__, counters.STATS_TRIGGERS, "the 0015 triggers")
