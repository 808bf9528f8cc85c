"""One trial: its plan (``plan``; ``suggest`` is the only place a parameter spec meets Optuna),
its execution (``runner`` over ``chain``, ``measure``; its steps are the typed records of
``steps``, its result ``outcome``), the splits it is measured on (``splits``), what it records in
the study (``record``) and the progress it reports (``progress``).
"""
