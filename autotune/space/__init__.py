"""The schema of a space file: what it may say, typed (pydantic), with no loading and no I/O.

``params`` (a pass parameter's spec and search values), ``metrics`` (the metric registry the task
kinds fill), ``schema`` (the sections: model, data, targets, chains, passes, objectives,
constraints, preference, evaluation, study). Loading and the checks that need the passes, the
data or the model are ``autotune.load``'s.
"""
