"""Import engine helpers that need no database."""

from __future__ import annotations

import gc

from app.audience.imports.engine import BULK_GC_THRESHOLD, fewer_gc_passes


def test_imports_collect_garbage_less_often_and_restore_the_thresholds_after_the_last() -> None:
    before = gc.get_threshold()
    with fewer_gc_passes():
        assert gc.get_threshold()[0] == max(before[0], BULK_GC_THRESHOLD)
        with fewer_gc_passes():  # a second import running at the same time
            pass
        assert gc.get_threshold()[0] == max(before[0], BULK_GC_THRESHOLD)
    assert gc.get_threshold() == before
