"""The figures the reliability suite reports at the end of a run (pytest's terminal summary)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Figures:
    histories: Counter[str] = field(default_factory=Counter)  # by state machine
    steps: int = 0
    checks: int = 0
    faults: int = 0
    bad_inputs: int = 0
    redeliveries: int = 0
    objects_lost: int = 0

    @property
    def touched(self) -> bool:
        return bool(self.histories or self.faults or self.bad_inputs or self.checks)

    def lines(self) -> list[str]:
        by_machine = ", ".join(f"{name} {count}" for name, count in sorted(self.histories.items()))
        return [
            f"histories generated: {sum(self.histories.values())} ({by_machine})",
            f"steps: {self.steps}; oracle checks: {self.checks}; duplicate/late deliveries: {self.redeliveries}",
            f"faults injected: {self.faults}",
            f"bad inputs tried: {self.bad_inputs}",
            f"objects lost: {self.objects_lost}",
        ]


FIGURES = Figures()
