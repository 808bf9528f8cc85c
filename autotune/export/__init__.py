"""A trial's model out of the study: ``trials`` (the cache entry copied whole, with the space
that rebuilds it and task.json), ``task_file`` (task.json, checked), ``predict`` (answers with
an exported folder) and ``olive_output`` (an Olive config's output models).
"""
