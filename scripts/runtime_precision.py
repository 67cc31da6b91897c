#!/usr/bin/env python
"""Static precision and recall over the fixtures, measured against runtime truth.

A file's truth is what running it says: its eager and jitted runs differ, reproducibly
(`agreement == "diverge"`). The static analysis predicts a file positive when it reports any
diagnosis there; a prediction is a true positive only if the runtime checker also confirms at
least one of its diagnoses (the divergence is attributed to a diagnosed site).

    precision = TP / (TP + FP)      FP: flagged, but nothing confirmed
    recall    = TP / (TP + FN)      FN: diverges, but nothing flagged

    python scripts/runtime_precision.py [PATH ...] [-j N]     (default: tests/fixtures, -j 2)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jax_purity_lint.runtime.confirm import ConfirmOptions, ConfirmReport, confirm_paths  # noqa: E402
from jax_purity_lint.runtime.verdicts import Verdict  # noqa: E402


@dataclass
class Precision:
    true_positives: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)  # flagged, no divergence confirmed
    false_negatives: list[str] = field(default_factory=list)  # divergence, nothing flagged
    undecided: list[str] = field(default_factory=list)  # runtime could not tell (eager failed, nondeterministic)
    diagnoses: int = 0
    confirmed_diagnoses: int = 0

    @property
    def precision(self) -> float:
        flagged = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        diverging = len(self.true_positives) + len(self.false_negatives)
        return len(self.true_positives) / diverging if diverging else 1.0


def measure(report: ConfirmReport) -> Precision:
    result = Precision()
    for file in report.files:
        flagged = bool(file.verdicts)
        confirmed = any(v.verdict is Verdict.CONFIRMED for v in file.verdicts)
        result.diagnoses += len(file.verdicts)
        result.confirmed_diagnoses += sum(v.verdict is Verdict.CONFIRMED for v in file.verdicts)
        if file.agreement in ("eager failed", "nondeterministic", "untraceable", "not run") or file.error:
            result.undecided.append(file.path)
            if flagged and not confirmed:
                result.false_positives.append(file.path)
            continue
        diverges = file.agreement == "diverge"
        if flagged and diverges and confirmed:
            result.true_positives.append(file.path)
        elif flagged:
            result.false_positives.append(file.path)
        elif diverges:
            result.false_negatives.append(file.path)
    return result


def render(result: Precision) -> str:
    lines = []
    for title, paths in (
        ("false positives (flagged, no divergence confirmed)", result.false_positives),
        ("false negatives (diverges, not flagged)", result.false_negatives),
        ("undecided at runtime", result.undecided),
    ):
        if paths:
            lines.append(f"{title}:")
            lines.extend(f"  {path}" for path in paths)
    diagnosis_precision = result.confirmed_diagnoses / result.diagnoses if result.diagnoses else 1.0
    lines.append(
        f"files: {len(result.true_positives)} true positives, {len(result.false_positives)} false positives, "
        f"{len(result.false_negatives)} false negatives"
    )
    lines.append(f"diagnoses confirmed: {result.confirmed_diagnoses} of {result.diagnoses} ({diagnosis_precision:.3f})")
    lines.append(f"precision: {result.precision:.3f}")
    lines.append(f"recall: {result.recall:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "tests" / "fixtures")])
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    report = confirm_paths(args.paths, ConfirmOptions(jobs=args.jobs, include_clean=True))
    print(render(measure(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
