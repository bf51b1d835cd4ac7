"""The pure core of syncd: what the metrics mean and how Key Results are judged.

Data and time go in, results come out. Nothing here reads the clock, a file, the database or
the network: ``now`` (or ``as_of``) is always a parameter, and the application shell
(``syncd/``) computes metric values in SQL and hands them over as plain numbers and series.

Modules, in the order they build on each other:

- :mod:`rules.errors`: the error tree (one base class, caught by the shell).
- :mod:`rules.metric` and :mod:`rules.catalog`: what each metric means, its unit, direction,
  window, filters and parameters; checks of targets, filters and parameters against it.
- :mod:`rules.formulas`: the last arithmetic step of the definitions (shares, growth,
  monthly churn, coverage), shared with the SQL side.
- :mod:`rules.periods`: quarters, months, ISO weeks, trailing windows, elapsed share.
- :mod:`rules.series`: daily series, values as of a day, change over a window, contributors.
- :mod:`rules.regression`: least squares and Student-t quantiles for projections.
- :mod:`rules.targets`: a Key Result's baseline, target, trajectory and revisions.
- :mod:`rules.pace`: progress, pace, projection, status with hysteresis, one KR's evaluation.
- :mod:`rules.findings`: findings, their stable fingerprints, and muting by stale data.
- :mod:`rules.drift`: the conditions that produce findings (behind pace, projected miss,
  change over a window, threshold, stale data).
- :mod:`rules.scoring`: end-of-period OKR grades.
- :mod:`rules.plan`: "does the plan add up?", the monthly MRR model.
"""
