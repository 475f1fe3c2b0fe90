"""The code location's definitions, one sub-package per lineage stage (raw_reports to publish).

Each stage folder holds that stage's Python: assets, checks, jobs, schedules, sensors and the
helpers only it uses; its `definitions.py` gathers them. `vsat_assets/definitions.py` merges the stages.
"""
