"""`consentry demo`: the policy played on an embedded AWS, step by step.

The story is data (`story`: the cast, their history, the steps as triggers),
played by the `engine` through the deployed handlers, and printed by `render`
(tables, a summary, or JSON). All times come from the events (S3 `eventTime`,
EventBridge `time`): the story does not read the clock.
"""

from consentry.cli.demo.engine import Outcome, Story
from consentry.cli.demo.render import main, play
from consentry.cli.demo.story import CAST, SWEEP_STEP

__all__ = ["CAST", "SWEEP_STEP", "Outcome", "Story", "main", "play"]
