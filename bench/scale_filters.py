"""The filters bench/scale.py measures at 1M images (its generator's vocabulary: `tag 0` on about two thirds of
the images, `tag 2000` on a few hundred). Shared with bench/scale_indexes.py."""

from __future__ import annotations

import statistics

KINDS = {
    "one tag": lambda r: f'"tag {r.randint(0, 50)}"',
    "two tags": lambda r: f'"tag {r.randint(0, 300)}" "tag {r.randint(0, 30)}"',
    "three tags": lambda r: f'"tag {r.randint(0, 10)}" "tag {r.randint(0, 100)}" "tag {r.randint(0, 1000)}"',
    "or + not": lambda r: f'"tag {r.randint(0, 100)}"|"tag {r.randint(100, 2000)}" -"tag 0"',
    "not only": lambda r: f'-"tag {r.randint(0, 5)}"',
    "tag + score + rating": lambda r: f'"tag {r.randint(0, 20)}" score>=6 rating:general',
    "tag + resolution": lambda r: f'"tag {r.randint(0, 40)}" width>=1000',
    "prefix wildcard": lambda r: f'"tag {r.randint(1, 9)}*"',
}
PER_KIND = 12
# Filters of several sizes for the statistics view and the tags panel (--sql-parts filtered): a rare tag (~400
# images), ~49k, ~350k (NOT of the commonest tag), ~650k (the commonest tag).
FILTER_SIZES = ('"tag 2000"', '"tag 20"', '-"tag 0"', '"tag 0"')
# Tags with score / rating / size / aspect terms (bench/scale_indexes.py `mixedids`: the tag and image indexes).
MIXED_KINDS = {
    "tag + score + rating": KINDS["tag + score + rating"],
    "tag + resolution": KINDS["tag + resolution"],
    "tag + score": lambda r: f'"tag {r.randint(0, 20)}" score>{r.choice((2, 5, 7.5))}',
    "tag + aspect": lambda r: f'"tag {r.randint(0, 40)}" aspect:{r.choice(("square", "portrait", "landscape"))}',
    "NOT tag + rating": lambda r: f'-"tag {r.randint(0, 5)}" rating:{r.choice(("general", "explicit"))}',
    "OR + res + -rating": lambda r: f'"tag {r.randint(0, 30)}"|"tag {r.randint(30, 300)}" res>=768 -rating:explicit',
    "rare tag + score": lambda r: f'"tag {r.randint(1500, 2500)}" score>=5',
}
# The kinds answered by tag terms alone (ImageQueryService._combine_tag_terms; the in-memory tag index).
TAG_ONLY_KINDS = ("one tag", "two tags", "three tags", "or + not", "not only", "prefix wildcard")


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 / p95 / max in ms of timings in seconds."""
    values = sorted(values)
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(values[max(0, int(len(values) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
    }
