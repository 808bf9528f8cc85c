"""A space file read, overridden and checked against the passes, the data and the model.

``space_file.loaded_from_raw`` is the one constructor of a ``LoadedSpace`` (a file, a study's
record of one and a shared study's all go through it); ``yaml_bounded`` reads YAML with bounded
alias expansion; ``space_metrics`` refuses a metric no chain measures; ``preflight`` reads the
data and the model before a storage is touched; ``copy_space`` copies a shipped space to edit.
"""
