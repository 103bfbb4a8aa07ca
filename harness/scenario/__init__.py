"""The scenario file: units, fault specifications, the validated model and the YAML loader."""
