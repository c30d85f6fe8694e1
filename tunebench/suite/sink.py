"""The driver's sink: what executors report goes into the results store as it happens.

Both a suite run and a reproduction drive executors into a store they alone write; this is the
one place that turns "study started / trial finished / study ended" into store rows and progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunebench.space import Direction
from tunebench.suite.environment import capture_environment
from tunebench.suite.progress import RunProgress
from tunebench.suite.records import StudyResult, TrialRecord, TrialSteps
from tunebench.suite.spec import study_label
from tunebench.suite.store import ResultStore

StudyKey = tuple[str, str, int]


class StoreSink:
    """Receives what executors report and writes it to ``store`` (its only writer), as it happens.

    ``directions`` (task label → direction) lets the progress bar show the best value so far;
    without it the bar counts trials only.
    """

    def __init__(self, store: ResultStore, study_ids: Mapping[StudyKey, int], progress: RunProgress,
                 directions: Mapping[str, Direction] | None = None, label_prefix: str = "") -> None:
        self.store = store
        self.study_ids = study_ids
        self.progress = progress
        self.directions = directions
        self.label_prefix = label_prefix
        self.trials_run = 0
        self.studies_run = 0
        self.failed: dict[StudyKey, str] = {}

    def study_started(self, key: StudyKey, info: dict[str, Any]) -> None:
        environment = info.pop("environment", None) or capture_environment()
        env_id = self.store.record_environment(environment)
        self.store.start_study(self.study_ids[key], info, env_id)
        self.progress.study_started(self.label_prefix + study_label(key), key, key[0])

    def trial_finished(self, key: StudyKey, record: TrialRecord) -> None:
        self.store.add_trial(self.study_ids[key], record)
        self.trials_run += 1
        if self.progress.enabled:
            direction = self.directions.get(key[0]) if self.directions else None
            value = record.value if record.status == "ok" and direction is not None else None
            self.progress.trial(key[0], value, record.status == "failed",
                                direction.better if direction is not None else None,
                                key, record.number)

    def trial_step(self, key: StudyKey, steps: TrialSteps) -> None:
        self.progress.trial_step(self.label_prefix + study_label(key), key, steps)

    def study_finished(self, key: StudyKey, result: StudyResult) -> None:
        self.store.finish_study(self.study_ids[key], result)
        self.studies_run += 1
        self.progress.study_done(key)

    def study_failed(self, key: StudyKey, error: str, trace: str) -> None:
        self.store.fail_study(self.study_ids[key], error)
        self.failed[key] = error
        self.progress.study_done(key)
