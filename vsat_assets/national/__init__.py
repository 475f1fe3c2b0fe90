"""The national comparison stage: England and Wales, most similar groups and every force side by side,
from what each force publishes (its national extract) and nothing else. docs/national.md."""
